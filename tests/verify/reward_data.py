"""Shared test inputs for the reward-manager tests: real-data samples and a verl ``DataProto`` builder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from verl import DataProto

FUSION = [[58.0, 71.0, 194.0, 123.0], [221.0, 72.0, 312.0, 118.0]]  # ICDAR img 3, "fusionopolis" twice
GEO_OPTIONS = ["5", "5 \\sqrt { 2 }", "5 \\sqrt { 3 }", "10"]

#: (data_source, ability, response, ground_truth, extra_info, expected acc, expected score)
SAMPLES = [
    ("geo3k", "math", "<think>t</think><answer>5\\sqrt{3}</answer>", "5 \\sqrt { 3 }", {"task": "math"}, 1.0, 1.0),
    ("geo3k", "math", "<think>t</think><answer>8.66</answer>", "5 \\sqrt { 3 }", {"task": "math"}, 0.0, 0.0),
    (
        "geo3k",
        "math",
        "<think>t</think><answer>5 \\sqrt{3}</answer>",
        "C",
        {"task": "choice", "options": GEO_OPTIONS},
        1.0,
        1.0,
    ),
    ("mathv_testmini", "math", "The answer is (B).", "D", {"task": "choice", "options": list("ABCDE")}, 0.0, 0.0),
    ("ocr_words", "ocr", "<think>t</think><answer>DAVIDSON</answer>", "DAVIDSON", {"task": "ocr"}, 1.0, 1.0),
    ("clevr_count", "counting", "<think>t</think><answer>twelve</answer>", "12", None, 1.0, 1.0),
    (
        "icdar2015",
        "grounding",
        "<think>t</think><answer>" + json.dumps([{"bbox_2d": FUSION[0]}]) + "</answer>",
        json.dumps(FUSION),
        {"task": "grounding"},
        0.0,
        7072 / (7072 + 4186),
    ),
    (
        "icdar2015",
        "grounding",
        "<think>t</think><answer>" + json.dumps(FUSION) + "</answer>",
        json.dumps(FUSION),
        {"task": "grounding"},
        1.0,
        1.0,
    ),
]


def make_batch(tokenizer, samples=SAMPLES, response_length: int = 256) -> DataProto:
    """A verl batch the way the rollout leaves it: left-padded prompts, right-padded responses."""
    prompts, responses = [], []
    for data_source, *_ in samples:
        prompts.append(tokenizer(f"Question from {data_source}?", add_special_tokens=False)["input_ids"])
    for _, _, response, *_ in samples:
        ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        assert len(ids) < response_length, "response too long for the test batch"
        responses.append(ids)
    prompt_length = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    p_ids = torch.full((len(samples), prompt_length), pad, dtype=torch.long)
    r_ids = torch.full((len(samples), response_length), pad, dtype=torch.long)
    mask = torch.zeros((len(samples), prompt_length + response_length), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        p_ids[i, prompt_length - len(p) :] = torch.tensor(p)
        r_ids[i, : len(r)] = torch.tensor(r)
        mask[i, prompt_length - len(p) : prompt_length + len(r)] = 1
    non_tensors = {
        "data_source": np.array([s[0] for s in samples], dtype=object),
        "ability": np.array([s[1] for s in samples], dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": s[3]} for s in samples], dtype=object),
        "extra_info": np.array([s[4] for s in samples], dtype=object),
    }
    return DataProto.from_dict(
        tensors={
            "prompts": p_ids,
            "responses": r_ids,
            "input_ids": torch.cat([p_ids, r_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors=non_tensors,
    )


def verl_config(overrides: list[str]):
    """verl 0.9.1's own ``ppo_trainer.yaml`` composed with Hydra, plus ``overrides``."""
    import verl
    from hydra import compose, initialize_config_dir

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)
