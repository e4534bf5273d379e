"""Fixtures shared by the whole suite: tiny offline models and the real sample data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _shared_data() -> Path | None:
    # ../shared/data beside the checkout (CI and a developer's clone); also found from a git worktree below it.
    candidates = [os.environ.get("VERL_DIFFICULTY_SHARED_DATA"), *(p / "shared" / "data" for p in REPO.parents)]
    for c in candidates:
        if c and (Path(c) / "mathv_testmini" / "testmini.jsonl").exists():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real MATH-V, Geometry3K, OCR and ICDAR samples). CI must have it."""
    path = _shared_data()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/data is missing in CI; set VERL_DIFFICULTY_SHARED_DATA")
        pytest.skip("../shared/data not found (set VERL_DIFFICULTY_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    """The small real subset shipped in ``examples/data``."""
    return REPO / "examples" / "data"


@pytest.fixture(scope="session")
def bundled_parquets(tmp_path_factory) -> dict[str, Path]:
    """The bundled subset converted once per session with :func:`convert_bundled` (strict: raises on any skip):
    ``{source name: parquet path}``."""
    from verl_difficulty.data.bundled import convert_bundled

    return convert_bundled(tmp_path_factory.mktemp("bundled_parquets"), quiet=True)


@pytest.fixture(scope="session")
def bundled_rows(bundled_parquets) -> dict[str, list[dict]]:
    """The converted bundled rows, ``{"mathv": [...], "mmocr_words": [...], ...}``; shared by the whole session,
    so deep-copy a row before changing it."""
    import pyarrow.parquet as pq

    return {name: pq.read_table(path).to_pylist() for name, path in bundled_parquets.items()}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint folder (seed 0), built once per test session."""
    from verl_difficulty.testing import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("models") / "tiny-qwen2_5_vl", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen2vl_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2-VL checkpoint folder (seed 0)."""
    from verl_difficulty.testing import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("models") / "tiny-qwen2_vl", seed=0, arch="qwen2_vl")


@pytest.fixture
def rlhf_config(tmp_path):
    """Build the ``data`` config verl's ``RLHFDataset`` reads, with overrides.

    ``filter_overlong_prompts_workers`` is None (filter in-process): verl's default of one worker makes
    ``datasets`` fork, and a fork after torch has started its OpenMP thread pool (any earlier forward pass in
    the same test process) deadlocks the child inside libgomp.
    """
    from omegaconf import OmegaConf

    def make(**overrides):
        base = {
            "max_prompt_length": 4096,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": None,
            "cache_dir": str(tmp_path / "verl-cache"),
        }
        base.update(overrides)
        return OmegaConf.create(base)

    return make


@pytest.fixture(scope="session")
def seeing_model_dir() -> Path:
    """The trained seeing model (a tiny Qwen2.5-VL that reads the synthetic tasks), built once and cached.

    Trained on first use (a few minutes on two CPU cores) into ``$VERL_DIFFICULTY_CACHE`` or the checkout's
    git-ignored ``.cache/``; later sessions reuse it. The folder holds ``eval.json`` (held-out accuracy per task,
    per difficulty knob and against mask ratio) next to the checkpoint.
    """
    from verl_difficulty.synthetic import seeing_model

    return seeing_model(log=None)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    """The transformers engine over the tiny random Qwen2.5-VL, on CPU, small images; one per session."""
    from verl_difficulty.engines import build_engine
    from verl_difficulty.testing import SMALL_IMAGES

    engine = build_engine(
        "transformers", str(tiny_model_dir), device="cpu", batch_size=4, processor_kwargs=SMALL_IMAGES, cpu_threads=1
    )
    yield engine
    engine.close()
