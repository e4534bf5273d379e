"""Geometry3K raw annotations (the 10 real problems) -> verl rows."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from verl_difficulty.data import load_image, open_image, row_meta, validate_row
from verl_difficulty.data.convert import read_rows


@pytest.fixture(scope="module")
def choice_rows(shared_parquets):
    return {r["extra_info"]["index"]: r for r in read_rows(shared_parquets["geo3k"])}


@pytest.fixture(scope="module")
def free_rows(shared_parquets):
    return {r["extra_info"]["index"]: r for r in read_rows(shared_parquets["geo3k_free"])}


def test_all_problems_converted(choice_rows, free_rows, shared_data):
    problem_ids = sorted(p.name for p in (shared_data / "geo3k_examples").iterdir() if p.is_dir())
    assert sorted(choice_rows) == sorted(f"geo3k/{i}" for i in problem_ids)
    assert sorted(free_rows) == sorted(f"geo3k/{i}/free" for i in problem_ids)
    for r in [*choice_rows.values(), *free_rows.values()]:
        assert validate_row(r) == []
        assert r["extra_info"]["split"] == "train"  # data_type of these problems
        assert r["prompt"][-1]["content"].startswith("<image>\n")


def test_choice_mode_matches_annotation(choice_rows, shared_data):
    for sid, r in choice_rows.items():
        data = json.loads((shared_data / "geo3k_examples" / sid.split("/")[1] / "data.json").read_text())
        assert r["extra_info"]["task"] == "choice"
        assert r["reward_model"]["ground_truth"] == data["answer"]
        assert r["extra_info"]["options"] == data["choices"]
        assert r["extra_info"]["question"] == data["problem_text"]
    r = choice_rows["geo3k/15"]  # checked by hand: "Find y.", answer C = 5 \sqrt { 3 }
    assert r["reward_model"]["ground_truth"] == "C"
    assert "Find y.\n\nOptions:\nA. 5\nB. 5 \\sqrt { 2 }\nC. 5 \\sqrt { 3 }\nD. 10\n" in r["prompt"][-1]["content"]


def test_free_form_keeps_spaced_latex(free_rows):
    r = free_rows["geo3k/15/free"]
    assert r["extra_info"]["task"] == "math" and r["extra_info"]["options"] == []
    assert r["reward_model"]["ground_truth"] == "5 \\sqrt { 3 }"
    assert row_meta(r)["answer_value"] == pytest.approx(8.660254037844386)
    assert "Options" not in r["prompt"][-1]["content"]
    assert free_rows["geo3k/11/free"]["reward_model"]["ground_truth"] == "80"
    assert free_rows["geo3k/19/free"]["reward_model"]["ground_truth"] == "\\frac { 2 \\sqrt { 2 } } { 5 }"


def test_rgba_png_bytes_kept_and_decode(choice_rows, shared_data):
    for sid, r in choice_rows.items():
        src = shared_data / "geo3k_examples" / sid.split("/")[1] / "img_diagram.png"
        assert r["images"][0]["bytes"] == src.read_bytes()
        raw = open_image(r["images"][0])
        assert raw.mode == "RGBA" and raw.format == "PNG"
        rgb = load_image(r["images"][0])
        assert rgb.mode == "RGB" and rgb.size == (row_meta(r)["width"], row_meta(r)["height"])
        with Image.open(src) as ref:
            assert rgb.size == ref.size
