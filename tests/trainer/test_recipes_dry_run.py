# ruff: noqa: F811  (pytest fixtures imported from recipe_data are test arguments)
"""Every recipe composes against verl 0.9.1: the real scripts, ``DRY_RUN=1``, verl's own ``--cfg job`` output.

The recipes run in subprocesses (a few at a time: each composition imports verl); each printed config is
parsed and checked for the paper's hyper-parameters, the selection keys, the estimator and reward manager, that
a user override passed through ``"$@"`` wins, and that verl's ``validate_config`` accepts it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from recipe_data import recipe_rows_parquet, recipe_scored_parquet  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
MARKER = re.compile(r"^# ===== verl-difficulty recipe (\S+): stage (\S+) =====$", re.M)
USER_ARGS = ["trainer.experiment_name=user-wins", "actor_rollout_ref.actor.optim.lr=1e-6"]

#: recipe -> (extra environment, stages printed)
CASES = {
    "grpo_pism_hard": ({"SELECT": "sampler"}, ["grpo"]),
    "grpo_pism_mid_hard": ({}, ["grpo"]),
    "grpo_cmab_mid_hard": ({}, ["grpo"]),
    "grpo_random_matched": ({"SEED": "7"}, ["grpo"]),
    "grpo_full": ({"DATA": "/data/a.parquet,/data/b.parquet"}, ["grpo"]),
    "sft_then_grpo": ({}, ["sft", "grpo"]),
    "grpo_difficulty_prior": ({}, ["stage1", "stage2"]),
}


def _env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "NGPUS", "NNODES", "DATA", "MODEL"))}
    env.update(
        PYTHON=sys.executable,
        PYTHONPATH=str(REPO),
        OUT=str(tmp / "out"),
        SCORES=str(tmp / "scores"),
        NGPUS="8",
        NNODES="2",
    )
    env.update(extra)
    return env


def _run_recipe(name: str, env: dict, args=(), timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(RECIPES / f"{name}.sh"), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Run every recipe once with DRY_RUN=1 and the user overrides; {name: (result, {stage: config}, tmp)}."""

    tmps = {name: tmp_path_factory.mktemp(name) for name in CASES}  # here: mktemp is not thread-safe

    def one(name):
        extra, _ = CASES[name]
        tmp = tmps[name]
        res = _run_recipe(name, _env(tmp, DRY_RUN="1", **extra), USER_ARGS)
        stages = {}
        if res.returncode == 0:
            parts = MARKER.split(res.stdout)
            for recipe, stage, body in zip(parts[1::3], parts[2::3], parts[3::3]):
                assert recipe == name
                stages[stage] = OmegaConf.create(yaml.safe_load(body))
        return name, (res, stages, tmp)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, CASES))


def _validate(cfg):
    """verl's own start-up validation of a PPO config (what main_ppo runs before training)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def _check_paper_grpo(cfg, tmp: Path):
    a, r = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert r.n == 8 and r.temperature == 1.0 and r.name == "vllm"
    assert a.optim.lr == pytest.approx(1e-6)  # the user's override beat the recipe's 5e-7
    assert a.optim.lr_warmup_steps_ratio == pytest.approx(0.01)
    assert a.use_kl_loss is True and a.kl_loss_coef == pytest.approx(0.001)
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.trainer.total_epochs == 1
    assert cfg.data.train_batch_size == 8 and a.ppo_mini_batch_size == 8
    assert cfg.data.max_response_length == 1024
    assert cfg.data.mm_processor_kwargs.max_pixels == 1254400
    assert a.freeze_vision_tower is True and a.strategy == "fsdp2"
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_DIFFICULTY_FREEZE_VISION == "vision"
    assert "hf_model" in a.checkpoint.save_contents
    assert cfg.reward.reward_manager.name == "difficulty" and cfg.reward.reward_manager.source == "register"
    assert cfg.reward.reward_kwargs.format_weight == 0.0 and cfg.reward.reward_kwargs.acc_weight == 1.0
    assert cfg.trainer.experiment_name == "user-wins"
    assert cfg.trainer.n_gpus_per_node == 8 and cfg.trainer.nnodes == 2
    assert str(cfg.trainer.default_local_dir).startswith(str(tmp / "out"))
    # validation rows: a separate file (the difficulty dataset class tells splits apart by file name)
    train0 = Path(list(cfg.data.train_files)[0])
    assert list(cfg.data.val_files) == [str(tmp / "out" / "data" / f"val_{train0.name}")]
    assert cfg.data.val_max_samples == 64
    _validate(cfg)


@pytest.mark.parametrize("name", list(CASES))
def test_recipe_composes(dry_runs, name):
    res, stages, tmp = dry_runs[name]
    assert res.returncode == 0, res.stderr[-4000:]
    assert list(stages) == CASES[name][1]
    assert "DRY_RUN" in res.stderr
    assert not (tmp / "out").exists() and not (tmp / "scores").exists(), "DRY_RUN must not write anything"
    scored = str(tmp / "scores")
    if name == "grpo_full":
        assert "would score" not in res.stderr
    else:
        assert "would score: verl-difficulty score --metric" in res.stderr

    if name in ("grpo_pism_mid_hard", "grpo_cmab_mid_hard"):
        metric = name.split("_")[1]
        cfg = stages["grpo"]
        _check_paper_grpo(cfg, tmp)
        assert cfg.algorithm.adv_estimator == "grpo"
        assert list(cfg.data.train_files) == [str(tmp / "out" / "data" / f"train_{metric}_mid_hard.parquet")]
        assert "sampler" not in cfg.data  # split mode: verl's own dataset and sampler
        assert f"--metric {metric} --keep mid,hard" in res.stderr

    elif name == "grpo_pism_hard":
        cfg = stages["grpo"]
        _check_paper_grpo(cfg, tmp)
        assert list(cfg.data.train_files) == [f"{scored}/pism/scored.parquet"]
        assert cfg.data.sampler.class_path == "pkg://verl_difficulty.trainer.sampler"
        assert cfg.data.sampler.class_name == "DifficultySampler"
        assert cfg.data.difficulty.metric == "pism"
        assert list(cfg.data.difficulty.keep) == ["hard"]
        assert dict(cfg.data.difficulty.weights) == {"hard": 1.0}

    elif name == "grpo_random_matched":
        cfg = stages["grpo"]
        _check_paper_grpo(cfg, tmp)
        assert list(cfg.data.train_files)[0].endswith("train_random_pism_mid_hard_seed7.parquet")
        assert "--random-matched --seed 7" in res.stderr

    elif name == "grpo_full":
        cfg = stages["grpo"]
        _check_paper_grpo(cfg, tmp)
        assert list(cfg.data.train_files) == ["/data/a.parquet", "/data/b.parquet"]

    elif name == "sft_then_grpo":
        sft, grpo = stages["sft"], stages["grpo"]
        assert sft.model.path == "Qwen/Qwen2.5-VL-7B-Instruct"
        assert sft.optim.lr == pytest.approx(1e-6) and sft.optim.lr_scheduler_type == "cosine"
        assert sft.optim.lr_warmup_steps_ratio == pytest.approx(0.1)
        assert sft.trainer.total_epochs == 5 and sft.data.train_batch_size == 128
        assert sft.engine.strategy == "fsdp2" and "hf_model" in sft.checkpoint.save_contents
        assert sft.data.train_files == str(tmp / "out" / "data" / "sft.parquet")
        assert sft.trainer.experiment_name == "sft_then_grpo-sft"  # "$@" goes to the GRPO stage only
        assert "would convert: verl-difficulty sft-data" in res.stderr and "--metric pism --keep mid" in res.stderr
        _check_paper_grpo(grpo, tmp)
        assert grpo.actor_rollout_ref.model.path == str(tmp / "out" / "sft" / "global_step_LAST" / "huggingface")
        assert list(grpo.data.train_files)[0].endswith("grpo_pism_hard.parquet")

    elif name == "grpo_difficulty_prior":
        s1, s2 = stages["stage1"], stages["stage2"]
        for cfg in (s1, s2):
            _check_paper_grpo(cfg, tmp)
            assert cfg.algorithm.adv_estimator == "grpo_difficulty"
            assert cfg.algorithm.difficulty_weight.enable is True
            assert cfg.algorithm.difficulty_weight.family == "exponential"
        assert list(s1.data.train_files) == [str(tmp / "out" / "data" / "stage1.parquet")]
        assert list(s2.data.train_files) == [str(tmp / "out" / "data" / "stage2.parquet")]
        assert s1.data.custom_cls.path is None  # no hints in stage 1
        assert s2.data.custom_cls.path == "pkg://verl_difficulty.trainer.dataset"
        assert s2.data.custom_cls.name == "DifficultyDataset"
        assert s2.data.difficulty.hints.enable is True and list(s2.data.difficulty.hints.tiers) == ["hard"]
        assert s2.data.difficulty.metric == "passrate"
        assert s2.data.difficulty.keep == "all"  # the stage file is the selection: the class must not filter it
        stage1_export = tmp / "out" / "stage1" / "checkpoints" / "global_step_LAST" / "actor" / "huggingface"
        assert s2.actor_rollout_ref.model.path == str(stage1_export)
        assert "--two-stage" in res.stderr


# ---- early, clear failures (no verl import needed: fast) ------------------------------------------------------


def _fake_bin(tmp: Path, gpu: bool) -> str:
    """A PATH entry whose ``nvidia-smi`` reports no GPU (or one GPU), whatever machine the suite runs on."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\n" + ("echo 'GPU 0: Fake (UUID: x)'\n" if gpu else "exit 9\n"))
    smi.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


@pytest.mark.parametrize(
    ("recipe", "extra", "message"),
    [
        ("grpo_pism_hard", {"MODEL": "/nonexistent/model"}, "MODEL=/nonexistent/model: no such folder"),
        ("grpo_pism_mid_hard", {"MODEL": "not a model"}, "neither a local checkpoint folder nor a hub id"),
        ("grpo_cmab_mid_hard", {"GPU": "0"}, "no GPU found (nvidia-smi)"),
        ("sft_then_grpo", {"GPU": "0"}, "no GPU found (nvidia-smi)"),
        ("grpo_pism_hard", {"GPU": "1"}, "DATA is not set"),
        ("grpo_random_matched", {"GPU": "1", "DATA": "/nonexistent/train.parquet"}, "/nonexistent/train.parquet"),
        ("grpo_full", {"GPU": "1", "DATA": "/nonexistent/train.parquet"}, "DATA: /nonexistent/train.parquet: no such"),
        ("grpo_difficulty_prior", {"GPU": "1", "SCORED": "/nonexistent/run"}, "SCORED=/nonexistent/run"),
        ("grpo_pism_hard", {"FREEZE_VISION": "all"}, "FREEZE_VISION=all"),
        ("grpo_pism_hard", {"NGPUS": "eight"}, "must be whole numbers"),
    ],
)
def test_recipes_fail_early_with_a_clear_message(tmp_path, recipe, extra, message):
    extra = dict(extra)
    gpu = extra.pop("GPU", None)
    env = _env(tmp_path, **extra)
    if gpu is not None:
        env["PATH"] = _fake_bin(tmp_path, gpu == "1")
    res = _run_recipe(recipe, env, timeout=120)
    assert res.returncode == 2, (res.stdout[-2000:], res.stderr[-2000:])
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_local_model_folder_is_checked(tmp_path):
    """A local MODEL folder without config.json is refused before anything runs."""
    (tmp_path / "empty-model").mkdir()
    res = _run_recipe("grpo_full", _env(tmp_path, MODEL=str(tmp_path / "empty-model"), DRY_RUN="1"), timeout=120)
    assert res.returncode == 2 and "has no config.json" in res.stderr


def test_shell_scripts_parse():
    for script in [*RECIPES.glob("*.sh"), *RECIPES.glob("slurm/*.sbatch")]:
        res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert res.returncode == 0, f"{script}: {res.stderr}"


def test_common_helpers_select_rows_and_find_exports(tmp_path, recipe_scored_parquet):
    """The non-dry paths of common.sh: a real `verl-difficulty split --keep`, Hydra lists, checkpoint exports."""
    import pyarrow.parquet as pq

    from verl_difficulty.difficulty import read_tiers

    ckpt = tmp_path / "ckpt"
    export = ckpt / "global_step_3" / "actor" / "huggingface"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    (ckpt / "latest_checkpointed_iteration.txt").write_text("3\n")
    script = f"""
set -euo pipefail
USER_ARGS=()
RECIPE=helpers
source {RECIPES}/common.sh
vd_split_keep pism mid,hard {tmp_path}/sel.parquet
echo "LIST=$(vd_hydra_list a.parquet,/x/b.parquet)"
echo "HF=$(vd_latest_hf {ckpt} actor)"
VAL_MAX_SAMPLES=3 vd_val_file {tmp_path}/sel.parquet
echo "VAL=$VAL_FILE"
vd_latest_hf {tmp_path}/nowhere actor
"""
    res = subprocess.run(
        ["bash", "-c", script],
        env=_env(tmp_path, SCORED=str(recipe_scored_parquet)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr[-3000:]
    assert "LIST=['a.parquet','/x/b.parquet']" in res.stdout
    assert f"HF={export}" in res.stdout
    val = tmp_path / "out" / "data" / "val_sel.parquet"
    assert f"VAL={val}" in res.stdout and pq.read_table(val).num_rows == 3
    assert "nowhere: no checkpoint written" in res.stderr
    tiers = list(read_tiers(recipe_scored_parquet, "pism"))
    selected = pq.read_table(tmp_path / "sel.parquet")
    assert selected.num_rows == sum(t in ("mid", "hard") for t in tiers) > 0
    assert set(read_tiers(selected, "pism")) == {"mid", "hard"}
