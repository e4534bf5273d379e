"""The ``difficulty`` reward manager through verl's real path: ``load_reward_manager`` + ``run_single``."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util

import pytest
from reward_data import SAMPLES, make_batch, verl_config

import verl_difficulty.trainer.reward_manager as rm_module
from verl_difficulty.trainer.reward_manager import NAME, DifficultyRewardManager, register_reward_manager
from verl_difficulty.verify import RESULT_KEYS


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from verl.utils import hf_tokenizer

    return hf_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def batch(tokenizer):
    return make_batch(tokenizer)


def _run_all(manager, batch):
    async def go():
        return await asyncio.gather(*(manager.run_single(batch[i : i + 1]) for i in range(len(batch))))

    return asyncio.run(go())


def _check_outputs(outputs):
    for out, sample in zip(outputs, SAMPLES):
        info = out["reward_extra_info"]
        assert tuple(info) == RESULT_KEYS, sample[0]
        assert info["acc"] == sample[5], sample
        assert out["reward_score"] == pytest.approx(sample[6]), sample


def test_registered_manager_through_load_reward_manager(tokenizer, batch):
    from verl.trainer.ppo.reward import load_reward_manager

    config = verl_config(["reward.reward_manager.name=difficulty"])
    manager = load_reward_manager(config, tokenizer)
    assert type(manager) is DifficultyRewardManager
    assert manager.custom_compute_score is None  # verl's default router was replaced by our checker
    _check_outputs(_run_all(manager, batch))


def test_decoded_text_is_what_gets_judged(tokenizer, batch):
    """The tokenizer round trip keeps the answer tags (format is judged on the decoded text)."""
    from verl.trainer.ppo.reward import load_reward_manager

    manager = load_reward_manager(verl_config(["reward.reward_manager.name=difficulty"]), tokenizer)
    outputs = _run_all(manager, batch)
    assert [o["reward_extra_info"]["format"] for o in outputs] == [
        0.0 if s[2].startswith("The answer") else 1.0 for s in SAMPLES
    ]


@pytest.mark.parametrize("path", ["file", "pkg"])
def test_importlib_source(tokenizer, batch, path):
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.reward import load_reward_manager

    module_path = rm_module.__file__ if path == "file" else "pkg://verl_difficulty.trainer.reward_manager"
    config = verl_config(
        [
            "reward.reward_manager.source=importlib",
            "reward.reward_manager.name=DifficultyRewardManager",
            f"reward.reward_manager.module.path={module_path}",
        ]
    )
    before = REWARD_MANAGER.get(NAME)
    manager = load_reward_manager(config, tokenizer)
    assert type(manager).__name__ == "DifficultyRewardManager"
    if path == "file":
        assert type(manager) is not DifficultyRewardManager  # a second class object, from re-executing the file
    assert REWARD_MANAGER.get(NAME) is before  # loading again by path did not fight over the name
    _check_outputs(_run_all(manager, batch))


def test_settings_from_reward_kwargs(tokenizer, batch):
    from verl.trainer.ppo.reward import load_reward_manager

    config = verl_config(
        [
            "reward.reward_manager.name=difficulty",
            "+reward.reward_kwargs.grounding_match_all=false",
            "+reward.reward_kwargs.grounding_reward=acc",
            "+reward.reward_kwargs.format_weight=0.5",
            "+reward.reward_kwargs.acc_weight=0.5",
        ]
    )
    manager = load_reward_manager(config, tokenizer)
    outputs = _run_all(manager, batch)
    one_box = outputs[6]["reward_extra_info"]
    assert one_box["acc"] == 1.0  # the larger instance alone passes when only the mean counts
    assert outputs[6]["reward_score"] == pytest.approx(1.0)  # 0.5 * acc + 0.5 * format
    assert outputs[1]["reward_score"] == pytest.approx(0.5)  # wrong, well formatted


def test_custom_reward_function_is_used_when_configured(tokenizer, batch, tmp_path):
    from verl.trainer.ppo.reward import load_reward_manager

    fn_file = tmp_path / "my_reward.py"
    fn_file.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):\n"
        "    return 0.25 if '<answer>' in solution_str else kwargs.get('miss', 0.0)\n"
    )
    config = verl_config(
        [
            "reward.reward_manager.name=difficulty",
            f"reward.custom_reward_function.path={fn_file}",
            "+reward.custom_reward_function.reward_kwargs.miss=0.75",
        ]
    )
    manager = load_reward_manager(config, tokenizer)
    outputs = _run_all(manager, batch)
    assert [o["reward_score"] for o in outputs] == [0.75 if s[2].startswith("The") else 0.25 for s in SAMPLES]
    assert all(o["reward_extra_info"] == {"score": o["reward_score"], "acc": o["reward_score"]} for o in outputs)


def test_registration_is_idempotent(monkeypatch):
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER

    cls = REWARD_MANAGER[NAME]
    spec = importlib.util.spec_from_file_location("reward_manager_copy", rm_module.__file__)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)  # runs the registration again with a second class object
    assert copy.DifficultyRewardManager is not cls
    assert REWARD_MANAGER[NAME] is cls  # the first keeps the name
    assert register_reward_manager(copy.DifficultyRewardManager) is cls

    class Stranger(DifficultyRewardManager.__mro__[1]):  # a RewardManagerBase that is not ours
        async def run_single(self, data):
            return {}

    monkeypatch.setitem(REWARD_MANAGER, NAME, Stranger)
    with pytest.raises(ValueError, match="already registered"):
        register_reward_manager()
