"""Split a scored parquet by tier: one file per tier, or one filtered file (optionally a random matched subset).

Rows whose metric failed (error, no tier) or was never run are reported and written to ``failed.parquet``
in tier-file mode, never silently dropped.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from verl_difficulty.difficulty import COLUMN, read_tiers
from verl_difficulty.tiers import METRICS, TIERS


class SplitError(ValueError):
    pass


def _load(path: str | os.PathLike):
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        path = path / "scored.parquet"
    if not path.exists():
        raise SplitError(f"{path}: scored parquet not found (run `verl-difficulty score` first)")
    table = pq.read_table(path)
    if COLUMN not in table.column_names:
        raise SplitError(f"{path}: no '{COLUMN}' column; score it first with `verl-difficulty score`")
    return path, table


def _write(table, path: Path) -> None:
    import io

    import pyarrow.parquet as pq

    from verl_difficulty.utils import atomic_write_bytes

    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=256)
    atomic_write_bytes(path, buf.getvalue())


def split_by_tier(scored: str | os.PathLike, metric: str, out_dir: str | os.PathLike) -> dict[str, int]:
    """Write ``out_dir/{easy,mid,hard,unsolved,failed}.parquet`` for ``metric``; return the counts."""
    if metric not in METRICS:
        raise SplitError(f"--metric must be one of {METRICS}, got {metric!r}")
    _, table = _load(scored)
    tiers = read_tiers(table, metric)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for tier in (*TIERS, None):
        mask = np.array([t == tier for t in tiers], dtype=bool)
        name = tier or "failed"
        counts[name] = int(mask.sum())
        _write(table.filter(mask), out / f"{name}.parquet")
    (out / "counts.json").write_text(json.dumps({"metric": metric, **counts}, indent=2) + "\n")
    return counts


def filter_tiers(
    scored: str | os.PathLike,
    metric: str,
    keep: list[str],
    out: str | os.PathLike,
    *,
    random_matched: bool = False,
    seed: int = 0,
) -> dict:
    """Write the rows whose ``metric`` tier is in ``keep`` to ``out``.

    With ``random_matched`` the output is instead a uniformly random subset of *all* scored rows of the same
    size (the paper's "random subset of equal size" baseline), drawn with ``seed``.
    """
    if metric not in METRICS:
        raise SplitError(f"--metric must be one of {METRICS}, got {metric!r}")
    bad = [t for t in keep if t not in TIERS]
    if bad:
        raise SplitError(f"--keep: unknown tier(s) {bad}; expected some of {list(TIERS)}")
    _, table = _load(scored)
    tiers = read_tiers(table, metric)
    mask = np.array([t in keep for t in tiers], dtype=bool)
    n_keep = int(mask.sum())
    if random_matched:
        rng = np.random.default_rng(seed)
        scored_rows = np.flatnonzero(np.array([t is not None for t in tiers]))
        chosen = np.sort(rng.choice(scored_rows, size=min(n_keep, len(scored_rows)), replace=False))
        mask = np.zeros(len(tiers), dtype=bool)
        mask[chosen] = True
    _write(table.filter(mask), Path(out))
    counts = Counter(t or "failed" for t in tiers)
    return {"written": int(mask.sum()), "matched_size": n_keep, "available": dict(counts)}
