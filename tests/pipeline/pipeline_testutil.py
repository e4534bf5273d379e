"""Helpers for the pipeline tests: run the CLI in a subprocess, read a scored parquet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from verl_difficulty.testing import SMALL_IMAGES

REPO = Path(__file__).resolve().parents[2]
#: keep the tiny model fast on 2 cores: at most 64 merged visual tokens per image
ENGINE_SETTINGS = {"processor_kwargs": dict(SMALL_IMAGES), "batch_size": 8}


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``verl-difficulty ARGS`` in a subprocess importing this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "verl_difficulty.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=timeout,
    )


def read_difficulty(path: Path) -> tuple[list[str], list]:
    """``(sample ids, difficulty values)`` of a scored parquet, in row order."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["extra_info", "difficulty"])
    ids = [e["index"] for e in table.column("extra_info").to_pylist()]
    return ids, table.column("difficulty").to_pylist()
