"""MMOCR word crops (ocr) and ICDAR 2015 quadrilaterals (grounding, counting) -> verl rows."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from verl_difficulty.data import load_image, row_meta, validate_row
from verl_difficulty.data.convert import ConversionReport, read_rows
from verl_difficulty.data.converters import icdar_grounding
from verl_difficulty.data.converters.icdar_grounding import parse_gt_line, quad_to_box

# --------------------------------------------------------------------------------------------------- word crops


def test_word_crops_match_labels(shared_parquets, shared_data):
    rows = read_rows(shared_parquets["mmocr_words"])
    labels = json.loads((shared_data / "ocr_mmocr/rec_words/labels.json").read_text())["data_list"]
    assert len(rows) == len(labels) == 10
    expected = {f"mmocr_words/{e['img_path'].rsplit('.', 1)[0]}": e["instances"][0]["text"] for e in labels}
    got = {r["extra_info"]["index"]: r["reward_model"]["ground_truth"] for r in rows}
    assert got == expected
    assert got["mmocr_words/1223731"] == "GRAND" and got["mmocr_words/1036169"] == "03/09/2009"
    for r in rows:
        assert validate_row(r) == [] and r["extra_info"]["task"] == "ocr"
        assert r["prompt"][-1]["content"].startswith("<image>\nWhat is the text in the image?")
        src = shared_data / "ocr_mmocr/rec_words/imgs" / row_meta(r)["image_file"]
        assert r["images"][0]["bytes"] == src.read_bytes()
        assert load_image(r["images"][0]).size == (row_meta(r)["width"], row_meta(r)["height"])


# ----------------------------------------------------------------------------------------------------- ICDAR


@pytest.fixture(scope="module")
def icdar_rows(shared_parquets):
    return {r["extra_info"]["index"]: r for r in read_rows(shared_parquets["icdar_grounding"])}


def test_icdar_counts(icdar_rows, shared_data):
    tasks = Counter(r["extra_info"]["task"] for r in icdar_rows.values())
    # 82 boxes: 61 illegible, 21 legible = 20 distinct words per image ("fusionopolis" twice in img_3)
    assert tasks == {"grounding": 20, "counting": 20}
    lines = [
        line for f in (shared_data / "ocr_mmocr/icdar2015_toy/gt").glob("*.txt") for line in f.read_text().splitlines()
    ]
    assert len(lines) == 82 and sum(line.endswith(",###") for line in lines) == 61
    # images 4 and 5 only have illegible words: no row
    assert not [i for i in icdar_rows if i.startswith(("icdar2015/img_4/", "icdar2015/img_5/"))]


def test_fusionopolis_has_both_boxes(icdar_rows):
    # gt_img_3.txt lines 1 and 6 (verified by hand):
    #   58,80,191,71,194,114,61,123,fusionopolis     -> x 58..194, y 71..123
    #   221,72,311,80,312,117,222,118,fusionopolis   -> x 221..312, y 72..118
    r = icdar_rows["icdar2015/img_3/fusionopolis"]
    assert json.loads(r["reward_model"]["ground_truth"]) == [[58, 71, 194, 123], [221, 72, 312, 118]]
    assert row_meta(r)["annotation_lines"] == [1, 6]
    assert "Where is the text 'fusionopolis' in the image?" in r["prompt"][-1]["content"]
    count = icdar_rows["icdar2015/img_3/fusionopolis/count"]
    assert count["extra_info"]["task"] == "counting" and count["reward_model"]["ground_truth"] == "2"


def test_every_grounding_row_is_valid_and_inside_the_image(icdar_rows):
    for r in icdar_rows.values():
        assert validate_row(r) == []
        if r["extra_info"]["task"] != "grounding":
            continue
        boxes = json.loads(r["reward_model"]["ground_truth"])
        w, h = load_image(r["images"][0]).size
        assert (w, h) == (1280, 720) == (row_meta(r)["width"], row_meta(r)["height"])
        for x1, y1, x2, y2 in boxes:
            assert all(isinstance(v, int) for v in (x1, y1, x2, y2))
            assert 0 <= x1 < x2 <= w - 1 and 0 <= y1 < y2 <= h - 1
    other = {
        "icdar2015/img_1/genaxis%20theatre": [[377, 117, 465, 130]],
        "icdar2015/img_8/nothing%3F": [[598, 381, 728, 420]],
        "icdar2015/img_9/stage": [[913, 515, 1081, 595]],
    }
    for sid, boxes in other.items():
        assert json.loads(icdar_rows[sid]["reward_model"]["ground_truth"]) == boxes


def test_gt_line_parsing_and_clipping():
    coords, text = parse_gt_line("1,2,3,4,5,6,7,8,Hello, world")
    assert coords == [1, 2, 3, 4, 5, 6, 7, 8] and text == "Hello, world"
    assert quad_to_box([-5, -5, 20, -5, 20, 10, -5, 10], 100, 50) == [0, 0, 20, 10]
    assert quad_to_box([1270, 700, 1300, 700, 1300, 730, 1270, 730], 1280, 720) == [1270, 700, 1279, 719]
    assert quad_to_box([2000, 10, 2100, 10, 2100, 20, 2000, 20], 1280, 720) is None
    with pytest.raises(ValueError):
        parse_gt_line("1,2,3,4,word")


@pytest.fixture
def toy_copy(shared_data, tmp_path):
    """A writable copy of two ICDAR images with hand-written annotations."""
    src = shared_data / "ocr_mmocr/icdar2015_toy"
    (tmp_path / "imgs").mkdir()
    (tmp_path / "gt").mkdir()
    for n in (2, 9):
        shutil.copyfile(src / f"imgs/img_{n}.jpg", tmp_path / f"imgs/img_{n}.jpg")
    # BOM, a repeated word in two spellings, a 2-letter word, a transcript with a comma, an illegible box
    (tmp_path / "gt/gt_img_2.txt").write_text(
        "\ufeff602,173,635,175,634,197,602,196,EXIT\n"
        "734,310,792,320,792,364,738,361,Exit\n"
        "10,10,40,10,40,30,10,30,GO\n"
        "100,100,200,100,200,120,100,120,Hello, world\n"
        "300,300,320,300,320,310,300,310,###\n",
        encoding="utf-8",
    )
    shutil.copyfile(src / "gt/gt_img_9.txt", tmp_path / "gt/gt_img_9.txt")
    return tmp_path


def _convert(path, **kw):
    report = ConversionReport("icdar", quiet=True)
    rows = icdar_grounding.convert(path, report=report, **kw)
    return {r["extra_info"]["index"]: r for r in rows}, report


def test_case_insensitive_grouping_by_default(toy_copy):
    rows, report = _convert(toy_copy)
    exit_row = rows["icdar2015/img_2/exit"]
    assert json.loads(exit_row["reward_model"]["ground_truth"]) == [[602, 173, 635, 197], [734, 310, 792, 364]]
    assert row_meta(exit_row)["spellings"] == ["EXIT", "Exit"]
    assert "'EXIT'" in exit_row["prompt"][-1]["content"]
    assert "icdar2015/img_2/go" not in rows  # shorter than --min-chars 3: noted, not skipped
    assert json.loads(rows["icdar2015/img_2/hello%2C%20world"]["reward_model"]["ground_truth"]) == [
        [100, 100, 200, 120]
    ]
    assert not report.skipped and report.notes["words shorter than --min-chars 3"] == 1
    assert report.notes["illegible boxes (###)"] == 1 + 2  # img_2 + img_9
    assert "images without an annotation file" not in report.notes
    shutil.copyfile(toy_copy / "imgs/img_2.jpg", toy_copy / "imgs/img_77.jpg")
    _, report = _convert(toy_copy)
    assert report.notes["images without an annotation file"] == 1 and not report.skipped


def test_case_sensitive_and_min_chars(toy_copy):
    rows, _ = _convert(toy_copy, case_sensitive=True, min_chars=2)
    assert json.loads(rows["icdar2015/img_2/EXIT"]["reward_model"]["ground_truth"]) == [[602, 173, 635, 197]]
    assert json.loads(rows["icdar2015/img_2/Exit"]["reward_model"]["ground_truth"]) == [[734, 310, 792, 364]]
    assert "icdar2015/img_2/GO" in rows


def test_max_pixels_scales_boxes(toy_copy):
    rows, report = _convert(toy_copy, max_pixels=640 * 360)
    r = rows["icdar2015/img_2/exit"]
    meta = row_meta(r)
    assert (meta["width"], meta["height"], meta["orig_width"], meta["orig_height"]) == (640, 360, 1280, 720)
    assert load_image(r["images"][0]).size == (640, 360)
    assert json.loads(r["reward_model"]["ground_truth"]) == [[301, 86, 318, 98], [367, 155, 396, 182]]
