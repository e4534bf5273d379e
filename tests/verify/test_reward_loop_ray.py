"""verl's ``RewardLoopManager`` with Ray reward-loop workers on CPU, using the ``difficulty`` manager."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from reward_data import SAMPLES, make_batch, verl_config

import verl_difficulty.trainer.reward_manager  # noqa: F401  (registers "difficulty" in this driver process)
from verl_difficulty.verify import RESULT_KEYS

REPO = Path(__file__).resolve().parents[2]

BOMB = ("math", "math", "<think>t</think><answer>10^{10^{10}}</answer>", "1", {"task": "math"}, 0.0, 0.0)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_reward_loop_manager_with_ray_workers(tiny_model_dir):
    ray = pytest.importorskip("ray")
    from verl.experimental.reward_loop import RewardLoopManager
    from verl.utils import hf_tokenizer

    samples = SAMPLES + [BOMB]
    batch = make_batch(hf_tokenizer(str(tiny_model_dir)), samples)
    config = verl_config(
        [
            f"actor_rollout_ref.model.path={tiny_model_dir}",
            "reward.num_workers=2",
            "reward.reward_manager.name=difficulty",
            "+reward.reward_kwargs.timeout_s=1.0",
        ]
    )
    env = {
        # Every Ray process imports this module at `import verl`, so source=register finds "difficulty" there.
        "VERL_USE_EXTERNAL_MODULES": "verl_difficulty.trainer.reward_manager",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "TOKENIZERS_PARALLELISM": "false",
        "VERL_DIFFICULTY_VERIFY_WORKERS": "1",
    }
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="ERROR")
    try:
        manager = RewardLoopManager(config)
        out = manager.compute_rm_score(batch)
    finally:
        ray.shutdown()

    assert out.meta_info["reward_extra_keys"] == list(RESULT_KEYS)
    np.testing.assert_array_equal(out.non_tensor_batch["acc"], [s[5] for s in samples])
    np.testing.assert_array_equal(out.non_tensor_batch["timeout"], [0.0] * len(SAMPLES) + [1.0])
    rm_scores = out.batch["rm_scores"]
    prompt_length = batch.batch["prompts"].shape[1]
    last = batch.batch["attention_mask"][:, prompt_length:].sum(dim=1) - 1
    for i, sample in enumerate(samples):
        assert rm_scores[i, last[i]].item() == pytest.approx(sample[6], abs=1e-6), sample[0]
        assert rm_scores[i].sum().item() == pytest.approx(sample[6], abs=1e-6)  # only at the last token
