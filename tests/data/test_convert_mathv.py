"""MATH-Vision testmini (all 304 real rows) -> verl rows."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from verl_difficulty.data import DEFAULT_SYSTEM_PROMPT, load_image, row_meta, validate_row
from verl_difficulty.data.convert import ConversionReport, read_rows
from verl_difficulty.data.converters import mathv
from verl_difficulty.data.schema import count_placeholders


@pytest.fixture(scope="module")
def rows(shared_parquets):
    return read_rows(shared_parquets["mathv"])


@pytest.fixture(scope="module")
def by_id(rows):
    return {r["extra_info"]["index"]: r for r in rows}


def user(row) -> str:
    return row["prompt"][-1]["content"]


def test_counts_and_tasks(rows, shared_data):
    n_source = sum(1 for line in (shared_data / "mathv_testmini" / "testmini.jsonl").open() if line.strip())
    assert n_source == 304 == len(rows)
    assert Counter(r["extra_info"]["task"] for r in rows) == {"choice": 191, "math": 113}
    assert Counter(row_meta(r)["layout"] for r in rows) == {"inline": 245, "composite": 59}


def test_every_row_valid_unique_one_image(rows, shared_data):
    ids = [r["extra_info"]["index"] for r in rows]
    assert len(set(ids)) == len(ids)
    for r in rows:
        assert validate_row(r) == [], r["extra_info"]["index"]
        assert r["data_source"] == "mathv" and r["extra_info"]["index"].startswith("mathv/")
        assert r["extra_info"]["split"] == "testmini"
        assert len(r["images"]) == 1 and count_placeholders(r["prompt"]) == 1
        assert r["prompt"][0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
        assert r["reward_model"]["ground_truth"] == r["extra_info"]["answer"]
        if r["extra_info"]["task"] == "choice":
            letter = r["reward_model"]["ground_truth"]
            assert len(letter) == 1 and "ABCDE".index(letter) < len(r["extra_info"]["options"])
            assert user(r).rstrip().endswith("Put only the letter of the correct option inside <answer> </answer>.")
        else:
            assert r["extra_info"]["options"] == []
            assert user(r).rstrip().endswith("Put only the final answer inside <answer> </answer>.")


def test_images_are_the_source_bytes_and_decode(rows, shared_data):
    for r in rows:
        meta = row_meta(r)
        src = shared_data / "mathv_testmini" / meta["image_file"]
        assert r["images"][0]["bytes"] == src.read_bytes()
        img = load_image(r["images"][0])
        assert img.size == (meta["width"], meta["height"]) and img.mode == "RGB"


def test_known_rows(by_id):
    r = by_id["mathv/4"]  # one <image1> tag: replaced in place
    assert r["extra_info"]["task"] == "math" and r["reward_model"]["ground_truth"] == "6"
    assert user(r) == (
        "How many different digits can you find in this picture?\n<image>\n\n"
        "Put only the final answer inside <answer> </answer>."
    )
    assert row_meta(r)["level"] == 1 and row_meta(r)["subject"] == "counting"
    assert (row_meta(r)["width"], row_meta(r)["height"]) == (304, 290)

    r = by_id["mathv/6"]  # options are only letters: the choices are drawn in the image
    assert r["extra_info"]["task"] == "choice" and r["reward_model"]["ground_truth"] == "D"
    assert "Options: A, B, C, D, E (labelled in the image)." in user(r)

    r = by_id["mathv/292"]  # LaTeX options listed with letters
    assert r["reward_model"]["ground_truth"] == "B"
    assert "\nB. $60 \\mathrm{~cm}^{2}$\n" in user(r)

    r = by_id["mathv/2955"]
    assert (r["extra_info"]["task"], r["reward_model"]["ground_truth"]) == ("math", "(3,-4)")
    assert by_id["mathv/250"]["reward_model"]["ground_truth"] == "4.8"
    assert by_id["mathv/203"]["reward_model"]["ground_truth"] == "-2"


def test_composite_images_keep_panel_tags(by_id):
    # 923: <image1> twice in one sentence, one composite file labelled <image1>: / <image2>:
    r = by_id["mathv/923"]
    assert user(r).startswith("<image>\nWhen the bat Elisa") and user(r).count("<image1>") == 2
    assert r["reward_model"]["ground_truth"] == "D" and "D. 3h 41m" in user(r)
    # 2673: no tag in the question, the options are panels of the image
    r = by_id["mathv/2673"]
    assert row_meta(r)["layout"] == "composite"
    assert r["extra_info"]["options"] == [f"<image{i}>" for i in range(1, 6)]
    assert "\nA. <image1>\n" in user(r) and r["reward_model"]["ground_truth"] == "A"
    # 2659: question panel + option panels
    r = by_id["mathv/2659"]
    assert row_meta(r)["image_tags"] == [f"<image{i}>" for i in range(1, 7)]


def test_options_only_in_the_image_are_inferred(by_id):
    r = by_id["mathv/59"]  # no options field, answer "C", options (A)-(E) drawn in <image4>
    assert r["extra_info"]["task"] == "choice" and r["reward_model"]["ground_truth"] == "C"
    assert r["extra_info"]["options"] == list("ABCDE") and row_meta(r)["options_inferred"] is True


def test_limit_split_and_no_system_prompt(shared_data):
    report = ConversionReport("mathv", quiet=True)
    rows = mathv.convert(shared_data / "mathv_testmini", report=report, limit=5, split="train", system_prompt=None)
    assert report.read == 5 and len(rows) == 5
    assert all(r["extra_info"]["split"] == "train" for r in rows)
    assert all([m["role"] for m in r["prompt"]] == ["user"] for r in rows)


def test_max_pixels_downscales_large_images_only(shared_data):
    report = ConversionReport("mathv", quiet=True)
    src = shared_data / "mathv_testmini" / "testmini.jsonl"
    rows = {r["extra_info"]["index"]: r for r in mathv.convert(src, report=report, max_pixels=1_254_400)}
    assert len(rows) == 304 and not report.skipped
    big = rows["mathv/2984"]  # 2520 x 2761 source
    meta = row_meta(big)
    assert (meta["orig_width"], meta["orig_height"]) == (2520, 2761)
    img = load_image(big["images"][0])
    assert img.size == (meta["width"], meta["height"]) and img.width * img.height <= 1_254_400
    assert abs(img.width / img.height - 2520 / 2761) < 0.01
    assert big["images"][0]["bytes"][:3] == b"\xff\xd8\xff"  # JPEG stays JPEG
    small = rows["mathv/4"]  # 304 x 290: untouched
    assert small["images"][0]["bytes"] == (shared_data / "mathv_testmini/images/4.jpg").read_bytes()
    assert "orig_width" not in row_meta(small)
    for r in rows.values():
        m = row_meta(r)
        assert m["width"] * m["height"] <= 1_254_400


def test_meta_is_json_with_source_fields(by_id):
    meta = json.loads(by_id["mathv/2955"]["extra_info"]["meta"])
    assert (
        meta["source_id"] == "2955" and meta["subject"] == "analytic geometry" and "boxed{(3,-4)}" in meta["solution"]
    )
