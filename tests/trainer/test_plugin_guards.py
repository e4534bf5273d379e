"""Guards: fail loudly when verl moves or renames what the plug-in wraps or relies on.

verl swallows plug-in errors (DEBUG log), so a silent no-op is the failure mode these tests exist for.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_difficulty.trainer import compat

REPO = Path(__file__).resolve().parents[2]


def _run(code: str, **env) -> dict:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    full_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=300, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


CHECK = """
import importlib, json, sys
import verl  # loads the verl.plugins entry points, nothing else
before = {m: m in sys.modules for m in ("verl.trainer.ppo.utils", "verl.trainer.ppo.metric_utils")}
from verl_difficulty.trainer import compat
modules = {}
for name in compat.SAMPLER_IMPORTERS:
    mod = importlib.import_module(name)
    modules[name] = compat.is_wrapped(mod.create_rl_sampler)
for name in compat.METRICS_IMPORTERS:
    mod = importlib.import_module(name)
    modules[name + ":metrics"] = compat.is_wrapped(mod.compute_data_metrics)
from verl_difficulty.plugin import check_registered
print(json.dumps({"before": before, "modules": modules, "registered": check_registered()}))
"""


def test_fresh_process_gets_everything_through_the_entry_point():
    result = _run(CHECK)
    assert all(result["registered"].values()), result
    assert all(result["modules"].values()), result
    # `import verl` did not pull in the trainer stack: the wrappers are installed when verl imports it
    assert result["before"] == {"verl.trainer.ppo.utils": False, "verl.trainer.ppo.metric_utils": False}


def test_fresh_process_with_verl_use_external_modules():
    code = (
        "import json, verl\n"
        "from verl.trainer.ppo import utils\n"
        "from verl_difficulty.plugin import check_registered\n"
        "from verl_difficulty.trainer import compat\n"
        "print(json.dumps({**check_registered(), 'wrapped': compat.is_wrapped(utils.create_rl_sampler)}))"
    )
    result = _run(code, VERL_USE_EXTERNAL_PLUGINS="none", VERL_USE_EXTERNAL_MODULES="verl_difficulty.plugin")
    assert all(result.values()), result


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert names.get("verl_difficulty") == "verl_difficulty.plugin"
    assert "verl_difficulty=verl_difficulty.plugin" in (REPO / "setup.py").read_text()


def test_wrapped_functions_keep_their_signatures():
    from verl.trainer.ppo import metric_utils, utils

    sampler_fn = utils.create_rl_sampler
    assert compat.is_wrapped(sampler_fn)
    original = getattr(sampler_fn, compat.WRAPPED_ATTR)
    assert list(inspect.signature(original).parameters) == ["data_config", "dataset"]
    assert not compat.is_wrapped(original)
    metrics_fn = metric_utils.compute_data_metrics
    assert compat.is_wrapped(metrics_fn)
    assert list(inspect.signature(getattr(metrics_fn, compat.WRAPPED_ATTR)).parameters)[:2] == ["batch", "use_critic"]


def test_install_is_idempotent():
    from verl.trainer.ppo import ray_trainer, utils

    wrapper = utils.create_rl_sampler
    compat.install()
    importlib.reload(importlib.import_module("verl_difficulty.plugin"))
    assert utils.create_rl_sampler is wrapper and ray_trainer.create_rl_sampler is wrapper
    assert not compat.is_wrapped(getattr(wrapper, compat.WRAPPED_ATTR))  # never a wrapper of a wrapper
    assert sum(getattr(f, "verl_difficulty_hook", False) for f in sys.meta_path) == 1


@pytest.mark.parametrize(
    "owner, method, needles",
    [
        ("verl.trainer.ppo.ray_trainer:RayPPOTrainer", "_create_dataloader", ["create_rl_sampler(self.config.data"]),
        (
            "verl.trainer.ppo.ray_trainer:RayPPOTrainer",
            "fit",
            [
                "compute_data_metrics(batch=batch",
                "logger.log(data=metrics",
                "self.train_dataset.on_batch_end(batch=batch)",
            ],
        ),
        (
            "verl.trainer.ppo.v1.trainer_base:PPOTrainer",
            "_init_dataloader",
            ["sampler=create_rl_sampler(self.config.data"],
        ),
        (
            "verl.trainer.ppo.v1.trainer_base:PPOTrainer",
            "_build_replay_buffer",
            ["load_extern_type(custom_sampler.path, custom_sampler.name)", "refill_fn=self._add_prompts_to_generate"],
        ),
        (
            "verl.trainer.ppo.v1.trainer_base:PPOTrainer",
            "_step_once",
            ["self.replay_buffer.sample(", "metrics.update(off_policy_metrics)"],
        ),
        ("verl.trainer.main_ppo_v0:TaskRunner", "run", ["create_rl_sampler(config.data, train_dataset)"]),
    ],
)
def test_verl_still_calls_what_we_hook(owner, method, needles):
    module_name, cls_name = owner.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    cls = getattr(cls, "__ray_metadata__", None) and cls.__ray_metadata__.modified_class or cls
    source = inspect.getsource(getattr(cls, method))
    for needle in needles:
        assert needle in source, f"{owner}.{method} no longer contains {needle!r}: update verl_difficulty.trainer"


def test_replay_buffer_internals_we_override_exist():
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    assert list(inspect.signature(ReplayBuffer.sample).parameters) == [
        "self",
        "global_steps",
        "partition_id",
        "batch_size",
    ]
    assert list(inspect.signature(ReplayBuffer._clear_groups).parameters) == ["self", "partition_id", "uids"]
    assert "self._clear_groups(" in inspect.getsource(ReplayBuffer._evict_terminal_groups)
    assert "self._clear_groups(" in inspect.getsource(ReplayBuffer.sample)  # DAPO surplus
    assert ReplayBufferAsync.__mro__[1] is ReplayBuffer
    init = inspect.signature(ReplayBuffer.__init__).parameters
    for name in ("filter_groups_metric", "train_batch_size", "gen_batch_size", "max_inflight_gen_batches"):
        assert name in init, name
    assert hasattr(PPOTrainer, "_resolve_filter_groups_metric") and hasattr(PPOTrainer, "_add_prompts_to_generate")


def test_metrics_wrapper_is_a_no_op_without_difficulty_rows():
    """v1's metrics batch (no dataset fields) and other trainers' batches are left alone."""
    import numpy as np
    import torch
    from verl import DataProto
    from verl.trainer.ppo.metric_utils import compute_data_metrics

    n, p, r = 2, 3, 4
    batch = DataProto.from_dict(
        tensors={
            "token_level_scores": torch.ones(n, r),
            "token_level_rewards": torch.ones(n, r),
            "advantages": torch.zeros(n, r),
            "returns": torch.zeros(n, r),
            "prompts": torch.ones(n, p, dtype=torch.long),
            "responses": torch.ones(n, r, dtype=torch.long),
            "response_mask": torch.ones(n, r),
            "attention_mask": torch.ones(n, p + r),
        },
        non_tensors={"uid": np.array(["a", "b"], dtype=object)},
    )
    metrics = compute_data_metrics(batch=batch, use_critic=False)
    assert metrics and not any(k.startswith("difficulty/") for k in metrics)


def test_sampler_class_from_a_file_path_the_07_way(tmp_path):
    """``data.sampler.class_path`` may name a .py file; the class is built as ``cls(data_source=, data_config=)``."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import create_rl_sampler

    path = tmp_path / "my_sampler.py"
    path.write_text(
        "from torch.utils.data import Sampler\n"
        "class Reverse(Sampler):\n"
        "    def __init__(self, data_source, data_config):\n"
        "        self.n, self.step = len(data_source), data_config.sampler.step\n"
        "    def __iter__(self):\n"
        "        return iter(range(self.n - 1, -1, -self.step))\n"
        "    def __len__(self):\n"
        "        return len(range(self.n - 1, -1, -self.step))\n"
    )
    config = OmegaConf.create(
        {"shuffle": True, "sampler": {"class_path": str(path), "class_name": "Reverse", "step": 2}}
    )
    assert list(create_rl_sampler(config, list(range(7)))) == [6, 4, 2, 0]
