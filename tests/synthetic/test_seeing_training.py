"""Training machinery on a seconds-long variant ("train small"): determinism, the cache, atomic builds, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_difficulty.synthetic import SeeingModelSpec, build_seeing_model, seeing_model, small_spec
from verl_difficulty.synthetic.train import TrainSettings, tiny_config, train

REPO = Path(__file__).resolve().parents[2]


def _train_small(tmp_path: Path, name: str, **overrides):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from verl_difficulty.testing import build_tiny_vlm

    settings = TrainSettings(**{"steps": 12, "batch_size": 8, "warmup_steps": 3, "processes": 1, **overrides})
    path = build_tiny_vlm(tmp_path / name, tiny_config(settings))
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    log = train(model, processor, settings)
    return model, log


def test_training_is_deterministic_for_a_seed(tmp_path):
    """Same seed and settings: the same loss curve and weights. Tolerance: 1e-6 absolute on every weight and
    loss (one process, one thread: in practice the runs are bit-identical on one machine)."""
    import torch

    a, log_a = _train_small(tmp_path, "a")
    b, log_b = _train_small(tmp_path, "b")
    assert log_a["losses"] == pytest.approx(log_b["losses"], abs=1e-6)
    assert log_a["losses"][-1] < log_a["losses"][0]
    sa, sb = a.state_dict(), b.state_dict()
    assert max(float((sa[k] - sb[k]).abs().max()) for k in sa) <= 1e-6
    c, log_c = _train_small(tmp_path, "c", seed=1)
    assert log_c["losses"] != pytest.approx(log_a["losses"], abs=1e-3)
    assert not torch.equal(c.lm_head.weight, a.lm_head.weight)


def test_two_process_training_matches_one_process(tmp_path):
    """Data parallel (gloo, two worker processes) = one process up to the order of float additions."""
    one, log_one = _train_small(tmp_path, "one", steps=4)
    two, log_two = _train_small(tmp_path, "two", steps=4, processes=2)
    assert log_two["losses"] == pytest.approx(log_one["losses"], abs=1e-4)
    s1, s2 = one.state_dict(), two.state_dict()
    assert max(float((s1[k] - s2[k]).abs().max()) for k in s1) <= 1e-4


def test_cache_builds_once_and_reuses(tmp_path):
    spec = small_spec(steps=3)
    path = seeing_model(spec, cache_dir=tmp_path, log=None)
    assert path.parent == tmp_path / "seeing-model" and path.name == spec.key()
    for f in ("config.json", "model.safetensors", "eval.json", "seeing_model.json", "tokenizer.json"):
        assert (path / f).is_file(), f
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    again = seeing_model(spec, cache_dir=tmp_path, log=None)
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
    # another setting is another model
    other = small_spec(steps=4)
    assert other.key() != spec.key()
    # nothing else is left in the cache folder (no temporary build folders)
    left = sorted(p.name for p in (tmp_path / "seeing-model").iterdir() if not p.name.endswith(".lock"))
    assert left == [spec.key()]


def test_env_variable_moves_the_cache(tmp_path, monkeypatch):
    from verl_difficulty.synthetic.seeing_model import cache_root

    monkeypatch.setenv("VERL_DIFFICULTY_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("VERL_DIFFICULTY_CACHE")
    assert cache_root() == REPO / ".cache"


def test_interrupted_build_leaves_no_model(tmp_path, monkeypatch):
    import verl_difficulty.synthetic.evaluate as evaluate_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "evaluate", interrupted)
    spec = small_spec(steps=2)
    with pytest.raises(KeyboardInterrupt):
        seeing_model(spec, cache_dir=tmp_path, log=None)
    folder = tmp_path / "seeing-model"
    assert not (folder / spec.key()).exists()
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []


def test_rebuild_replaces_the_folder_atomically(tmp_path):
    spec = small_spec(steps=2)
    out = build_seeing_model(tmp_path / "m", spec, log=None)
    (out / "marker").write_text("old")
    build_seeing_model(tmp_path / "m", spec, log=None)
    assert not (out / "marker").exists() and (out / "eval.json").is_file()


def test_spec_key_depends_on_versions_and_settings(monkeypatch):
    base = SeeingModelSpec().key()
    assert SeeingModelSpec().key() == base
    module_globals = SeeingModelSpec.key.__globals__  # the module the key is computed in
    monkeypatch.setitem(module_globals, "GENERATOR_VERSION", module_globals["GENERATOR_VERSION"] + 1)
    assert SeeingModelSpec().key() != base
    monkeypatch.undo()
    assert SeeingModelSpec().key() == base
    assert SeeingModelSpec(train=TrainSettings(steps=7)).key() != base


def _cli(*args, env_extra=None, timeout=600):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "verl_difficulty.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
    )


def test_seeing_model_cli_trains_and_prints_tables(tmp_path):
    out = tmp_path / "copy"
    args = ["seeing-model", "--steps", "2", "--batch-size", "4", "--eval-n", "4", "--processes", "1"]
    r = _cli(*args, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "held-out accuracy" in r.stdout and "accuracy against mask ratio" in r.stdout
    for task in ("counting", "ocr", "grounding", "math"):
        assert task in r.stdout
    assert (out / "eval.json").is_file() and (out / "model.safetensors").is_file()
    r = _cli(*args, "--cache-dir", str(tmp_path / "cache"), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data["report"]["accuracy"]) == {"counting", "ocr", "grounding", "math", "all"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "0"], "--steps"),
        (["--tasks", "counting,chess"], "tasks"),
        (["--processes", "0"], "processes"),
        (["--eval-n", "0"], "--eval-n"),
    ],
)
def test_seeing_model_cli_bad_options(tmp_path, args, message):
    r = _cli("seeing-model", "--cache-dir", str(tmp_path), *args)
    assert r.returncode == 2 and message in r.stderr, (r.stdout, r.stderr)


def test_synth_cli_writes_rows_verl_loads(tmp_path, tiny_model_dir, rlhf_config):
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    from verl_difficulty.data import validate_row
    from verl_difficulty.data.convert import read_rows

    r = _cli("synth", "--out", str(tmp_path), "--n", "12", "--split", "val", "--seed", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "val.parquet"
    rows = read_rows(path)
    assert len(rows) == 12 and all(validate_row(row) == [] for row in rows)
    assert {row["extra_info"]["task"] for row in rows} == {"counting", "ocr", "grounding", "math"}
    # identical to generating in-process (seeded from the ids)
    from verl_difficulty.synthetic import generate_rows

    same = generate_rows(12, split="val", seed=3)
    assert [x["images"][0]["bytes"] for x in rows] == [x["images"][0]["bytes"] for x in same]
    # with the system message the seeing model is trained with, unless told otherwise
    assert [list(map(dict, x["prompt"])) for x in rows] == [x["prompt"] for x in same]
    assert rows[0]["prompt"][0]["role"] == "system" and "<answer>" in rows[0]["prompt"][0]["content"]
    r = _cli("synth", "--out", str(tmp_path / "bare.parquet"), "--n", "2", "--no-system-prompt", "--quiet")
    assert r.returncode == 0, r.stderr
    assert [m["role"] for m in read_rows(tmp_path / "bare.parquet")[0]["prompt"]] == ["user"]

    tokenizer, processor = hf_tokenizer(str(tiny_model_dir)), hf_processor(str(tiny_model_dir))
    config = rlhf_config(max_prompt_length=1024, truncation="error", return_raw_chat=True)
    dataset = RLHFDataset(data_files=[str(path)], tokenizer=tokenizer, config=config, processor=processor)
    assert len(dataset) == 12, "filter_overlong_prompts dropped synthetic rows"
    items = [dataset[i] for i in range(len(dataset))]
    for item in items:
        parts = [c for m in item["raw_prompt"] if isinstance(m["content"], list) for c in m["content"]]
        assert sum(c["type"] == "image" for c in parts) == 1
        images, _, _ = RLHFDataset._process_multi_modal_info(
            item["raw_prompt"], image_patch_size=dataset.image_patch_size, config=dataset.config
        )
        meta = json.loads(item["extra_info"]["meta"])
        # qwen_vl_utils keeps the stored size (multiples of 28, at least 4 visual tokens): boxes stay valid
        assert images[0].size == (meta["width"], meta["height"])
    batch = collate_fn(items)
    assert len(batch["raw_prompt"]) == 12


def test_synth_cli_bad_options(tmp_path):
    r = _cli("synth", "--out", str(tmp_path), "--n", "5", "--difficulty", "0.9,0.1")
    assert r.returncode == 2 and "difficulty" in r.stderr
    r = _cli("synth", "--out", str(tmp_path), "--n", "5", "--image-size", "100")
    assert r.returncode == 2 and "image_size" in r.stderr
    r = _cli("synth", "--out", str(tmp_path), "--n", "5", "--tasks", "ocr,poetry")
    assert r.returncode == 2 and "poetry" in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _cli("synth", "--out", str(blocker / "sub"), "--n", "2")
    assert r.returncode == 1 and "cannot write" in r.stderr
