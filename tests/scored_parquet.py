"""Writing verl rows with a ``difficulty`` column, for tests that need a scored parquet without scoring it."""

from __future__ import annotations

from pathlib import Path


def write_scored(path: Path, rows: list[dict], difficulty: list[dict | None]) -> Path:
    """``rows`` (verl schema) plus one ``difficulty`` value per row, as the pipeline writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.data import arrow_schema
    from verl_difficulty.difficulty import COLUMN, difficulty_arrow_type

    schema = arrow_schema().append(pa.field(COLUMN, difficulty_arrow_type()))
    cols = {name: [r[name] for r in rows] for name in arrow_schema().names}
    cols[COLUMN] = difficulty
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(cols, schema=schema), path, row_group_size=16)
    return path
