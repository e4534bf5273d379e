"""The paper's ms-swift jsonl -> verl rows, on a fixture built from real MATH-V rows and images."""

from __future__ import annotations

import base64
import json
import shutil

import pytest

from verl_difficulty.data import DEFAULT_SYSTEM_PROMPT, load_image, row_meta, validate_row
from verl_difficulty.data.convert import ConversionReport
from verl_difficulty.data.converters import swift_jsonl
from verl_difficulty.data.converters.swift_jsonl import infer_task, parse_boxes, parse_options, unwrap_solution
from verl_difficulty.data.schema import count_placeholders


def _mathv(shared_data, sid):
    for line in (shared_data / "mathv_testmini/testmini.jsonl").open():
        r = json.loads(line)
        if r["id"] == sid:
            return r
    raise KeyError(sid)


@pytest.fixture
def swift_file(shared_data, tmp_path):
    """A paper-format jsonl over real MATH-V records, exercising every image form and task rule."""
    src = shared_data / "mathv_testmini"
    (tmp_path / "imgs").mkdir()
    for sid in ("4", "5", "222", "250"):
        shutil.copyfile(src / f"images/{sid}.jpg", tmp_path / f"imgs/{sid}.jpg")
    q = {sid: _mathv(shared_data, sid) for sid in ("4", "5", "222", "250", "923")}
    opts222 = "\n".join(f"{'ABCDE'[i]}. {o}" for i, o in enumerate(q["222"]["options"]))
    opts923 = "\n".join(f"({'ABCDE'[i]}) {o}" for i, o in enumerate(q["923"]["options"]))
    records = [
        {  # relative path, "How many" + integer -> counting
            "id": "m4",
            "images": ["imgs/4.jpg"],
            "messages": [{"role": "user", "content": q["4"]["question"].replace("<image1>", "<image>")}],
            "solution": "<answer>6</answer>",
        },
        {  # absolute path, decimal -> math; the assistant turn is the SFT target
            "id": "m250",
            "images": [str(tmp_path / "imgs/250.jpg")],
            "messages": [
                {"role": "user", "content": "<image>" + q["250"]["question"].replace("<image1>", "")},
                {"role": "assistant", "content": "<think>r = 120/25</think><answer>4.8</answer>"},
            ],
            "solution": "<think>...</think> <answer> 4.8 </answer>",
        },
        {  # option lines + letter -> choice; the record's system message is kept
            "id": "m222",
            "images": [{"path": "imgs/222.jpg"}],
            "messages": [
                {"role": "system", "content": "Answer with one letter."},
                {"role": "user", "content": "<image>\n" + q["222"]["question"] + "\n" + opts222},
            ],
            "solution": "D",
        },
        {  # no placeholder: one is added; integer answer but not a "how many" question -> math
            "images": ["imgs/5.jpg"],
            "messages": [{"role": "user", "content": q["5"]["question"].replace("<image1>", "").strip()}],
            "solution": "61",
        },
        {  # base64 data URI, "(A) ..." option lines, "(D)" answer
            "id": "m923",
            "images": [
                "data:image/jpeg;base64," + base64.b64encode((src / "images/923.jpg").read_bytes()).decode("ascii")
            ],
            "messages": [{"role": "user", "content": "<image>" + q["923"]["question"] + "\n" + opts923}],
            "solution": "(D)",
        },
        {  # explicit task field and boxes
            "id": "box",
            "images": ["imgs/4.jpg"],
            "messages": [{"role": "user", "content": "<image>Where is the cat's left ear?"}],
            "solution": [{"bbox_2d": [90, 20, 130, 60], "label": "ear"}],
            "difficulty": "hard",
        },
    ]
    path = tmp_path / "fixture.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _convert(path, **kw):
    report = ConversionReport("swift", quiet=True)
    rows = swift_jsonl.convert(path, report=report, **kw)
    return {r["extra_info"]["index"]: r for r in rows}, report


def test_fixture_converts(swift_file, shared_data):
    rows, report = _convert(swift_file)
    assert report.read == 6 and not report.skipped and len(rows) == 6
    assert set(rows) == {f"fixture/{i}" for i in ("m4", "m250", "m222", "line4", "m923", "box")}
    for r in rows.values():
        assert validate_row(r) == [] and count_placeholders(r["prompt"]) == len(r["images"]) == 1
        assert r["prompt"][-1]["role"] == "user"
        load_image(r["images"][0])

    expect = {
        "m4": ("counting", "6"),
        "m250": ("math", "4.8"),
        "m222": ("choice", "D"),
        "line4": ("math", "61"),
        "m923": ("choice", "D"),
        "box": ("grounding", "[[90, 20, 130, 60]]"),
    }
    for sid, (task, truth) in expect.items():
        r = rows[f"fixture/{sid}"]
        assert (r["extra_info"]["task"], r["reward_model"]["ground_truth"]) == (task, truth), sid

    m250 = rows["fixture/m250"]
    assert [m["role"] for m in m250["prompt"]] == ["system", "user"]
    assert m250["prompt"][0]["content"] == DEFAULT_SYSTEM_PROMPT
    assert row_meta(m250)["sft_response"] == "<think>r = 120/25</think><answer>4.8</answer>"
    assert "4.8" not in m250["prompt"][-1]["content"]
    assert m250["images"][0]["bytes"] == (shared_data / "mathv_testmini/images/250.jpg").read_bytes()

    m222 = rows["fixture/m222"]
    assert m222["prompt"][0] == {"role": "system", "content": "Answer with one letter."}
    assert m222["extra_info"]["options"] == ["I", "II", "III", "IV", "none of them"]

    line4 = rows["fixture/line4"]
    assert line4["prompt"][-1]["content"].startswith("<image>\nWhich number") and row_meta(line4)["placeholders_added"]

    m923 = rows["fixture/m923"]
    assert m923["images"][0]["bytes"] == (shared_data / "mathv_testmini/images/923.jpg").read_bytes()
    assert m923["extra_info"]["options"][3] == "3h 41m"

    box = rows["fixture/box"]
    assert row_meta(box)["task_from"] == "inferred" and row_meta(box)["record_fields"] == {"difficulty": "hard"}


def test_task_flag_data_source_and_no_system(swift_file):
    rows, report = _convert(swift_file, task="math", data_source="vrt", system_prompt=None)
    assert not report.skipped
    assert {r["extra_info"]["task"] for r in rows.values()} == {"math"}
    assert all(i.startswith("vrt/") for i in rows)
    assert rows["vrt/m222"]["prompt"][0]["role"] == "system"  # the record's own system message stays
    assert [m["role"] for m in rows["vrt/m4"]["prompt"]] == ["user"]


def test_grounding_boxes_follow_max_pixels(swift_file):
    rows, _ = _convert(swift_file, max_pixels=152 * 145)  # image 4.jpg is 304 x 290: halved
    box = rows["fixture/box"]
    assert row_meta(box)["image_sizes"] == [{"width": 152, "height": 145, "orig_width": 304, "orig_height": 290}]
    assert json.loads(box["reward_model"]["ground_truth"]) == [[45, 10, 65, 30]]


def test_helpers():
    assert unwrap_solution("<think>x</think><answer> B </answer>") == "B"
    assert unwrap_solution([[1, 2, 3, 4]]) == "[[1, 2, 3, 4]]"
    assert parse_boxes("[1, 2, 3, 4]") == [[1, 2, 3, 4]]
    assert parse_boxes('{"bbox_2d": [1.5, 2, 3, 4]}') == [[1.5, 2, 3, 4]]
    assert parse_boxes("[1, 2, 3]") is None and parse_boxes("12") is None and parse_boxes("x") is None
    assert parse_options("Q?\nA. one\nB. two\nC. three\nthen") == ["one", "two", "three"]
    assert parse_options("Q?\nB. two\nC. three") == []
    assert infer_task("3", "How many cubes?", []) == "counting"
    assert infer_task("3", "Find x.", []) == "math"
    assert infer_task("B", "Which?", ["a", "b"]) == "choice"
    assert infer_task("B", "Which?", []) == "math"
