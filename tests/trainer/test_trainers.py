"""The difficulty sampler inside the dataloaders that verl 0.9.1's trainers build, and resume through data.pt.

Both trainers are built from verl's own ppo_trainer.yaml; only their dataloader code runs (the worker groups
need GPUs): ``RayPPOTrainer.__init__`` -> ``_create_dataloader`` (legacy, ``trainer.use_v1=False``) and
``PPOTrainerSync._init_dataloader`` + ``_next_train_batch`` (v1, the default). The checkpoint round trip is
the one verl does: ``torch.save(train_dataloader.state_dict(), "data.pt")`` and
``train_dataloader.load_state_dict(torch.load(..., weights_only=False))``.
"""

from __future__ import annotations

import pytest
import torch

from verl_difficulty.trainer.dataset import DifficultyDataset
from verl_difficulty.trainer.replay_buffer import DifficultyReplayBuffer
from verl_difficulty.trainer.sampler import DifficultySampler

OVERRIDES = (
    "data.train_batch_size=4",
    "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler",
    "++data.sampler.class_name=DifficultySampler",
    "data.custom_cls.path=pkg://verl_difficulty.trainer.dataset",
    "data.custom_cls.name=DifficultyDataset",
    "++data.difficulty.metric=pism",
    "++data.difficulty.weights={hard:2.0}",
    "++data.difficulty.curriculum=[{steps:2,keep:[mid]},{keep:[mid,hard]}]",
    "trainer.v1.sampler.custom_sampler.path=pkg://verl_difficulty.trainer.replay_buffer",
    "trainer.v1.sampler.custom_sampler.name=DifficultyReplayBuffer",
)


@pytest.fixture
def trainer_config(scored, compose, tiny_model_dir):
    train, _, val = scored

    def make(*extra):
        return compose(
            f"data.train_files={train}",
            f"data.val_files={val}",
            f"actor_rollout_ref.model.path={tiny_model_dir}",
            *OVERRIDES,
            *extra,
        )

    return make


def _rows(batch_extra_info):
    return [info["difficulty_row"] for info in batch_extra_info]


def _legacy(config, verl_stack):
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.trainer.ppo.utils import Role

    tokenizer, processor = verl_stack
    return RayPPOTrainer(
        config,
        tokenizer,
        role_worker_mapping={Role.ActorRollout: object},
        resource_pool_manager=None,
        processor=processor,
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_legacy_trainer_dataloader_and_resume(trainer_config, verl_stack, tmp_path, workers):
    config = trainer_config(f"data.dataloader_num_workers={workers}")
    trainer = _legacy(config, verl_stack)
    loader = trainer.train_dataloader
    assert isinstance(loader.sampler, DifficultySampler) and isinstance(trainer.train_dataset, DifficultyDataset)
    assert trainer.val_dataset.split == "val" and len(trainer.val_dataset) == 12
    assert len(loader) == 58 // 4 and trainer.total_training_steps == len(loader) * config.trainer.total_epochs

    it = iter(loader)
    first = [_rows(next(it)["extra_info"]) for _ in range(3)]
    tiers = trainer.train_dataset.filter_counts
    assert tiers["mid"] == 28
    codes = loader.sampler.tier_of_rows
    assert all(set(codes(rows)) == {1} for rows in first[:2])  # curriculum stage 0: mid only
    torch.save(loader.state_dict(), tmp_path / "data.pt")
    expected = [_rows(next(it)["extra_info"]) for _ in range(4)]

    resumed = _legacy(config, verl_stack)
    resumed.train_dataloader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    it2 = iter(resumed.train_dataloader)
    assert [_rows(next(it2)["extra_info"]) for _ in range(4)] == expected


def test_v1_trainer_dataloader_and_resume(trainer_config, tmp_path):
    from verl.trainer.ppo.v1 import get_trainer_cls

    config = trainer_config("data.dataloader_num_workers=0")

    def build():
        trainer = get_trainer_cls("sync")(config)
        trainer._init_tokenizer()
        trainer._init_dataloader()
        trainer.global_steps = 1
        return trainer

    trainer = build()
    assert isinstance(trainer.replay_buffer, DifficultyReplayBuffer)
    assert isinstance(trainer.train_dataloader.sampler, DifficultySampler)
    assert trainer.steps_per_epoch == 58 // 4  # v1 counts steps from the (filtered) dataset length
    first = trainer._next_train_batch()  # verl's fetch: dataloader batch -> TensorDict with uid
    assert len(first["uid"]) == 4 and "difficulty" in first.keys()
    torch.save(trainer.train_dataloader.state_dict(), tmp_path / "data.pt")
    expected = [_rows(trainer._next_train_batch()["extra_info"]) for _ in range(3)]

    resumed = build()
    resumed.train_dataloader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    assert [_rows(resumed._next_train_batch()["extra_info"]) for _ in range(3)] == expected


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("sync", ()),
        ("sync", ("algorithm.filter_groups.enable=true", "algorithm.filter_groups.metric=acc")),
        ("sync", ("trainer.v1.sampler.sync_refill_failed_groups=true",)),
        ("colocate_async", ()),
    ],
)
def test_replay_buffer_gets_the_builtin_settings(trainer_config, mode, extra):
    """verl passes custom buffers fewer arguments; ours recovers exactly what its own buffer would get."""
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.trainer.ppo.v1.replay_buffer import ReplayBufferAsync

    config = trainer_config(f"trainer.v1.trainer_mode={mode}", *extra)
    ours = get_trainer_cls(mode)(config).replay_buffer
    assert isinstance(ours, DifficultyReplayBuffer)
    assert isinstance(ours, ReplayBufferAsync) == (mode != "sync")
    with_builtin = trainer_config(
        f"trainer.v1.trainer_mode={mode}",
        *extra,
        "trainer.v1.sampler.custom_sampler.path=null",
        "trainer.v1.sampler.custom_sampler.name=null",
    )
    builtin = get_trainer_cls(mode)(with_builtin).replay_buffer
    assert type(builtin).__name__ == ("ReplayBuffer" if mode == "sync" else "ReplayBufferAsync")
    for name in (
        "trainer_mode",
        "max_off_policy_threshold",
        "max_off_policy_strategy",
        "filter_groups_metric",
        "train_batch_size",
        "gen_batch_size",
        "max_inflight_gen_batches",
        "sync_refill_failed_groups",
        "poll_interval",
    ):
        assert getattr(ours, name) == getattr(builtin, name), name
