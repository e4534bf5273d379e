# ruff: noqa: F811  (pytest fixtures imported from recipe_data are test arguments)
"""verl 0.9.1's SFT trainer (``torchrun -m verl.trainer.sft_trainer``) for two steps on CPU, on converter output.

verl 0.9.1 has no CPU platform: :mod:`verl_difficulty.testing.cpu_platform` registers one (gloo, no device
memory) and ``VERL_ENGINE_DEVICE=cuda`` selects the FSDP engine class verl registers for CUDA, which runs on CPU
with FSDP2 (FSDP1 refuses CPU modules with ``sync_module_states``). Everything else is verl's own code: Hydra
config, MultiTurnSFTDataset, FSDP engine, optimizer, checkpoint manager and Hugging Face export. The vision
encoder is frozen through :mod:`verl_difficulty.trainer.freeze`; the export must keep its weights exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from recipe_data import recipe_rows_parquet, recipe_scored_parquet  # noqa: F401  (fixtures)

from verl_difficulty.trainer.sft_data import convert_to_sft

REPO = Path(__file__).resolve().parents[2]


def _state(path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=torch.float32)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.timeout(900)
def test_verl_sft_trainer_two_steps_on_cpu_vision_frozen(tmp_path, recipe_scored_parquet, tiny_model_dir):
    data = tmp_path / "sft.parquet"
    report = convert_to_sft(recipe_scored_parquet, data, metric="pism", keep=["mid", "hard"], max_pixels=28 * 28 * 16)
    assert report.written >= 4
    ckpt = tmp_path / "ckpt"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VERL_PLATFORM": "cpu",
        "VERL_ENGINE_DEVICE": "cuda",
        "VERL_USE_EXTERNAL_MODULES": "verl_difficulty.testing.cpu_platform",
        "VERL_DIFFICULTY_FREEZE_VISION": "vision+merger",
        "OMP_NUM_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=1",
        "-m",
        "verl.trainer.sft_trainer",
        f"data.train_files={data}",
        "data.train_batch_size=2",
        "data.micro_batch_size_per_gpu=1",
        "data.use_dynamic_bsz=False",
        "data.num_workers=0",
        "data.max_length=2048",
        f"model.path={tiny_model_dir}",
        "model.use_remove_padding=False",
        "+model.override_config.attn_implementation=sdpa",
        "engine.strategy=fsdp2",
        "engine.use_torch_compile=False",
        "engine.dtype=float32",
        "optim.lr=1e-3",
        "optim.lr_scheduler_type=cosine",
        "optim.lr_warmup_steps_ratio=0.1",
        "trainer.device=cpu",
        "trainer.n_gpus_per_node=1",
        "trainer.total_epochs=1",
        "trainer.total_training_steps=2",
        "trainer.logger=[console]",
        f"trainer.default_local_dir={ckpt}",
        "checkpoint.save_contents=[model,hf_model]",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=840, cwd=tmp_path)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-6000:]
    assert "froze" in log and "vision+merger" in log

    losses = [float(x) for x in re.findall(r"train/loss:([0-9.eE+-]+)", log)]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses))), losses
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    export = ckpt / "global_step_2" / "huggingface"
    assert (export / "config.json").is_file()

    before, after = _state(tiny_model_dir), _state(export)
    assert before.keys() == after.keys()
    visual = [k for k in before if ".visual." in f".{k}"]
    language = [k for k in before if k not in visual]
    assert visual and language
    assert all(torch.equal(before[k], after[k]) for k in visual), "frozen vision weights changed"
    changed = [k for k in language if not torch.equal(before[k], after[k])]
    assert len(changed) > len(language) // 2, f"only {len(changed)}/{len(language)} language weights trained"
