"""The ``difficulty`` reward manager for verl 0.9.1's reward loop.

It decodes each response like verl's ``naive`` manager and judges it with
:func:`verl_difficulty.verify.score.compute_score` (every task of the paper, guarded time limit), or with the
user's ``reward.custom_reward_function`` when one is configured. ``reward_extra_info`` always holds ``acc``
(1.0 / 0.0, what the difficulty curriculum reads) and the same keys for every sample.

Select it with either::

    reward.reward_manager.name=difficulty                      # source=register (the default source)
    reward.reward_manager.source=importlib \\
      reward.reward_manager.name=DifficultyRewardManager \\
      reward.reward_manager.module.path=pkg://verl_difficulty.trainer.reward_manager   # or the file's path

Settings of the built-in checker (:class:`~verl_difficulty.verify.settings.VerifySettings`) are read from
``reward.reward_kwargs`` (e.g. ``+reward.reward_kwargs.iou_threshold=0.7``); a configured custom reward
function gets its own ``reward.custom_reward_function.reward_kwargs`` from verl as usual.

Importing this module registers the name ``difficulty`` (idempotently: importing it again, or loading this
file a second time by path, keeps the first registration). ``source=register`` needs the import to happen
in every Ray process that builds reward managers; :mod:`verl_difficulty.plugin` (a ``verl.plugins`` entry
point) or ``VERL_USE_EXTERNAL_MODULES=verl_difficulty.trainer.reward_manager`` does that.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    from verl_difficulty.verify.score import RESULT_KEYS, score_with
    from verl_difficulty.verify.settings import VerifySettings
except ImportError:  # this file was loaded by path and the package is not installed: use this copy's package
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    from verl_difficulty.verify.score import RESULT_KEYS, score_with
    from verl_difficulty.verify.settings import VerifySettings

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER, register

NAME = "difficulty"

__all__ = ["NAME", "RESULT_KEYS", "DifficultyRewardManager", "register_reward_manager"]


def _is_verl_default(fn: Any) -> bool:
    """Whether ``fn`` is verl's data-source router (what ``load_reward_manager`` passes when no custom
    reward function is configured), possibly wrapped in ``functools.partial`` (sandbox settings)."""
    from verl.utils.reward_score import default_compute_score

    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn is default_compute_score


def _reward_kwargs(config: Any) -> dict:
    """``config.reward.reward_kwargs`` as a plain dict (empty when absent)."""
    try:
        reward_cfg = config.get("reward") if hasattr(config, "get") else getattr(config, "reward", None)
        kwargs = reward_cfg.get("reward_kwargs") if reward_cfg is not None else None
    except Exception:  # configs of unexpected shape: no settings
        return {}
    if kwargs is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(kwargs, DictConfig):
            kwargs = OmegaConf.to_container(kwargs, resolve=True)
    except ImportError:
        pass
    return dict(kwargs) if isinstance(kwargs, Mapping) else {}


class DifficultyRewardManager(RewardManagerBase):
    """Rule-based rewards for math, multiple choice, OCR, counting and grounding, with ``acc`` for curricula.

    Args:
        config: the trainer config (``config.reward.reward_kwargs`` holds checker settings).
        tokenizer: tokenizer used to decode responses.
        compute_score: the custom reward function verl loaded, or ``None`` / verl's default router (then the
            built-in :func:`~verl_difficulty.verify.score.compute_score` is used).
        reward_router_address, reward_model_tokenizer: passed on to a custom reward function, like ``naive``.
    """

    #: Marks this class across re-imports (a file-path load creates a second class object).
    _verl_difficulty_reward_manager = True

    def __init__(
        self,
        config,
        tokenizer,
        compute_score=None,
        reward_router_address=None,
        reward_model_tokenizer=None,
        **kwargs,
    ):
        super().__init__(config, tokenizer, compute_score)
        custom = compute_score if compute_score is not None and not _is_verl_default(compute_score) else None
        self.custom_compute_score = custom
        self.compute_score = custom
        self.is_async_reward_score = custom is not None and inspect.iscoroutinefunction(custom)
        self.settings = VerifySettings.from_kwargs(_reward_kwargs(config))
        self.reward_router_address = reward_router_address
        self.reward_model_tokenizer = reward_model_tokenizer

    async def run_single(self, data: DataProto) -> dict:
        """Reward for one sample: ``{"reward_score": float, "reward_extra_info": {"acc": ..., ...}}``."""
        data = data[-1:]  # multi-sequence outputs: judge the last sequence, as verl's managers do
        item = data[0]
        response_ids = item.batch["responses"]
        response_length = response_ids.shape[-1]
        valid_response_length = item.batch["attention_mask"][-response_length:].sum()
        valid_response_ids = response_ids[:valid_response_length]

        nt = item.non_tensor_batch
        data_source = nt.get("data_source", "")
        reward_model = nt.get("reward_model") or {}
        ground_truth = reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else None
        raw_info = nt.get("extra_info")
        extra_info = dict(raw_info) if isinstance(raw_info, Mapping) else {}
        if "ability" in nt and "ability" not in extra_info:
            extra_info["ability"] = nt["ability"]

        # The running loop, not the one captured at construction: works under any event loop.
        loop = asyncio.get_running_loop()
        response_str = await loop.run_in_executor(
            None, lambda: self.tokenizer.decode(valid_response_ids, skip_special_tokens=True)
        )

        if self.custom_compute_score is None:
            result = await loop.run_in_executor(
                None, lambda: score_with(self.settings, data_source, response_str, ground_truth, extra_info)
            )
        else:
            result = await self._call_custom(item, data_source, response_str, ground_truth, extra_info)
        return self._package(result)

    async def _call_custom(self, item, data_source, response_str, ground_truth, extra_info):
        nt = item.non_tensor_batch
        tool_extra_fields = nt.get("tool_extra_fields", None)
        if isinstance(tool_extra_fields, Mapping):
            extra_info.update(tool_extra_fields.items())
        extra_info["num_turns"] = nt.get("__num_turns__", None)
        extra_info["rollout_reward_scores"] = nt.get("reward_scores", {})
        extra = {}
        if self.reward_router_address is not None:
            extra = {
                "reward_router_address": self.reward_router_address,
                "reward_model_tokenizer": self.reward_model_tokenizer,
            }
        call = functools.partial(
            self.custom_compute_score,
            data_source=data_source,
            solution_str=response_str,
            ground_truth=ground_truth,
            extra_info=extra_info,
            **extra,
        )
        if self.is_async_reward_score:
            return await call()
        return await asyncio.get_running_loop().run_in_executor(None, call)

    @staticmethod
    def _package(result: Any) -> dict:
        """verl's reward-loop reply; a float result becomes ``score`` and ``acc``, a dict without ``acc``
        gets ``acc = score``."""
        if isinstance(result, Mapping):
            extra = dict(result)
            score = float(extra["score"])
        else:
            score = float(result)
            extra = {"score": score}
        extra.setdefault("acc", score)
        return {"reward_score": score, "reward_extra_info": extra}


def register_reward_manager(cls: type = DifficultyRewardManager) -> type:
    """Register ``cls`` as ``difficulty`` unless a copy of this manager already holds the name.

    Raises ``ValueError`` when the name belongs to an unrelated class, as verl's ``register`` does.
    """
    existing = REWARD_MANAGER.get(NAME)
    if existing is None:
        return register(NAME)(cls)
    if existing is cls or getattr(existing, "_verl_difficulty_reward_manager", False):
        return existing
    raise ValueError(f"reward manager {NAME!r} is already registered to {existing!r}")


register_reward_manager()
