"""Fixtures for the trainer tests: scored parquets from the bundled real rows, verl configs, the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from scored_data import build_scored, source_rows

import verl_difficulty.plugin  # noqa: F401  (the hooks the entry point installs in every verl process)


@pytest.fixture(scope="session")
def real_rows(bundled_parquets) -> list[dict]:
    """The 90 converted rows of examples/data (MATH-V, Geometry3K, MMOCR, ICDAR grounding, ms-swift counting)."""
    return source_rows(bundled_parquets)


@pytest.fixture(scope="session")
def scored(real_rows, tmp_path_factory):
    """(train parquet scored with PISM, PISM tier per row, val parquet) — row 7 failed, row 13 unscored."""
    root = tmp_path_factory.mktemp("scored")
    train, tiers = build_scored(root / "train.parquet", real_rows)
    val, _ = build_scored(root / "val.parquet", real_rows[:12])
    return train, tiers, val


@pytest.fixture(scope="session")
def unscored_parquet(real_rows, tmp_path_factory) -> Path:
    """Converted rows without a difficulty column (never scored)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.data import arrow_schema

    path = tmp_path_factory.mktemp("unscored") / "train.parquet"
    cols = {name: [r[name] for r in real_rows] for name in arrow_schema().names}
    pq.write_table(pa.Table.from_pydict(cols, schema=arrow_schema()), path)
    return path


@pytest.fixture(scope="session")
def verl_stack(tiny_model_dir):
    from verl.utils import hf_processor, hf_tokenizer

    return hf_tokenizer(str(tiny_model_dir)), hf_processor(str(tiny_model_dir))


@pytest.fixture
def compose(tmp_path):
    """``compose(*overrides)``: verl 0.9.1's own ppo_trainer.yaml composed with Hydra (+ a local cache dir)."""
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")

    def make(*overrides: str):
        base = [f"++data.cache_dir={tmp_path / 'verl-cache'}", "data.filter_overlong_prompts=False"]
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return hydra_compose(config_name="ppo_trainer", overrides=base + list(overrides))

    return make


@pytest.fixture
def make_dataset(verl_stack):
    """``make_dataset(data_config, files=None)`` -> the dataset verl's ``create_rl_dataset`` builds."""
    from verl.trainer.ppo.utils import create_rl_dataset

    tokenizer, processor = verl_stack

    def make(data_config, files=None):
        files = files if files is not None else data_config.train_files
        return create_rl_dataset(files, data_config, tokenizer, processor)

    return make
