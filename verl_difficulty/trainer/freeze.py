"""Freeze the vision encoder of a VLM trained by verl 0.9.1's FSDP engine (GRPO actor, SFT trainer).

The paper trains with the vision tower frozen (GRPO) and the vision tower + projector frozen (SFT). verl 0.9.1
parses ``actor_rollout_ref.actor.freeze_vision_tower`` but no code reads it, and its SFT trainer has no such
setting, so the model is trained whole. This module wraps ``FSDPEngine._build_module`` (the step that loads the
Hugging Face model, before FSDP wrapping and before the optimizer is built) so that, when asked, the vision
parameters get ``requires_grad = False``: they receive no gradient, the optimizer never changes them, and the
saved checkpoint keeps the original vision weights.

The switch is an environment variable, because the engine sees only the model / engine / optimizer configs::

    VERL_DIFFICULTY_FREEZE_VISION=vision          # the vision tower (patch embedding + blocks); projector trains
    VERL_DIFFICULTY_FREEZE_VISION=vision+merger   # the tower and the projector ("merger")
    VERL_DIFFICULTY_FREEZE_VISION=none            # (or unset) nothing frozen: verl's behaviour

It must reach the process that builds the engine: for ``torchrun`` (SFT) export it; for GRPO on Ray put it in
the job's runtime environment, which the recipes do::

    ++ray_kwargs.ray_init.runtime_env.env_vars.VERL_DIFFICULTY_FREEZE_VISION=vision

Requirements: FSDP2 (``actor_rollout_ref.actor.strategy=fsdp2``, SFT ``engine.strategy=fsdp2``) or FSDP1 with
``use_orig_params=true``; FSDP1's flat parameters cannot mix frozen and trainable tensors, and the engine
refuses that combination with an error naming these settings. Works for Qwen2-VL / Qwen2.5-VL / Qwen3-VL style
models (a ``visual`` sub-module with a ``merger``); a model without one is an error, not a silent no-op.

Imported by :mod:`verl_difficulty.plugin` in every verl process; while the variable is unset importing it
changes nothing (and does not import the engine).
"""

from __future__ import annotations

import functools
import logging
import os

ENV = "VERL_DIFFICULTY_FREEZE_VISION"
MODES = ("none", "vision", "vision+merger")

logger = logging.getLogger(__name__)

__all__ = ["ENV", "MODES", "FreezeError", "freeze_mode", "freeze_vision", "find_visual", "patch_fsdp_engine"]


class FreezeError(ValueError):
    """The freeze setting is invalid or cannot be applied; the message names the setting."""


def freeze_mode(value: str | None = None) -> str:
    """The requested mode from ``value`` or the environment (``none`` when unset); unknown values are errors."""
    raw = os.environ.get(ENV, "") if value is None else value
    mode = (raw or "none").strip().lower()
    if mode in ("", "0", "false", "off"):
        mode = "none"
    if mode not in MODES:
        raise FreezeError(f"{ENV}={raw!r}: expected one of {MODES}")
    return mode


def find_visual(model):
    """The vision encoder sub-module (``model.visual`` or ``model.model.visual``), or ``None``."""
    for owner in (model, getattr(model, "model", None)):
        visual = getattr(owner, "visual", None) if owner is not None else None
        if visual is not None:
            return visual
    return None


def freeze_vision(model, mode: str) -> dict[str, int]:
    """Set ``requires_grad = False`` on the vision parameters ``mode`` names; return parameter counts.

    Returns ``{"frozen": n, "trainable": m}`` (numbers of scalar parameters after freezing).
    """
    mode = freeze_mode(mode)
    if mode != "none":
        visual = find_visual(model)
        if visual is None:
            raise FreezeError(
                f"{ENV}={mode}: {type(model).__name__} has no 'visual' vision encoder to freeze "
                "(unset the variable for text-only models)"
            )
        merger = getattr(visual, "merger", None)
        merger_ids = {id(p) for p in merger.parameters()} if merger is not None else set()
        for p in visual.parameters():
            if mode == "vision+merger" or id(p) not in merger_ids:
                p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"frozen": frozen, "trainable": trainable}


def _wrap_build_module(original):
    @functools.wraps(original)
    def _build_module(self, *args, **kwargs):
        module = original(self, *args, **kwargs)
        mode = freeze_mode()
        if mode == "none":
            return module
        engine_config = getattr(self, "engine_config", None)
        forward_only = bool(getattr(engine_config, "forward_only", False))
        strategy = getattr(engine_config, "strategy", None)
        if not forward_only and strategy != "fsdp2" and not getattr(engine_config, "use_orig_params", False):
            raise FreezeError(
                f"{ENV}={mode} needs FSDP2 or use_orig_params: set actor_rollout_ref.actor.strategy=fsdp2 "
                "(GRPO) or engine.strategy=fsdp2 (SFT), or ...fsdp_config.use_orig_params=true "
                f"(engine strategy is {strategy!r})"
            )
        counts = freeze_vision(module, mode)
        logger.warning(
            "%s=%s: froze %d vision parameters; %d trainable", ENV, mode, counts["frozen"], counts["trainable"]
        )
        return module

    _build_module._verl_difficulty_freeze = True
    return _build_module


def patch_fsdp_engine() -> bool:
    """Wrap ``FSDPEngine._build_module`` once; return whether it is (now) wrapped.

    Raises ``ImportError`` / ``AttributeError`` when verl no longer has the function (a test guards this).
    """
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    current = FSDPEngine._build_module
    if not getattr(current, "_verl_difficulty_freeze", False):
        FSDPEngine._build_module = _wrap_build_module(current)
    return True


if freeze_mode() != "none":  # only processes asked to freeze pay for importing the engine
    patch_fsdp_engine()
