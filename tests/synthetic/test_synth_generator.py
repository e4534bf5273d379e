"""The synthetic generator: determinism, recorded knobs, valid rows, answers the verifier accepts."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from verl_difficulty.data import validate_row
from verl_difficulty.synthetic import (
    SYNTH_TASKS,
    TASK_KNOBS,
    SynthConfig,
    SynthError,
    generate_rows,
    generate_sample,
    generate_samples,
)
from verl_difficulty.synthetic.generator import OCR_ALPHABET, sample_seed
from verl_difficulty.verify import compute_score


def _digest(image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def _score(row, response: str) -> float:
    return compute_score(row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"])["acc"]


@pytest.mark.parametrize("task", SYNTH_TASKS)
def test_same_id_and_seed_give_the_same_sample(task):
    a = generate_sample(task, "t-1", seed=3)
    b = generate_sample(task, "t-1", seed=3)
    assert _digest(a.image) == _digest(b.image)
    assert (a.question, a.answer, a.knobs) == (b.question, b.answer, b.knobs)
    # another id or another base seed gives another sample
    assert _digest(generate_sample(task, "t-2", seed=3).image) != _digest(a.image)
    assert _digest(generate_sample(task, "t-1", seed=4).image) != _digest(a.image)


def test_samples_do_not_depend_on_order_or_batch():
    batch = generate_samples(12, split="train", seed=0)
    late = generate_samples(4, split="train", seed=0, start=8)
    assert [_digest(s.image) for s in batch[8:]] == [_digest(s.image) for s in late]
    assert [s.task for s in batch[:4]] == list(SYNTH_TASKS)


def test_seed_comes_from_the_sample_id():
    from verl_difficulty.utils import stable_seed

    assert sample_seed("synth_ocr/test-000001", 0) == stable_seed("verl-difficulty-synth", 0, "synth_ocr/test-000001")


@pytest.mark.parametrize("task", SYNTH_TASKS)
def test_rows_are_valid_and_record_their_knobs(task):
    rows = generate_rows(12, tasks=[task], split="test", seed=0)
    ids = [r["extra_info"]["index"] for r in rows]
    assert len(set(ids)) == len(ids) and all(i.startswith(f"synth_{task}/test-") for i in ids)
    for row in rows:
        assert validate_row(row) == [], row["extra_info"]["index"]
        assert row["extra_info"]["task"] == task
        # the question first, then the image (image tokens can see what is asked)
        assert row["prompt"][-1]["content"].endswith("\n<image>") and row["prompt"][-1]["content"].count("<image>") == 1
        assert "<answer>" in row["prompt"][0]["content"]
        meta = json.loads(row["extra_info"]["meta"])
        assert set(meta["knobs"]) == set(TASK_KNOBS[task]) == set(meta["hardness"])
        for knob, value in meta["knobs"].items():
            easy, hard = TASK_KNOBS[task][knob]
            assert min(easy, hard) <= value <= max(easy, hard), (knob, value)
            assert 0.0 <= meta["hardness"][knob] <= 1.0
        assert meta["difficulty"] == pytest.approx(np.mean(list(meta["hardness"].values())), abs=1e-3)
        image = generate_sample(task, row["extra_info"]["index"].split("/", 1)[1], seed=0).image
        assert (meta["width"], meta["height"]) == image.size
        if task in ("counting", "grounding"):  # a one-row strip of 8 cells of 28 px (one visual token each)
            assert image.size == (224, 28)
        else:  # one text line: one row of 28-px cells, at least 4 cells (4 visual tokens)
            assert image.height == 28 and image.width % 28 == 0 and image.width >= 112
        assert meta["generator_version"] >= 1


def test_knobs_span_their_ranges_and_difficulty_range_restricts_them():
    samples = generate_samples(400, tasks=["counting"], seed=0)
    counts = {s.knobs["count"] for s in samples}
    assert counts == set(range(1, 6))
    easy = generate_samples(200, tasks=["counting"], seed=0, config=SynthConfig(difficulty=(0.0, 0.2)))
    hard = generate_samples(200, tasks=["counting"], seed=0, config=SynthConfig(difficulty=(0.8, 1.0)))
    assert max(s.difficulty for s in easy) <= 0.25 < 0.75 <= min(s.difficulty for s in hard)
    assert max(s.knobs["count"] for s in easy) <= 2 and min(s.knobs["count"] for s in hard) >= 4


def test_counting_answer_matches_the_drawn_objects():
    for i in range(40):
        s = generate_sample("counting", f"c-{i}")
        objects = s.details["objects"]
        assert s.question == f"How many {s.details['target']} shapes are there?"
        assert int(s.answer) == sum(o["colour"] == s.details["target"] for o in objects) == s.knobs["count"]
        assert len(objects) == s.knobs["count"] + s.knobs["clutter"]
        # one object per grid cell: boxes never overlap
        boxes = [o["box"] for o in objects]
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                x0, y0, x1, y1 = boxes[a]
                u0, v0, u1, v1 = boxes[b]
                assert x1 <= u0 or u1 <= x0 or y1 <= v0 or v1 <= y0
        # the think is the running tally of the asked colour, cell by cell from the left
        cells = sorted((o["box"][0] + o["box"][2]) // 2 // 28 for o in objects if o["colour"] == s.details["target"])
        assert s.think == "".join(str(sum(c <= i for c in cells)) for i in range(8))
        assert s.response() == f"<think>{s.think}</think><answer>{s.answer}</answer>"


def test_grounding_think_scans_up_to_the_target():
    for i in range(30):
        s = generate_sample("grounding", f"s-{i}")
        x0, _, x1, _ = s.details["objects"][0]["box"]
        cell = (x0 + x1) // 2 // 28
        assert s.think == "0" * cell + "1"


def test_grounding_box_is_the_target_shape():
    for i in range(30):
        s = generate_sample("grounding", f"g-{i}")
        (box,) = json.loads(s.answer)
        x0, y0, x1, y1 = box
        assert x1 - x0 == y1 - y0 == s.knobs["size"]
        assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 28
        colour, kind = s.details["target"].split()
        others = [o for o in s.details["objects"][1:]]
        assert s.question == f"Where is the {colour} {kind}?"
        assert all(o["colour"] != colour for o in others)  # the only shape of its colour: one right box
        # the box holds the drawn shape: its pixels differ from the plain background there
        from verl_difficulty.synthetic.generator import background

        crop = np.asarray(s.image.crop(box)).astype(int)
        plain = np.asarray(background(224, 28).crop(box)).astype(int)
        assert (np.abs(crop - plain).sum(-1) > 30).mean() > 0.2


def test_ocr_and_math_texts():
    for i in range(30):
        s = generate_sample("ocr", f"o-{i}")
        assert len(s.answer) == s.knobs["count"] and set(s.answer) <= set(OCR_ALPHABET)
        m = generate_sample("math", f"m-{i}")
        expr = m.details["expression"]
        assert len(expr) == 2 * m.knobs["count"] - 1
        value = int(expr[0])
        steps = []
        for op, v in zip(expr[1::2], expr[2::2]):
            new = value + int(v) if op == "+" else value - int(v)
            steps.append(f"{value}{op}{v}={new}")
            value = new
        assert int(m.answer) == value
        assert m.think == ",".join(steps)
        assert m.response() == f"<think>{m.think}</think><answer>{m.answer}</answer>"


@pytest.mark.parametrize("task", SYNTH_TASKS)
def test_the_verifier_accepts_the_truth_and_rejects_wrong_answers(task):
    rows = generate_rows(16, tasks=[task], split="test", seed=1)
    samples = generate_samples(16, tasks=[task], split="test", seed=1)
    for row, s in zip(rows, samples):
        assert _score(row, s.response()) == 1.0, (row["extra_info"]["index"], s.response())
        assert _score(row, f"<think>looking</think>{s.response()}") == 1.0
        if task in ("counting", "math"):
            wrong = str(int(s.answer) + 1)
        elif task == "ocr":
            wrong = s.answer[:-1] + ("A" if s.answer[-1] != "A" else "C")
        else:
            x0, y0, x1, y1 = json.loads(s.answer)[0]
            shift = x1 - x0  # moved by its own width: IoU 0
            wrong = f"[{x0 + shift},{y0},{x1 + shift},{y1}]"
        assert _score(row, f"<answer>{wrong}</answer>") == 0.0, (task, wrong)
        assert _score(row, "<answer></answer>") == 0.0


def test_grounding_accepts_a_nearby_box_and_rejects_a_far_one():
    row = generate_rows(1, tasks=["grounding"], split="test", seed=0)[0]
    x0, y0, x1, y1 = json.loads(row["reward_model"]["ground_truth"])[0]
    assert _score(row, f"<answer>[{x0 + 2}, {y0 + 1}, {x1 + 2}, {y1}]</answer>") == 1.0  # IoU > 0.5
    assert _score(row, f"<answer>[{x0}, {y0}, {x0 + 3}, {y0 + 3}]</answer>") == 0.0  # far too small


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 100}, "image_size"),
        ({"difficulty": (0.5, 0.2)}, "difficulty"),
        ({"knobs": {"counting": {"count": [1, 20]}}}, "strip"),
        ({"strip": 1}, "strip"),
        ({"knobs": {"counting": {"speed": [1, 2]}}}, "unknown knob"),
        ({"knobs": {"chess": {}}}, "unknown task"),
        ({"knobs": {"grounding": {"size": [30, 12]}}}, "size"),
        ({"knobs": {"ocr": {"size": [30, 12]}}}, "size"),
        ({"knobs": {"math": {"count": [1, 3]}}}, "math.count"),
    ],
)
def test_bad_settings_name_the_option(kwargs, match):
    with pytest.raises(SynthError, match=match):
        SynthConfig(**kwargs)


def test_unknown_task_is_refused():
    with pytest.raises(SynthError, match="task"):
        generate_sample("captioning", "x")
    with pytest.raises(SynthError, match="tasks"):
        generate_rows(3, tasks="counting,chess")


def test_background_tint_encodes_the_cell():
    """The background tint steps from cell to cell: red grows to the right, blue grows downwards, constant inside
    a cell (where a patch is shows in its pixels)."""
    from verl_difficulty.synthetic.generator import TINT_RANGE, background

    strip = np.asarray(background(224, 28)).astype(int)
    reds = [strip[14, 28 * c + 14, 0] for c in range(8)]
    assert all(d > 0 for d in np.diff(reds)) and reds[-1] - reds[0] >= TINT_RANGE - 1
    assert strip[1, 1, 0] == strip[26, 26, 0]  # one colour per cell
    square = np.asarray(background(112)).astype(int)
    blues = [square[28 * r + 14, 56, 2] for r in range(4)]
    assert all(d > 0 for d in np.diff(blues))
    assert len({tuple(square[28 * r + 14, 28 * c + 14]) for r in range(4) for c in range(4)}) == 16


def test_shapes_sit_near_their_cell_centres():
    from verl_difficulty.synthetic.generator import JITTER

    for i in range(30):
        s = generate_sample("grounding", f"j-{i}")
        for o in s.details["objects"]:
            x0, y0, x1, y1 = o["box"]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            assert abs(cx % 28 - 14) <= JITTER + 0.5 and abs(cy % 28 - 14) <= JITTER + 0.5, o


def test_larger_images_keep_knobs_in_range():
    config = SynthConfig(image_size=168, grid=6, strip=14, knobs={"counting": {"count": [1, 11]}})
    s = generate_sample("counting", "big", config=config)
    assert s.image.size == (14 * 28, 28) and 1 <= s.knobs["count"] <= 11
