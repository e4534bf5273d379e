"""Fixtures for the pipeline tests: real bundled rows as input parquets, and a way to run the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_input(tmp_path):
    """``write_input(rows, name="in.parquet", row_group_size=...)`` -> a verl parquet with exactly ``rows``."""
    from verl_difficulty.data.convert import write_parquet

    def write(rows: list[dict], name: str = "in.parquet") -> Path:
        return write_parquet(rows, tmp_path / name)

    return write
