"""Fixtures for the data tests: running the example scripts, converted outputs.

``shared_data`` (``../shared/data``) and ``bundled_data`` (``examples/data``) come from ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_example(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``examples/data_preprocess/<name>.py`` in a subprocess importing this checkout's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / "data_preprocess" / f"{name}.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=120,
    )


@pytest.fixture(scope="session")
def run_example():
    """``run_example(name, *args)`` -> ``CompletedProcess`` of ``examples/data_preprocess/<name>.py``."""
    return _run_example


@pytest.fixture(scope="session")
def shared_parquets(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Every converter run once on the full shared samples (default options): ``{name: parquet}``."""
    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet

    out = tmp_path_factory.mktemp("shared_parquets")
    jobs = {
        "mathv": ("mathv", shared_data / "mathv_testmini" / "testmini.jsonl", {}),
        "geo3k": ("geo3k", shared_data / "geo3k_examples", {}),
        "geo3k_free": ("geo3k", shared_data / "geo3k_examples", {"free_form": True}),
        "mmocr_words": ("mmocr_words", shared_data / "ocr_mmocr" / "rec_words" / "labels.json", {}),
        "icdar_grounding": ("icdar_grounding", shared_data / "ocr_mmocr" / "icdar2015_toy", {"counting": True}),
    }
    paths = {}
    for name, (conv, src, opts) in jobs.items():
        report = convert_to_parquet(CONVERTERS[conv], src, out / f"{name}.parquet", quiet=True, **opts)
        assert not report.skipped, report.summary()
        paths[name] = out / f"{name}.parquet"
    return paths
