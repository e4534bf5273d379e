"""Resume: a scoring run killed with SIGKILL mid-run and started again loses nothing and repeats nothing.

The run is the real CLI in a subprocess, scoring real bundled rows with the tiny Qwen2.5-VL through the
transformers engine. It is killed as soon as its first shards are on disk; the re-run keeps them (it says so),
scores the rest, and the assembled output holds every input row exactly once, in input order, with the same
records as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline_testutil import ENGINE_SETTINGS, REPO, cli_env, read_difficulty, run_cli


def _score_args(model: Path, data: Path, out: Path) -> list[str]:
    return [
        "score",
        "--metric",
        "passrate",
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--shard-size",
        "2",
        "--set",
        "passrate.n=3",
        "--set",
        "passrate.max_new_tokens=12",
        "--set",
        "engine.cpu_threads=1",
        "--set",
        f"engine.processor_kwargs.max_pixels={ENGINE_SETTINGS['processor_kwargs']['max_pixels']}",
        "--no-progress",
    ]


def test_kill_9_then_rerun_keeps_every_row_exactly_once(tiny_model_dir, bundled_rows, write_input, tmp_path):
    rows = bundled_rows["mathv"][:8] + bundled_rows["mmocr_words"][:4] + bundled_rows["geo3k"][:4]
    data = write_input(rows)
    out = tmp_path / "killed"
    shard_dir = out / "shards" / "passrate"
    total_shards = len(rows) // 2

    proc = subprocess.Popen(
        [sys.executable, "-m", "verl_difficulty.cli", *_score_args(tiny_model_dir, data, out)],
        env=cli_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if shard_dir.is_dir() and len(list(shard_dir.glob("*.parquet"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stdout.read()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = sorted(p.name for p in shard_dir.glob("*.parquet"))
    assert 2 <= len(done_before) < total_shards, done_before
    assert not (out / "scored.parquet").exists(), "a killed run must not leave an assembled output"
    # no half-written shard under its final name: every file there is a complete parquet with its rows
    import pyarrow.parquet as pq

    for name in done_before:
        assert pq.read_table(shard_dir / name).num_rows == 2
    mtimes = {name: (shard_dir / name).stat().st_mtime_ns for name in done_before}

    again = run_cli(*_score_args(tiny_model_dir, data, out))
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(done_before)} finished shard(s) kept" in again.stderr
    # the finished shards were reused, not recomputed
    assert {name: (shard_dir / name).stat().st_mtime_ns for name in done_before} == mtimes

    ids, values = read_difficulty(out / "scored.parquet")
    assert ids == [r["extra_info"]["index"] for r in rows], "every input row exactly once, in input order"
    assert all(v["passrate"] is not None and v["passrate"]["attempts"] == 3 for v in values)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == len(rows) and summary["shards_skipped"] == len(done_before)
    assert sum(summary["metrics"]["passrate"]["tiers"].values()) + summary["metrics"]["passrate"]["failed"] == len(rows)

    # the same records as a run that was never interrupted
    fresh = run_cli(*_score_args(tiny_model_dir, data, tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    assert read_difficulty(tmp_path / "fresh" / "scored.parquet") == (ids, values)


def _oracle_args(tmp_path, data, out, k: int = 3) -> list[str]:
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({"default": {"breaking_ratio": 0.45}}))
    return ["score", "--metric", "pism", "--engine", "oracle", "--model", str(oracle), "--data", str(data),
            "--out", str(out), "--shard-size", "2", "--set", f"pism.k={k}", "--no-progress"]  # fmt: skip


def test_rerun_of_a_finished_run_scores_nothing(bundled_rows, write_input, tmp_path):
    data = write_input(bundled_rows["mmocr_words"][:4])
    args = _oracle_args(tmp_path, data, tmp_path / "run")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    before = read_difficulty(tmp_path / "run" / "scored.parquet")
    assert [v["pism"]["tier"] for v in before[1]] == ["mid"] * 4
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "resuming: 2 finished shard(s) kept, 0 to run" in second.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["shards_run"] == 0
    assert read_difficulty(tmp_path / "run" / "scored.parquet") == before


def test_changed_settings_are_refused_unless_overwrite(bundled_rows, write_input, tmp_path):
    data = write_input(bundled_rows["mmocr_words"][:2])
    assert run_cli(*_oracle_args(tmp_path, data, tmp_path / "run", k=3)).returncode == 0
    changed = _oracle_args(tmp_path, data, tmp_path / "run", k=2)
    refused = run_cli(*changed)
    assert refused.returncode == 2
    assert "metric 'pism' was scored with other settings" in refused.stderr
    assert "settings.k: 3 -> 2" in refused.stderr
    forced = run_cli(*changed, "--overwrite")
    assert forced.returncode == 0, forced.stderr
    _, values = read_difficulty(tmp_path / "run" / "scored.parquet")
    # λ* = 0.5: five passing ratios at one attempt each (p_correct 1), then k failing attempts at 0.5
    assert [v["pism"]["attempts"] for v in values] == [5 + 2, 5 + 2]
