"""``grpo_difficulty``: GRPO whose per-group std division is replaced by a weight of the group's accuracy.

The online "advantage differentiation" of arXiv 2505.13261 ("Unlocking the Potential of Difficulty Prior in
RL-based Multimodal Reasoning"): inside each GRPO group (the rollouts of one prompt, verl's ``uid``) the
empirical accuracy ``p`` is a difficulty proxy, and the advantage of response ``i`` is ::

    A_i = w(p) * (r_i - mean(r))            instead of GRPO's  (r_i - mean(r)) / (std(r) + eps)

so groups the policy rarely solves get a stronger signal than groups it almost always solves. The paper calls its
weighting a "steep exponential" without publishing it; the family and its strength are settings here, and every
family is anchored at ``w(0.5) = scale`` (default 2.0 = 1 / std of a half-solved binary group, so a half-solved
group gets the advantage GRPO would give it with the population std):

==============  =========================================  ===============================================
family          w(p)                                       shape
==============  =========================================  ===============================================
exponential     scale * exp(s * (0.5 - p))                 monotone, harder = larger (default, s = 2.0:
                                                           w(0) / w(1) = e^2 ~ 7.4)
linear          scale * max(0, 1 + s * (0.5 - p))          monotone, gentler (s in [0, 2]; default 1.0)
medium          scale * exp(-s * (2p - 1)^2)               peaks at p = 0.5: focuses on medium prompts
                                                           (default s = 1.0)
==============  =========================================  ===============================================

Accuracy. verl hands an advantage estimator the token-level rewards, the response mask and the group ids, not
the reward manager's ``acc``. The outcome score (the sum of a response's token-level rewards) is therefore
thresholded: a response counts as correct when ``score >= acc_threshold`` (default 0.5). With this package's
``difficulty`` reward manager and the paper's accuracy-only reward that is exactly its ``acc`` (scores are
0 / 1, grounding's IoU is judged correct at IoU >= 0.5). With a format bonus, an in-reward KL penalty
(``algorithm.use_kl_in_reward``) or another reward scale, set ``acc_threshold`` to match.

Settings, under ``algorithm.difficulty_weight`` (``++`` adds them to verl's config)::

    algorithm.adv_estimator=grpo_difficulty
    ++algorithm.difficulty_weight.enable=true          # false: exactly verl's GRPO (honours norm_adv_by_std_in_grpo)
    ++algorithm.difficulty_weight.family=exponential   # exponential | linear | medium
    ++algorithm.difficulty_weight.strength=2.0         # s above; null: the family's default
    ++algorithm.difficulty_weight.scale=2.0            # w(0.5)
    ++algorithm.difficulty_weight.acc_threshold=0.5    # score >= this counts as correct

When enabled the weight replaces the std, so ``algorithm.norm_adv_by_std_in_grpo`` is not used. A group with
a single response gets ``A = r`` (as verl's GRPO does); a group whose rewards are all equal gets 0.

Importing this module registers the estimator with verl's ``register_adv_est`` (:mod:`verl_difficulty.plugin`
does it in every verl process); importing it again, or a second copy of this file, keeps one registration.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from verl.trainer.ppo import core_algos

NAME = "grpo_difficulty"
CONFIG_KEY = "difficulty_weight"
FAMILIES = ("exponential", "linear", "medium")
DEFAULT_STRENGTH = {"exponential": 2.0, "linear": 1.0, "medium": 1.0}

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_STRENGTH",
    "FAMILIES",
    "NAME",
    "DifficultyWeightConfig",
    "DifficultyWeightError",
    "compute_grpo_difficulty_advantage",
    "difficulty_weight",
    "register_estimator",
]


class DifficultyWeightError(ValueError):
    """A ``algorithm.difficulty_weight`` setting is invalid; the message names the key."""


def _key(name: str) -> str:
    return f"algorithm.{CONFIG_KEY}.{name}"


@dataclass(frozen=True)
class DifficultyWeightConfig:
    """Validated ``algorithm.difficulty_weight`` settings (see the module docstring)."""

    enable: bool = True
    family: str = "exponential"
    strength: float | None = None
    scale: float = 2.0
    acc_threshold: float = 0.5

    def __post_init__(self):
        if not isinstance(self.enable, bool):
            raise DifficultyWeightError(f"{_key('enable')}: expected true or false, got {self.enable!r}")
        if self.family not in FAMILIES:
            raise DifficultyWeightError(f"{_key('family')}: unknown family {self.family!r}; expected one of {FAMILIES}")
        for name in ("strength", "scale", "acc_threshold"):
            value = getattr(self, name)
            if value is None and name == "strength":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DifficultyWeightError(f"{_key(name)}: expected a finite number, got {value!r}")
        if self.strength is not None and self.strength < 0:
            raise DifficultyWeightError(f"{_key('strength')}: must be >= 0, got {self.strength}")
        if self.family == "linear" and self.strength is not None and self.strength > 2:
            raise DifficultyWeightError(
                f"{_key('strength')}: the linear family needs 0 <= strength <= 2 (weights stay >= 0 on [0, 1]), "
                f"got {self.strength}"
            )
        if self.scale <= 0:
            raise DifficultyWeightError(f"{_key('scale')}: must be > 0, got {self.scale}")

    @property
    def effective_strength(self) -> float:
        return float(DEFAULT_STRENGTH[self.family] if self.strength is None else self.strength)

    @classmethod
    def from_config(cls, config: Any) -> DifficultyWeightConfig:
        """Read ``config.difficulty_weight`` from verl's ``algorithm`` config (DictConfig, AlgoConfig, dict or None).

        Unknown keys are errors naming the key; a missing section gives the defaults.
        """
        section = None
        if config is not None:
            getter = getattr(config, "get", None)
            section = getter(CONFIG_KEY, None) if callable(getter) else getattr(config, CONFIG_KEY, None)
        if section is None:
            return cls()
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(section, DictConfig):
                section = OmegaConf.to_container(section, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf ships with verl
            pass
        if not isinstance(section, Mapping):
            raise DifficultyWeightError(f"algorithm.{CONFIG_KEY}: expected a mapping of settings, got {section!r}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - allowed)
        if unknown:
            raise DifficultyWeightError(
                f"{_key(unknown[0])}: unknown setting; expected some of {sorted(allowed)} (got {unknown})"
            )
        values = dict(section)
        for name in ("strength", "scale", "acc_threshold"):  # YAML / CLI ints are fine as floats
            if isinstance(values.get(name), int) and not isinstance(values.get(name), bool):
                values[name] = float(values[name])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def difficulty_weight(accuracy: torch.Tensor | float, cfg: DifficultyWeightConfig) -> torch.Tensor:
    """``w(p)`` of the configured family for group accuracies ``accuracy`` in [0, 1] (see the module docstring)."""
    p = torch.as_tensor(accuracy, dtype=torch.float32)
    s = cfg.effective_strength
    if cfg.family == "exponential":
        w = torch.exp(s * (0.5 - p))
    elif cfg.family == "linear":
        w = torch.clamp(1.0 + s * (0.5 - p), min=0.0)
    else:  # medium
        w = torch.exp(-s * (2.0 * p - 1.0) ** 2)
    return cfg.scale * w


def _norm_by_std(config: Any) -> bool:
    if config is None:
        return True
    getter = getattr(config, "get", None)
    value = getter("norm_adv_by_std_in_grpo", True) if callable(getter) else True
    return bool(value)


def compute_grpo_difficulty_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray,
    epsilon: float = 1e-6,
    config: Any = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Difficulty-weighted GRPO outcome advantage (see the module docstring).

    Args:
        token_level_rewards: ``(bs, response_length)`` rewards; a response's outcome score is their sum.
        response_mask: ``(bs, response_length)`` mask of response tokens.
        index: ``(bs,)`` group ids (verl's ``uid``): responses to the same prompt share one.
        epsilon: added to GRPO's std when the weighting is disabled.
        config: verl's ``algorithm`` config; ``config.difficulty_weight`` holds the settings and
            ``config.norm_adv_by_std_in_grpo`` applies when the weighting is disabled.
        **kwargs: other inputs verl passes to estimators (e.g. ``reward_baselines``), unused.

    Returns:
        ``(advantages, returns)``, both ``(bs, response_length)`` and equal, zero outside the response.
    """
    cfg = DifficultyWeightConfig.from_config(config)
    if not cfg.enable:
        return core_algos.compute_grpo_outcome_advantage(
            token_level_rewards=token_level_rewards,
            response_mask=response_mask,
            index=index,
            epsilon=epsilon,
            norm_adv_by_std_in_grpo=_norm_by_std(config),
            config=config,
        )
    if index is None:
        raise ValueError(f"{NAME}: needs the group ids (verl's 'uid' in non_tensor_batch)")

    scores = token_level_rewards.sum(dim=-1)
    with torch.no_grad():
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, uid in enumerate(index):
            groups[uid].append(i)
        advantages = torch.empty_like(scores)
        for rows in groups.values():
            group = scores[rows]
            if len(rows) == 1:  # as verl's GRPO: mean 0, std 1
                advantages[rows] = group
                continue
            accuracy = (group >= cfg.acc_threshold).float().mean()
            weight = difficulty_weight(accuracy, cfg).to(group.dtype)
            advantages[rows] = (group - group.mean()) * weight
        advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages


def register_estimator(fn=compute_grpo_difficulty_advantage):
    """Register ``fn`` as ``grpo_difficulty`` with verl, idempotently (a copy of this module may re-register).

    Raises ``ValueError`` when the name belongs to an unrelated function, as verl's ``register_adv_est`` does.
    """
    existing = core_algos.ADV_ESTIMATOR_REGISTRY.get(NAME)
    if existing is not None and existing is not fn:
        if getattr(existing, "__qualname__", None) == fn.__qualname__ and getattr(existing, "__module__", None) in (
            __name__,
            fn.__module__,
        ):
            core_algos.ADV_ESTIMATOR_REGISTRY.pop(NAME)
        else:
            raise ValueError(f"advantage estimator {NAME!r} is already registered to {existing!r}")
    return core_algos.register_adv_est(NAME)(fn)


register_estimator()
