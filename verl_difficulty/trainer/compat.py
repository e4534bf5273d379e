"""What verl 0.9.1 lacks for difficulty sampling, added back by wrapping two of its functions.

1. ``data.sampler.class_path`` / ``data.sampler.class_name`` (verl 0.5-0.7; removed in 0.8). verl 0.9.1's
   ``create_rl_sampler(data_config, dataset)`` (``verl/trainer/ppo/utils.py``) only returns a random or
   sequential sampler, and the trainers import it *by name* (``main_ppo_v0``, ``ppo/ray_trainer``,
   ``ppo/v1/trainer_base``, and the experimental fully-async and one-step-off-policy trainers). The wrapper
   builds ``class_name`` from ``class_path`` (``pkg://dotted.module`` or a ``.py`` file, loaded with verl's own
   ``load_extern_object``) as ``cls(data_source=dataset, data_config=data_config)``, the 0.7 convention, and
   calls verl's function unchanged when ``class_path`` is not set.
2. Sampler metrics in the legacy trainer. ``RayPPOTrainer.fit`` (``trainer.use_v1=False``) gives datasets
   and samplers no way to add metrics: its ``metrics`` dict is local and ``on_batch_end`` runs after it is
   logged. The trainer fills that dict with ``compute_data_metrics(batch=...)`` (imported by name from
   ``verl/trainer/ppo/metric_utils.py``); the wrapper adds the active :class:`DifficultySampler`'s
   ``difficulty/*`` metrics when the batch carries dataset rows (``extra_info``). The v1 trainer's metrics
   batch has no dataset fields, so there the wrapper adds nothing; v1 metrics come from
   :class:`~verl_difficulty.trainer.replay_buffer.DifficultyReplayBuffer` (``ReplayBuffer.sample`` returns
   metrics that the v1 trainer logs).

Both functions are wrapped where verl defines them: if that module is already imported, at once (and every
``verl.*`` module holding the original by name is updated); otherwise when it is first imported, through an
import hook, so ``import verl`` stays as cheap as before (``verl.trainer.ppo.utils`` pulls in the trainer
stack). Modules importing the function later get the wrapper. Installing twice is harmless.
``tests/trainer/test_plugin_guards.py`` fails when verl moves or renames what is wrapped.
"""

from __future__ import annotations

import functools
import importlib.abc
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: marks a wrapper; holds the wrapped original
WRAPPED_ATTR = "__verl_difficulty_wrapped__"

#: (module, function) that get wrapped
SAMPLER_SOURCE = ("verl.trainer.ppo.utils", "create_rl_sampler")
METRICS_SOURCE = ("verl.trainer.ppo.metric_utils", "compute_data_metrics")

#: verl modules that import the wrapped functions by name (the guard tests check these still do)
SAMPLER_IMPORTERS = (
    "verl.trainer.main_ppo_v0",
    "verl.trainer.ppo.ray_trainer",
    "verl.trainer.ppo.v1.trainer_base",
    "verl.experimental.fully_async_policy.fully_async_rollouter",
    "verl.experimental.one_step_off_policy.main_ppo",
)
METRICS_IMPORTERS = ("verl.trainer.ppo.ray_trainer",)

_lock = threading.RLock()


# ---------------------------------------------------------------------------------------------- sampler


def build_sampler(data_config: Any, dataset: Any):
    """The sampler named by ``data.sampler.class_path`` / ``class_name`` (verl 0.7 semantics)."""
    from verl_difficulty.trainer.settings import DifficultyConfigError

    sampler_cfg = data_config.get("sampler", None)
    class_path = sampler_cfg.get("class_path", None)
    class_name = sampler_cfg.get("class_name", None)
    if not class_name:
        raise DifficultyConfigError(
            f"data.sampler.class_name: required when data.sampler.class_path is set (got class_path={class_path})"
        )
    from verl.utils.import_utils import load_extern_object

    try:
        cls = load_extern_object(class_path, class_name)
    except (ImportError, FileNotFoundError, AttributeError, RuntimeError) as e:
        raise DifficultyConfigError(
            f"data.sampler.class_path={class_path} / data.sampler.class_name={class_name}: cannot load it ({e})"
        ) from e
    if not isinstance(cls, type):
        raise DifficultyConfigError(f"data.sampler.class_name={class_name}: {cls!r} is not a class")
    sampler = cls(data_source=dataset, data_config=data_config)
    if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
        raise DifficultyConfigError(
            f"data.sampler.class_name={class_name}: a sampler must define __iter__ and __len__ "
            "(subclass torch.utils.data.Sampler)"
        )
    return sampler


def _wrap_create_rl_sampler(original: Callable) -> Callable:
    @functools.wraps(original)
    def create_rl_sampler(data_config, dataset):
        sampler_cfg = data_config.get("sampler", None) if hasattr(data_config, "get") else None
        if sampler_cfg is not None and sampler_cfg.get("class_path", None):
            return build_sampler(data_config, dataset)
        return original(data_config, dataset)

    setattr(create_rl_sampler, WRAPPED_ATTR, original)
    return create_rl_sampler


# ---------------------------------------------------------------------------------------------- metrics

_metrics_failed = False


def difficulty_metrics(batch: Any) -> dict[str, float]:
    """``difficulty/*`` metrics of the active sampler for a legacy-trainer batch (``{}`` when not applicable)."""
    global _metrics_failed
    module = sys.modules.get("verl_difficulty.trainer.sampler")
    sampler = module.active_sampler() if module is not None else None
    if sampler is None:
        return {}
    fields = getattr(batch, "non_tensor_batch", None)
    if not fields or not ("extra_info" in fields or "index" in fields):
        return {}
    try:
        return sampler.observe_batch(batch, update=False)
    except Exception as e:  # metrics must never stop training
        if not _metrics_failed:
            _metrics_failed = True
            logger.warning("verl-difficulty: could not compute difficulty metrics: %r", e, exc_info=True)
        return {}


def _wrap_compute_data_metrics(original: Callable) -> Callable:
    @functools.wraps(original)
    def compute_data_metrics(*args, **kwargs):
        metrics = original(*args, **kwargs)
        batch = kwargs.get("batch", args[0] if args else None)
        extra = difficulty_metrics(batch)
        if extra:
            metrics.update(extra)
        return metrics

    setattr(compute_data_metrics, WRAPPED_ATTR, original)
    return compute_data_metrics


# ---------------------------------------------------------------------------------------------- patching

_TARGETS: dict[str, tuple[str, Callable]] = {
    SAMPLER_SOURCE[0]: (SAMPLER_SOURCE[1], _wrap_create_rl_sampler),
    METRICS_SOURCE[0]: (METRICS_SOURCE[1], _wrap_compute_data_metrics),
}


def is_wrapped(fn: Any) -> bool:
    return getattr(fn, WRAPPED_ATTR, None) is not None


def _patch(module) -> None:
    """Wrap the target function of ``module`` (a source module) and rebind it in every ``verl.*`` module."""
    name, factory = _TARGETS[module.__name__]
    with _lock:
        current = getattr(module, name, None)
        if current is None:
            logger.warning("verl-difficulty: %s.%s not found; verl changed, hook not installed", module.__name__, name)
            return
        if is_wrapped(current):
            wrapper, original = current, getattr(current, WRAPPED_ATTR)
        else:
            original, wrapper = current, factory(current)
            setattr(module, name, wrapper)
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or not (mod_name == "verl" or mod_name.startswith("verl.")):
                continue
            if getattr(mod, name, None) is original:
                setattr(mod, name, wrapper)


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then wraps the target function (everything else is forwarded)."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _patch(module)
        except Exception:  # never break verl's import
            logger.warning("verl-difficulty: could not wrap %s", module.__name__, exc_info=True)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Meta-path finder that hands the target modules to :class:`_PatchingLoader`."""

    verl_difficulty_hook = True

    def find_spec(self, fullname, path, target=None):
        if fullname not in _TARGETS or fullname in sys.modules:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "verl_difficulty_hook", False):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Wrap ``create_rl_sampler`` and ``compute_data_metrics`` now or on first import (idempotent)."""
    with _lock:
        if not any(getattr(f, "verl_difficulty_hook", False) for f in sys.meta_path):
            sys.meta_path.insert(0, _PatchOnImport())
        for module_name in _TARGETS:
            module = sys.modules.get(module_name)
            if module is not None:
                _patch(module)


def status() -> dict[str, bool]:
    """Which hooks are in place (a target module not imported yet counts as hooked if the finder is installed)."""
    finder = any(getattr(f, "verl_difficulty_hook", False) for f in sys.meta_path)
    out = {}
    for module_name, (name, _) in _TARGETS.items():
        module = sys.modules.get(module_name)
        out[f"{module_name}.{name}"] = is_wrapped(getattr(module, name, None)) if module is not None else finder
    return out


install()
