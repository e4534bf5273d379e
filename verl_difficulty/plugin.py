"""What verl imports at start-up, in every process: registers this package's verl components.

verl 0.9.x loads every ``verl.plugins`` entry point at ``import verl`` (this module is one, see ``setup.py``),
so the TaskRunner, reward workers and agent-loop workers on every Ray node all run it. On verl 0.7-0.8, or
with ``VERL_USE_EXTERNAL_PLUGINS=none``, use ``VERL_USE_EXTERNAL_MODULES=verl_difficulty.plugin`` instead.

Importing each module of :data:`MODULES` registers something:

- ``trainer.reward_manager``: the ``difficulty`` reward manager (``reward.reward_manager.name=difficulty``);
- ``trainer.advantage``: the ``grpo_difficulty`` advantage estimator;
- ``trainer.freeze``: the vision-tower freeze (``VERL_DIFFICULTY_FREEZE_VISION``);
- ``trainer.compat``: verl 0.7's ``data.sampler.class_path`` / ``class_name`` keys (a wrapper around verl's
  ``create_rl_sampler``) and the ``difficulty/*`` metrics of the legacy trainer (a wrapper around
  ``compute_data_metrics``), both installed lazily when verl first imports those functions.

verl swallows exceptions raised by plugins (it logs them at DEBUG level), so :func:`check_registered`
exists for tests and start-up checks that must fail loudly.
"""

from __future__ import annotations

import importlib

#: modules whose import registers something with verl
MODULES = (
    "verl_difficulty.trainer.reward_manager",
    "verl_difficulty.trainer.advantage",
    "verl_difficulty.trainer.freeze",
    "verl_difficulty.trainer.compat",
)

for _name in MODULES:
    importlib.import_module(_name)


def check_registered() -> dict[str, bool]:
    """Which of this package's components verl can find (raises nothing; for diagnostics)."""
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    from verl_difficulty.trainer import compat

    out = {
        "reward_manager:difficulty": "difficulty" in REWARD_MANAGER,
        "adv_estimator:grpo_difficulty": "grpo_difficulty" in ADV_ESTIMATOR_REGISTRY,
    }
    out.update({f"hook:{name}": ok for name, ok in compat.status().items()})
    return out
