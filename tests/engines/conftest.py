"""Fixtures for the engine tests: real bundled rows and one tiny-model engine per session."""

from __future__ import annotations

import pytest

#: small images keep the tiny model fast on 2 CPU cores (at most 64 merged visual tokens per image)
SMALL_IMAGES = {"max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}


@pytest.fixture(scope="session")
def bundled_rows(tmp_path_factory) -> dict[str, list[dict]]:
    """The bundled real subset converted once: ``{"mathv": [...], "mmocr_words": [...], ...}`` (verl rows)."""
    import pyarrow.parquet as pq

    from verl_difficulty.data.bundled import convert_bundled

    paths = convert_bundled(tmp_path_factory.mktemp("engine_rows"), quiet=True)
    return {name: pq.read_table(path).to_pylist() for name, path in paths.items()}


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    """The transformers engine over the tiny random Qwen2.5-VL, on CPU, small images."""
    from verl_difficulty.engines import build_engine

    engine = build_engine(
        "transformers", str(tiny_model_dir), device="cpu", batch_size=4, processor_kwargs=SMALL_IMAGES, cpu_threads=1
    )
    yield engine
    engine.close()
