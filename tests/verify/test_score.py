"""``compute_score``: dispatch, settings, output keys, and loading it the ways verl does."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from omegaconf import OmegaConf

import verl_difficulty.verify.score as score_module
from verl_difficulty.verify import RESULT_KEYS, VerifySettings, compute_score, infer_task

GOOD = "<think>2 + 2 = 4</think><answer>4</answer>"

SAMPLES = [
    ("geo3k", "<think>t</think><answer>5\\sqrt{3}</answer>", "5 \\sqrt { 3 }", {"task": "math"}),
    ("mathv", "<think>t</think><answer>(C)</answer>", "C", {"task": "choice", "options": ["1", "2", "3"]}),
    ("ocr_words", "<think>t</think><answer>GRAND</answer>", "GRAND", {"task": "ocr"}),
    ("count", "<think>t</think><answer>3</answer>", "3", {"task": "counting"}),
    ("icdar", "<think>t</think><answer>[[0,0,10,10]]</answer>", "[[0, 0, 10, 10]]", {"task": "grounding"}),
]


@pytest.mark.parametrize("data_source, response, gt, info", SAMPLES)
def test_same_numeric_keys_for_every_task(data_source, response, gt, info):
    for resp in (response, "", "garbage \\boxed{", None):
        out = compute_score(data_source, resp, gt, info)
        assert tuple(out) == RESULT_KEYS
        assert all(isinstance(v, float) for v in out.values())
    out = compute_score(data_source, response, gt, info)
    assert (out["score"], out["acc"], out["format"], out["extracted"], out["error"]) == (1.0, 1.0, 1.0, 1.0, 0.0)


def test_weights_are_settings():
    wrong_but_formatted = "<think>t</think><answer>5</answer>"
    assert compute_score("math", wrong_but_formatted, "4", {"task": "math"})["score"] == 0.0
    out = compute_score("math", wrong_but_formatted, "4", {"task": "math"}, acc_weight=0.9, format_weight=0.1)
    assert out["score"] == pytest.approx(0.1) and out["acc"] == 0.0 and out["format"] == 1.0
    out = compute_score("math", GOOD, "4", {"task": "math"}, acc_weight="0.9", format_weight="0.1")
    assert out["score"] == pytest.approx(1.0)


def test_bad_settings_are_loud_and_unknown_kwargs_are_ignored():
    with pytest.raises(ValueError):
        compute_score("math", GOOD, "4", None, grounding_reward="banana")
    with pytest.raises(ValueError):
        compute_score("math", GOOD, "4", None, iou_threshold=2)
    out = compute_score("math", GOOD, "4", None, reward_router_address=None, reward_model_tokenizer=None)
    assert out["acc"] == 1.0
    assert VerifySettings.from_kwargs({"ocr_lenient": "true"}).ocr_lenient is True


@pytest.mark.parametrize(
    "data_source, info, task",
    [
        ("anything", {"task": "ocr"}, "ocr"),
        ("hiyouga/geometry3k", None, "math"),
        ("geo3k", {}, "math"),
        ("mathv_testmini", {"task": None}, "math"),
        ("refcocog", None, "grounding"),
        ("icdar2015_grounding", None, "grounding"),
        ("ocrbench", None, "ocr"),
        ("clevr_count", None, "counting"),
        ("my_dataset", {"ability": "counting"}, "counting"),
        ("MATH-Vision", None, "math"),
        ("democracy_ocr", None, "ocr"),
        ("democracy", {"ability": "choice"}, "choice"),  # "ocr" inside a word is not a hint
        ("my_dataset", {"ability": np.str_("ocr")}, "ocr"),
    ],
)
def test_task_inference(data_source, info, task):
    assert infer_task(data_source, info, VerifySettings()) == task


def test_unknown_task_falls_back_to_math_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger=score_module.__name__)
    for _ in range(3):
        assert compute_score("unheard_of_source", GOOD, "4")["acc"] == 1.0
    warnings = [r for r in caplog.records if "unheard_of_source" in r.getMessage()]
    assert len(warnings) == 1


def test_numpy_fields_as_verl_passes_them():
    """Parquet lists reach compute_score as numpy arrays through RLHFDataset and DataProto."""
    info = {"task": np.str_("choice"), "options": np.array(["red", "blue", "green"], dtype=object)}
    assert compute_score("x", "<answer>blue</answer>", np.str_("B"), info)["acc"] == 1.0
    boxes = np.array([[0, 0, 10, 10]])
    out = compute_score("x", "<answer>[0, 0, 10, 10]</answer>", boxes, {"task": "grounding"})
    assert out["acc"] == 1.0 and out["iou"] == 1.0


def _reward_config(path: str, **reward_kwargs):
    return OmegaConf.create(
        {"reward": {"custom_reward_function": {"path": path, "name": "compute_score", "reward_kwargs": reward_kwargs}}}
    )


@pytest.mark.parametrize("how", ["file", "pkg"])
def test_loaded_by_verl_as_custom_reward_function(how):
    """verl's own loader: file path (module re-executed under another name) and ``pkg://``."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    path = score_module.__file__ if how == "file" else "pkg://verl_difficulty.verify.score"
    fn = get_custom_reward_fn(_reward_config(path, ocr_lenient=True))
    out = fn(
        data_source="ocr",
        solution_str="<answer>It says GRAND</answer>",
        ground_truth="GRAND",
        extra_info={"task": "ocr"},
    )
    assert out["acc"] == 1.0  # reward_kwargs reached the settings
    boxes = json.dumps([[0, 0, 10, 10]])
    out = fn(data_source="icdar", solution_str="<answer>[[0,0,10,5]]</answer>", ground_truth=boxes, extra_info=None)
    assert out["iou"] == pytest.approx(0.5) and out["acc"] == 1.0
