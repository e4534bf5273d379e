"""Online difficulty updates through verl's real rollout, reward and replay paths on CPU (Ray + TransferQueue).

Only generation is scripted: verl's agent-loop workers run :class:`ScriptedAgentLoop` (registered through
``actor_rollout_ref.rollout.agent.agent_loop_config_path``), which answers mid rows correctly, hard rows in
every other session of a group and everything else wrongly. The reward comes from verl's reward-loop workers
with the ``difficulty`` reward manager (``acc`` in ``reward_extra_info``).

- legacy trainer: ``RayPPOTrainer`` builds its dataloaders (DifficultyDataset + DifficultySampler); one step
  of ``RayPPOTrainer.fit`` is replayed with verl's own functions (``_get_gen_batch``, ``AgentLoopManager``,
  ``extract_reward``, ``compute_advantage``, ``compute_data_metrics``) and ends with ``on_batch_end``;
- v1 trainer: ``PPOTrainerSync`` with ``DifficultyReplayBuffer`` and DAPO group filtering submits a batch
  (``prepare_step``) through ``AgentLoopManagerTQ`` into TransferQueue and takes it from the replay buffer.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from verl_difficulty.tiers import TIERS

REPO = Path(__file__).resolve().parents[2]
N = 2  # rollouts per prompt

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


def _overrides(train, val, model, loops, *extra):
    return [
        f"data.train_files={train}",
        f"data.val_files={val}",
        "data.filter_overlong_prompts=False",
        "data.train_batch_size=4",
        "data.dataloader_num_workers=0",
        "++data.sampler.class_path=pkg://verl_difficulty.trainer.sampler",
        "++data.sampler.class_name=DifficultySampler",
        "data.custom_cls.path=pkg://verl_difficulty.trainer.dataset",
        "data.custom_cls.name=DifficultyDataset",
        "++data.difficulty.online=true",
        "trainer.v1.sampler.custom_sampler.path=pkg://verl_difficulty.trainer.replay_buffer",
        "trainer.v1.sampler.custom_sampler.name=DifficultyReplayBuffer",
        f"actor_rollout_ref.model.path={model}",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={N}",
        "actor_rollout_ref.rollout.prompt_length=512",
        "actor_rollout_ref.rollout.response_length=64",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        f"actor_rollout_ref.rollout.agent.agent_loop_config_path={loops}",
        "actor_rollout_ref.rollout.agent.default_agent_loop=scripted",
        "algorithm.adv_estimator=grpo",
        "reward.num_workers=1",
        "reward.reward_manager.name=difficulty",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        *extra,
    ]


@pytest.fixture(scope="module")
def cluster(scored, tiny_model_dir, tmp_path_factory):
    """Ray + TransferQueue + verl reward-loop workers; yields ``compose(*extra)`` and the reward worker handles."""
    ray = pytest.importorskip("ray")
    import transfer_queue as tq
    import verl
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop import RewardLoopManager

    root = tmp_path_factory.mktemp("online")
    loops = root / "agent_loops.yaml"
    loops.write_text(
        "- name: scripted\n"
        "  _target_: verl_difficulty.testing.scripted_agent_loop.ScriptedAgentLoop\n"
        "  metric: pism\n  correct_tiers: [mid]\n  half_tiers: [hard]\n"
    )
    train, _, val = scored
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")

    def make(*extra):
        overrides = _overrides(train, val, tiny_model_dir, loops, f"++data.cache_dir={root / 'cache'}", *extra)
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return compose(config_name="ppo_trainer", overrides=overrides)

    env = {
        # every Ray process imports this checkout; the verl.plugins entry point loads verl_difficulty.plugin
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "TOKENIZERS_PARALLELISM": "false",
        "VERL_DIFFICULTY_VERIFY_WORKERS": "1",
    }
    ray.init(num_cpus=8, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="ERROR")
    try:
        config = make()
        tq.init(config.transfer_queue)
        rewards = RewardLoopManager(config)
        yield make, rewards.reward_loop_worker_handles
    finally:
        try:
            tq.close()
        finally:
            ray.shutdown()


def _tier_names(sampler, rows):
    return [TIERS[c] for c in sampler.tier_of_rows(np.asarray(rows))]


def test_legacy_trainer_on_batch_end(cluster, verl_stack, scored):
    from verl import DataProto
    from verl.experimental.agent_loop import AgentLoopManager
    from verl.trainer.ppo import ray_trainer
    from verl.trainer.ppo.utils import Role

    from verl_difficulty.trainer.dataset import DifficultyDataset
    from verl_difficulty.trainer.sampler import DifficultySampler

    make, reward_handles = cluster
    config = make()
    tokenizer, processor = verl_stack
    trainer = ray_trainer.RayPPOTrainer(
        config,
        tokenizer,
        role_worker_mapping={Role.ActorRollout: object},
        resource_pool_manager=None,
        processor=processor,
    )
    dataset, sampler = trainer.train_dataset, trainer.train_dataloader.sampler
    assert isinstance(dataset, DifficultyDataset) and isinstance(sampler, DifficultySampler)
    rollout = AgentLoopManager.create(config=config, llm_client=None, reward_loop_worker_handles=reward_handles)

    # one step of RayPPOTrainer.fit, with verl's functions, up to its metrics and on_batch_end
    batch = DataProto.from_single_dict(next(iter(trainer.train_dataloader)))
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch.batch))], dtype=object)
    gen_batch = trainer._get_gen_batch(batch)
    gen_batch.meta_info["global_steps"] = 1
    gen_output = rollout.generate_sequences(gen_batch.repeat(repeat_times=N, interleave=True))
    batch = batch.repeat(repeat_times=N, interleave=True).union(gen_output)
    batch.batch["response_mask"] = ray_trainer.compute_response_mask(batch)
    reward_tensor, reward_extra_infos = ray_trainer.extract_reward(batch)
    batch.batch["token_level_scores"] = reward_tensor
    batch.non_tensor_batch.update({k: np.array(v) for k, v in reward_extra_infos.items()})
    batch.batch["token_level_rewards"] = batch.batch["token_level_scores"]
    batch = ray_trainer.compute_advantage(
        batch, adv_estimator=config.algorithm.adv_estimator, num_repeat=N, config=config.algorithm
    )
    metrics = ray_trainer.compute_data_metrics(batch=batch, use_critic=False)

    rows = [info["difficulty_row"] for info in batch.non_tensor_batch["extra_info"]]
    tiers = _tier_names(sampler, rows)
    assert set(tiers) <= {"mid", "hard"}
    # the difficulty reward manager judged the scripted answers: mid right, hard wrong (no session ids here)
    np.testing.assert_array_equal(batch.non_tensor_batch["acc"], [1.0 if t == "mid" else 0.0 for t in tiers])
    assert "critic/score/mean" in metrics  # verl's own metrics are still there
    for tier in ("mid", "hard"):
        share = tiers.count(tier) / len(tiers)
        assert metrics[f"difficulty/batch_share/{tier}"] == pytest.approx(share)
        if share:
            assert metrics[f"difficulty/batch_acc/{tier}"] == (1.0 if tier == "mid" else 0.0)

    dataset.on_batch_end(batch=batch)  # what fit() calls after logging
    before = dict(zip(rows, tiers))
    moved = sorted(before)
    assert _tier_names(sampler, moved) == ["easy" if before[r] == "mid" else "unsolved" for r in moved]
    state = sampler.state_metrics()
    assert state["difficulty/retiered"] == 4 and state["difficulty/pool/easy"] + state["difficulty/pool/unsolved"] == 4
    later = list(sampler) + list(sampler)  # two more passes: the re-tiered rows are no longer drawn
    assert not set(later) & set(moved)


def test_v1_replay_buffer_with_dapo(cluster):
    import transfer_queue as tq
    from verl.trainer.ppo.v1 import AgentLoopManagerTQ, get_trainer_cls

    from verl_difficulty.trainer.replay_buffer import DifficultyReplayBuffer

    make, reward_handles = cluster
    config = make("algorithm.filter_groups.enable=true", "algorithm.filter_groups.metric=acc")
    trainer = get_trainer_cls("sync")(config)
    buffer = trainer.replay_buffer
    assert isinstance(buffer, DifficultyReplayBuffer)
    # verl gives custom buffers no DAPO settings; they are recovered from the trainer like the built-in's
    assert buffer.filter_groups_metric == "acc" and buffer.gen_batch_size == 1 and buffer.train_batch_size == 4
    buffer.poll_interval = 0.2
    trainer._init_tokenizer()
    trainer._init_dataloader()
    trainer.global_steps = 1
    sampler = trainer.train_dataloader.sampler
    trainer.agent_loop_manager = AgentLoopManagerTQ.create(
        config=config, llm_client=None, reward_loop_worker_handles=reward_handles
    )

    trainer.prepare_step()  # draws train_batch_size prompts and submits them for rollout
    batch, metrics = buffer.sample(global_steps=1, partition_id="train", batch_size=4)

    data = tq.kv_batch_get(keys=batch.keys, partition_id="train", select_fields=["extra_info"])
    rows = sorted({getattr(x, "data", x)["difficulty_row"] for x in data["extra_info"]})
    assert len(rows) == 4 and len(batch.keys) == 4 * N
    # mid groups (all answers right) were dropped by DAPO, observed first, and re-tiered to easy
    evicted = metrics.get("training/filter_groups/evicted_samples", 0)
    assert evicted > 0 and metrics["difficulty/evicted_groups"] == evicted
    assert metrics["difficulty/pool/easy"] == evicted
    # the trained groups are hard rows, half right: batch metrics, then re-tiered to mid (0.5 >= hard_mid)
    assert metrics["difficulty/batch_share/hard"] == 1.0 and metrics["difficulty/batch_acc/hard"] == 0.5
    assert _tier_names(sampler, rows) == ["mid"] * 4
    assert metrics["difficulty/retiered"] == evicted + 4
