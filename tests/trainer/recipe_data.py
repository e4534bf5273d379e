"""Fixtures for the recipe / SFT tests: real rows (bundled Geometry3K + MATH-V) with difficulty records.

Imported by name into the test modules that use them (``from recipe_data import scored_parquet``), so this
directory's ``conftest.py`` stays with the sampler tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def recipe_rows_parquet(tmp_path_factory, bundled_data) -> Path:
    """Bundled Geometry3K + MATH-V rows converted by the real converters (images capped at 50k pixels)."""
    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet

    out = tmp_path_factory.mktemp("rows")
    parts = []
    for name, rel in (("geo3k", "geo3k"), ("mathv", "mathv_testmini/testmini.jsonl")):
        path = out / f"{name}.parquet"
        report = convert_to_parquet(CONVERTERS[name], bundled_data / rel, path, quiet=True, max_pixels=50_000, limit=6)
        assert report.written > 0, report.summary()
        parts.append(path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(p) for p in parts])
    merged = out / "rows.parquet"
    pq.write_table(table, merged)
    return merged


@pytest.fixture(scope="session")
def recipe_scored_parquet(tmp_path_factory, recipe_rows_parquet) -> Path:
    """The real rows with a ``difficulty`` column: PISM tiers cycling easy/mid/hard/unsolved, CMAB records whose
    details hold a solved chain (correct for even rows, a wrong answer for odd rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.difficulty import COLUMN, MetricRecord, difficulty_arrow_type, merge_record

    rows = pq.read_table(recipe_rows_parquet).to_pylist()
    tiers = ["easy", "mid", "hard", "unsolved"]
    values = []
    for i, row in enumerate(rows):
        gt = row["reward_model"]["ground_truth"]
        pism = MetricRecord(tier=tiers[i % 4], score=[0.9, 0.5, 0.2, 0.0][i % 4], attempts=10, correct=3)
        answer = gt if i % 2 == 0 else "definitely not " + gt
        chain = f"<think>I read the figure and work it out step by step.</think><answer>{answer}</answer>"
        cmab = MetricRecord(
            tier=["mid", "hard"][i % 2], score=0.5, attempts=9, correct=4, details={"solved_response": chain}
        )
        value = merge_record(None, "pism", pism)
        value = merge_record(value, "cmab", cmab)
        values.append(value)
    table = pq.read_table(recipe_rows_parquet).append_column(COLUMN, pa.array(values, type=difficulty_arrow_type()))
    out = tmp_path_factory.mktemp("scored") / "scored.parquet"
    pq.write_table(table, out)
    return out
