"""Split a scored parquet by tier: one file per tier, or one filtered file (optionally a random matched subset),
or the second paper's two pass-rate stages.

Rows whose metric failed (error, no tier) or was never run are reported and written to ``failed.parquet``
in tier-file and two-stage mode, never silently dropped.
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


#: Two-stage defaults (arXiv 2505.13261): stage 1 trains on the medium band, stage 2 on medium-to-hard prompts.
#: The paper publishes the band edges (drop accuracy > 0.87 and < ~0.1); the stage-2 upper edge 0.5 is this
#: package's choice (the pass-rate ``hard`` tier: too_hard <= acc < hard_mid).
STAGE1_BAND = (0.1, 0.87)
STAGE2_BAND = (0.1, 0.5)


def _check_band(name: str, band: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(b) for b in band)
    if not (0.0 <= lo <= hi <= 1.0):
        raise SplitError(f"{name}: expected 0 <= low <= high <= 1, got [{lo}, {hi}]")
    return lo, hi


def read_scores(path_or_table, metric: str):
    """Vectorised: the score of every row for ``metric`` (float array, NaN where failed or not scored)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = path_or_table if isinstance(path_or_table, pa.Table) else _load(path_or_table)[1]
    rec = pc.struct_field(table.column(COLUMN), [METRICS.index(metric)])
    tiers = pc.struct_field(rec, [0])
    scores = pc.struct_field(rec, [1])
    ok = pc.and_(pc.is_valid(tiers), pc.is_valid(scores))
    values = pc.if_else(ok, scores, pa.scalar(float("nan"))).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=float)


def two_stage_split(
    scored: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    stage1: tuple[float, float] = STAGE1_BAND,
    stage2: tuple[float, float] = STAGE2_BAND,
) -> dict[str, int]:
    """The second paper's offline curation from pass-rate scores: two training sets for two GRPO stages.

    Writes ``out_dir/stage1.parquet`` (rows with ``stage1[0] <= acc <= stage1[1]``: the medium band, neither
    too easy nor too hard), ``out_dir/stage2.parquet`` (``stage2[0] <= acc < stage2[1]``: medium-to-hard), and
    ``failed.parquet`` (pass-rate failed or not run), plus ``counts.json``. Rows may be in both stages (with the
    defaults stage 2 is a subset of stage 1). Returns the counts.

    Args:
        scored: ``scored.parquet`` or the run folder holding it (scored with ``--metric passrate``).
        out_dir: output folder.
        stage1: (low, high) accuracy band of stage 1, both edges included (default :data:`STAGE1_BAND`).
        stage2: (low, high) accuracy band of stage 2, low included, high excluded (default :data:`STAGE2_BAND`).
    """
    lo1, hi1 = _check_band("stage1", stage1)
    lo2, hi2 = _check_band("stage2", stage2)
    _, table = _load(scored)
    acc = read_scores(table, "passrate")
    failed = np.isnan(acc)
    if failed.all():
        raise SplitError(f"{scored}: no row has a pass-rate score; score it with `--metric passrate` first")
    with np.errstate(invalid="ignore"):
        in1 = ~failed & (acc >= lo1 - 1e-12) & (acc <= hi1 + 1e-12)
        in2 = ~failed & (acc >= lo2 - 1e-12) & (acc < hi2 - 1e-12)
        too_easy = ~failed & (acc > hi1 + 1e-12)
        too_hard = ~failed & (acc < lo1 - 1e-12)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(table.filter(in1), out / "stage1.parquet")
    _write(table.filter(in2), out / "stage2.parquet")
    _write(table.filter(failed), out / "failed.parquet")
    counts = {
        "rows": int(len(acc)),
        "stage1": int(in1.sum()),
        "stage2": int(in2.sum()),
        "too_easy": int(too_easy.sum()),
        "too_hard": int(too_hard.sum()),
        "failed": int(failed.sum()),
    }
    info = {"metric": "passrate", "stage1_band": [lo1, hi1], "stage2_band": [lo2, hi2], **counts}
    (out / "counts.json").write_text(json.dumps(info, indent=2) + "\n")
    return counts
