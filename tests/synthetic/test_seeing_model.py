"""The seeing model: it loads like a checkpoint, answers in the verifier's format, sees the image, fails as
masks hide the image and as the difficulty knobs rise (what PISM relies on), and is trained deterministically.

The session fixture ``seeing_model_dir`` (tests/conftest.py) trains the default model once per cache key; its
``eval.json`` holds the held-out evaluation computed when it was built (100 samples per task, masks on 30 per
task). The tests below also re-evaluate it on samples it has never seen (ids ``check-…``).
"""

from __future__ import annotations

import json
import math

import pytest

from verl_difficulty.synthetic import SYNTH_TASKS, generate_rows
from verl_difficulty.synthetic.evaluate import generate, judge

#: What a model that ignores the image can score, per task, at most (the stored report measures it too:
#: the most frequent training answer judged on the held-out rows). Counting: the most frequent count of 1..5
#: (~0.2); ocr: one character of 14 (1/14 of the one-character rows); grounding: a constant box hits when the
#: target sits in that one of the 8 cells and is about that size (~1/8); math: the most frequent value
#: (sums of 2-3 digits 0..5, ~0.1).
CHANCE_CEILING = {"counting": 0.25, "ocr": 0.05, "grounding": 0.2, "math": 0.12}


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.fixture(scope="module")
def report(seeing_model_dir):
    return json.loads((seeing_model_dir / "eval.json").read_text())


@pytest.fixture(scope="module")
def loaded(seeing_model_dir):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(1)
    processor = AutoProcessor.from_pretrained(seeing_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(seeing_model_dir).eval()
    return model, processor


def test_folder_is_a_checkpoint_with_its_report(seeing_model_dir, loaded, report):
    model, processor = loaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    info = json.loads((seeing_model_dir / "seeing_model.json").read_text())
    assert info["key"] == seeing_model_dir.name
    assert info["final_loss"] < info["losses"][0] / 5
    assert set(report["accuracy"]) == {*SYNTH_TASKS, "all"}
    assert report["n_per_task"] >= 100


@pytest.fixture(scope="module")
def fresh(loaded):
    """Greedy answers to 60 never-seen rows per task (ids check-…), through the chat template and generate."""
    model, processor = loaded
    rows = generate_rows(60 * len(SYNTH_TASKS), split="check", seed=0)
    responses = generate(model, processor, rows, batch_size=32)
    return rows, responses, judge(rows, responses)


def test_answers_use_the_answer_tags(fresh):
    rows, responses, _ = fresh
    tagged = sum("<answer>" in r and "</answer>" in r for r in responses)
    assert tagged >= 0.95 * len(responses), [r for r in responses if "</answer>" not in r][:5]
    # counting, grounding and math think first (a tally, a scan, worked steps); ocr answers directly
    thinking = [resp for row, resp in zip(rows, responses) if row["extra_info"]["task"] != "ocr"]
    assert sum(r.startswith("<think>") and "</think><answer>" in r for r in thinking) >= 0.9 * len(thinking)


@pytest.mark.parametrize("task", SYNTH_TASKS)
def test_better_than_chance_on_held_out_rows(task, report, fresh):
    # the stored report: 100 held-out rows per task, and the image-blind baseline measured on them
    acc, n = report["accuracy"][task]["acc"], report["accuracy"][task]["n"]
    chance = report["chance"][task]["acc"]
    assert chance <= CHANCE_CEILING[task], report["chance"][task]
    # clearly better: 15 points above the image-blind baseline measured on the same rows, and a blind guesser
    # would reach this accuracy less than 1 time in 1000
    assert acc >= chance + 0.15, (task, acc, chance)
    assert _binomial_tail(round(acc * n), n, chance) < 1e-3, (task, acc, chance)
    # and again on 60 rows the build never evaluated
    rows, _, correct = fresh
    mine = [ok for row, ok in zip(rows, correct) if row["extra_info"]["task"] == task]
    assert _binomial_tail(sum(mine), len(mine), chance) < 0.01, (task, sum(mine), len(mine), chance)


def test_batched_generation_matches_one_by_one(loaded, fresh):
    model, processor = loaded
    rows, responses, _ = fresh
    picks = [0, 1, 2, 3, 61, 126]  # every task, with different prompt and image sizes in one batch
    single = [generate(model, processor, [rows[i]], batch_size=1)[0] for i in picks]
    assert single == [responses[i] for i in picks]


def test_accuracy_falls_as_masks_hide_the_image(report):
    curve = report["by_mask_ratio"]["all"]
    ratios = sorted(curve, key=float)
    acc = [curve[r]["acc"] for r in ratios]
    assert acc[0] >= 0.3, acc
    assert acc[0] - sum(acc[-3:]) / 3 >= 0.2, acc  # the last ratios (0.7-0.9) hide most objects
    # a downward trend: most steps do not go up by more than noise, and the halves are ordered
    assert sum(acc[: len(acc) // 2]) > sum(acc[len(acc) // 2 :]) + 0.3, acc
    for task in SYNTH_TASKS:
        per_task = report["by_mask_ratio"][task]
        assert per_task["0.0"]["acc"] > per_task["0.9"]["acc"], (task, per_task)


def test_accuracy_falls_as_difficulty_rises(report):
    bins = report["by_difficulty"]["all"]
    assert bins["easy"]["acc"] > bins["mid"]["acc"] > bins["hard"]["acc"], bins
    assert bins["easy"]["acc"] - bins["hard"]["acc"] >= 0.15, bins


@pytest.mark.parametrize(
    "task, knob",
    # per task the knob with the largest designed effect; the others are weaker, and counting's `count` runs
    # the other way (see docs/synthetic.md)
    [("counting", "clutter"), ("grounding", "clutter"), ("ocr", "size"), ("math", "size")],
)
def test_accuracy_falls_as_a_knob_rises(report, task, knob):
    bins = report["by_knob"][task][knob]
    assert bins["easy"]["acc"] >= bins["hard"]["acc"] + 0.05, (task, knob, bins)


def test_knob_tables_cover_every_knob(report):
    from verl_difficulty.synthetic import TASK_KNOBS

    for task in SYNTH_TASKS:
        assert set(report["by_knob"][task]) == set(TASK_KNOBS[task])
        for knob, bins in report["by_knob"][task].items():
            assert sum(b["n"] for b in bins.values()) == report["accuracy"][task]["n"], (task, knob)


def test_scorer_style_generation_on_masked_images(loaded):
    """The PISM operator on a row's image and generation with a scorer's request shape (messages + images)."""
    from verl_difficulty.data.images import load_image
    from verl_difficulty.scorers.masks import apply_mask, mask_seed

    model, processor = loaded
    row = generate_rows(1, tasks=["counting"], split="check", seed=0)[0]
    image = load_image(row["images"][0])
    masked = apply_mask(image, 0.9, mode="rectangle", seed=mask_seed(row["extra_info"]["index"], 0.9, 0))
    out = generate(model, processor, [row, row], [image, masked], batch_size=2)
    assert all("<answer>" in o for o in out)
