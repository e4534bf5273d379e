"""``DifficultyReplayBuffer``: the v1 trainer's replay buffer, feeding accuracies to the difficulty sampler.

verl 0.9.1's default trainer (``trainer.use_v1=true``) has no ``on_batch_end`` hook. Finished trajectories sit
in TransferQueue with every dataset column and the reward's ``reward_extra_info``, and the trainer takes each
training batch from its replay buffer, which a config key can replace::

    trainer.v1.sampler.custom_sampler.path=pkg://verl_difficulty.trainer.replay_buffer
    trainer.v1.sampler.custom_sampler.name=DifficultyReplayBuffer

This class is verl's own replay buffer (``ReplayBuffer`` in sync mode, ``ReplayBufferAsync`` otherwise: one
class name serves every ``trainer.v1.trainer_mode``) plus two things:

- after each training batch is chosen, it reads the batch's accuracies (``extra_fields.reward_extra_info``)
  and dataset rows (``extra_info``) from TransferQueue and passes them to the :class:`DifficultySampler` of the
  trainer's dataloader (online updates), returning the sampler's ``difficulty/*`` metrics with the
  buffer's own (the v1 trainer logs whatever ``sample`` returns);
- groups the buffer drops before training (DAPO ``algorithm.filter_groups``: all responses scored alike;
  off-policy staleness; surplus) are observed too before they are cleared, since all-correct or
  all-wrong groups say the most about difficulty.

verl passes custom buffers fewer constructor arguments than its own (no DAPO / refill settings). This class
recovers them from the trainer (``refill_fn`` is a bound method of it) exactly as verl's
``_build_replay_buffer`` computes them, so ``algorithm.filter_groups`` keeps working.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync

logger = logging.getLogger(__name__)

__all__ = ["DifficultyReplayBuffer", "DifficultyReplayBufferAsync"]

#: TransferQueue fields read for online updates
FIELDS = ("extra_fields", "extra_info", "index")


def _builtin_kwargs(trainer: Any, trainer_mode: str) -> dict[str, Any]:
    """The keyword arguments verl 0.9.1's ``PPOTrainer._build_replay_buffer`` gives its own buffers."""
    config = trainer.config
    sampler_config = config.trainer.v1.sampler
    filter_groups_metric = trainer._resolve_filter_groups_metric()
    sync_refill_failed_groups = bool(sampler_config.get("sync_refill_failed_groups", False))
    kwargs: dict[str, Any] = {
        "filter_groups_metric": filter_groups_metric,
        "sync_refill_failed_groups": sync_refill_failed_groups,
    }
    if trainer_mode == "sync":
        filter_groups = config.algorithm.get("filter_groups", None)
        max_inflight = filter_groups.get("max_inflight_gen_batches", 1) if filter_groups_metric is not None else 1
        train_batch_size = config.data.train_batch_size
        kwargs.update(
            train_batch_size=train_batch_size,
            gen_batch_size=1
            if filter_groups_metric is not None or sync_refill_failed_groups
            else (config.data.get("gen_batch_size", None) or train_batch_size),
            max_inflight_gen_batches=max_inflight,
        )
    return kwargs


class DifficultyReplayBuffer(ReplayBuffer):
    """verl's replay buffer + online difficulty updates and metrics (see the module docstring).

    Constructed by verl with ``trainer_mode, trainer_config, max_off_policy_threshold, max_off_policy_strategy,
    sampler_kwargs, refill_fn``. ``trainer.v1.sampler.sampler_kwargs.observe_evicted=false`` stops observing
    groups dropped before training.
    """

    def __new__(cls, *args, **kwargs):
        mode = kwargs.get("trainer_mode", args[0] if args else "sync")
        if cls is DifficultyReplayBuffer and mode != "sync":
            cls = DifficultyReplayBufferAsync
        return super().__new__(cls)

    def __init__(
        self,
        trainer_mode: str,
        trainer_config,
        max_off_policy_threshold,
        max_off_policy_strategy: str,
        sampler_kwargs,
        poll_interval: float = 2.0,
        refill_fn=None,
        **kwargs,
    ):
        trainer = getattr(refill_fn, "__self__", None)
        if trainer is not None and not kwargs and hasattr(trainer, "_resolve_filter_groups_metric"):
            kwargs = _builtin_kwargs(trainer, trainer_mode)
        super().__init__(
            trainer_mode=trainer_mode,
            trainer_config=trainer_config,
            max_off_policy_threshold=max_off_policy_threshold,
            max_off_policy_strategy=max_off_policy_strategy,
            sampler_kwargs=sampler_kwargs,
            poll_interval=poll_interval,
            refill_fn=refill_fn,
            **kwargs,
        )
        self._trainer = trainer
        options = dict(sampler_kwargs or {})
        self.observe_evicted = bool(options.get("observe_evicted", True))
        self._difficulty_sampler = None
        self._warned = False
        self._pending_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ the sampler

    def attach_sampler(self, sampler) -> None:
        """Use ``sampler`` for online updates (by default: the trainer's ``train_dataloader.sampler``)."""
        self._difficulty_sampler = sampler

    def difficulty_sampler(self):
        if self._difficulty_sampler is not None:
            return self._difficulty_sampler
        from verl_difficulty.trainer.sampler import DifficultySampler

        loader = getattr(self._trainer, "train_dataloader", None)
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, DifficultySampler):
            self._difficulty_sampler = sampler
            return sampler
        if not self._warned:
            self._warned = True
            logger.warning(
                "DifficultyReplayBuffer: the trainer's dataloader has no DifficultySampler "
                "(set data.sampler.class_name=DifficultySampler); no online difficulty updates"
            )
        return None

    # ------------------------------------------------------------------ reading TransferQueue

    def _read(self, partition_id: str, keys: list[str]) -> tuple[dict[str, Any], np.ndarray | None]:
        """Non-tensor fields (extra_info, index, acc) and reward scores of trajectory ``keys``."""
        import transfer_queue as tq

        if not keys:
            return {}, None
        data = tq.kv_batch_get(keys=list(keys), partition_id=partition_id, select_fields=list(FIELDS))
        fields: dict[str, Any] = {}
        for name in ("extra_info", "index"):
            if name in data.keys():
                fields[name] = np.array([getattr(v, "data", v) for v in data[name]], dtype=object)
        infos = [getattr(v, "data", v) for v in data["extra_fields"]] if "extra_fields" in data.keys() else []
        extra = [i.get("reward_extra_info", {}) if isinstance(i, dict) else {} for i in infos]
        sampler = self.difficulty_sampler()
        key = sampler.settings.online.key if sampler is not None else "acc"
        if extra and all(key in e for e in extra):
            fields[key] = np.array([float(e[key]) for e in extra], dtype=np.float64)
        scores = None
        if key not in fields and extra and all("score" in e for e in extra):
            scores = np.array([float(e["score"]) for e in extra], dtype=np.float64)
        return fields, scores

    def _observe(self, partition_id: str, keys: list[str], *, update: bool = True) -> dict[str, float]:
        sampler = self.difficulty_sampler()
        if sampler is None or partition_id == "val" or not keys:
            return {}
        # one response per (uid, session): multi-output agent loops copy the reward to every output
        seen, unique = set(), []
        for key in keys:
            uid, session, *_ = key.split("_")
            if (uid, session) not in seen:
                seen.add((uid, session))
                unique.append(key)
        fields, scores = self._read(partition_id, unique)
        if not fields:
            return {}
        if sampler.settings.online.key not in fields and scores is None:
            logger.warning("DifficultyReplayBuffer: trajectories carry no accuracy (reward not computed yet?)")
            return {}
        if scores is not None:
            fields["score"] = scores
        return sampler.observe_batch(fields, update=update)

    # ------------------------------------------------------------------ verl hooks

    def _clear_groups(self, partition_id: str, uids: set[str]) -> None:
        """Observe finished groups the buffer drops without training on them, then drop them."""
        if uids and self.observe_evicted and partition_id != "val" and self.difficulty_sampler() is not None:
            finished = set(uids) & (self.finished_keys[partition_id] | self.failure_keys[partition_id])
            keys = [k for k in self.partitions[partition_id] if k.split("_")[0] in finished]
            if keys:
                try:
                    self._observe(partition_id, keys)
                    self._pending_metrics["difficulty/evicted_groups"] = self._pending_metrics.get(
                        "difficulty/evicted_groups", 0.0
                    ) + float(len(finished))
                except Exception:  # never stop the buffer over a metric
                    logger.warning("DifficultyReplayBuffer: could not observe evicted groups", exc_info=True)
        super()._clear_groups(partition_id, uids)

    def sample(self, global_steps: int, partition_id: str, batch_size: int):
        batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        if partition_id != "val":
            metrics = dict(metrics)
            metrics.update(self._observe(partition_id, list(batch.keys)))
            metrics.update(self._pending_metrics)
            self._pending_metrics = {}
        return batch, metrics


class DifficultyReplayBufferAsync(DifficultyReplayBuffer, ReplayBufferAsync):
    """:class:`DifficultyReplayBuffer` over verl's ``ReplayBufferAsync`` (``trainer.v1.trainer_mode`` != sync)."""
