"""Read a scored run into tidy tables: one row per sample, one group of columns per metric.

A *run* is what ``verl-difficulty score --out DIR`` writes: ``DIR/scored.parquet`` (the original verl rows plus
the ``difficulty`` column, see :mod:`verl_difficulty.difficulty`) and, optionally, ``DIR/summary.json`` and
``DIR/manifest.json``. :func:`load_run` accepts the folder or any scored parquet file.

Only the columns the report needs are read (``difficulty``, ``data_source``, ``extra_info.{index, task,
question, answer}``, ``reward_model.ground_truth``); the images are read later, and only for the rows the
report shows (:func:`read_images`), so a 100k-row file loads in seconds.

Nothing is dropped: rows that were not scored, failed, carry an unknown tier or malformed JSON all stay in the
frame with a status, and every such oddity is listed in :attr:`RunData.problems` for the report to show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verl_difficulty.difficulty import COLUMN, difficulty_arrow_type
from verl_difficulty.tiers import METRICS, TIERS, CMABTiers, PassRateTiers, PISMTiers, TierConfigError

SCORED_FILE = "scored.parquet"
META_FILES = ("summary.json", "manifest.json")
FAILED = "failed"
NOT_SCORED = "not scored"
#: Every status a (row, metric) pair can have, in display order.
STATUSES = (*TIERS, FAILED, NOT_SCORED)

#: tidy column -> parquet column path (each one optional; a missing id falls back to the row number).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "index": ("extra_info", "index"),
    "task": ("extra_info", "task"),
    "question": ("extra_info", "question"),
    "answer": ("extra_info", "answer"),
    "data_source": ("data_source",),
    "ground_truth": ("reward_model", "ground_truth"),
}
_TIER_CLASSES = {"pism": PISMTiers, "cmab": CMABTiers, "passrate": PassRateTiers}
#: Rows at which progress bars start to appear (below this, reading is instant).
PROGRESS_MIN_ROWS = 20_000


class ReportInputError(ValueError):
    """The input cannot be reported on; the message names the file and the field."""


@dataclass
class MetricData:
    """What the report knows about one metric of one run besides the per-row columns of the frame."""

    name: str
    #: thresholds in force: from the rows' provenance when recorded there, else the package defaults.
    tiers: Any
    tiers_source: str
    #: distinct provenance objects with their row counts, most common first.
    provenance: list[tuple[dict, int]]
    #: the ``details`` JSON strings, aligned with the frame (pyarrow array; parsed only where needed).
    details: Any
    #: PISM only: one row per tested mask ratio, columns ``row, ratio, attempts, correct``.
    ratios: pd.DataFrame | None = None


@dataclass
class RunData:
    """A scored run, ready for statistics and plots."""

    path: Path
    run_dir: Path | None
    name: str
    #: one row per sample: ``row, index, has_id, task, question, answer, ground_truth, data_source`` and, per
    #: metric ``m``,
    #: ``m_status`` (a value of :data:`STATUSES`), ``m_tier``, ``m_score``, ``m_error``, ``m_attempts``,
    #: ``m_correct``.
    frame: pd.DataFrame
    #: metrics with at least one record (scored or failed), in :data:`METRICS` order.
    metrics: dict[str, MetricData]
    #: contents of ``summary.json`` / ``manifest.json`` when the run folder has them.
    meta: dict[str, Any] = field(default_factory=dict)
    #: data problems found while reading, for the report's "Data problems" section.
    problems: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.frame)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.frame["task"].unique().tolist())


def resolve_run(source: str | Path) -> tuple[Path, Path | None]:
    """Return ``(parquet path, run folder or None)`` for a run folder or a parquet file."""
    src = Path(source).expanduser()
    if not src.exists():
        raise ReportInputError(f"{src}: no such file or folder (expected a scored parquet or a score --out folder)")
    if src.is_dir():
        scored = src / SCORED_FILE
        if scored.is_file():
            return scored, src
        candidates = sorted(src.glob("*.parquet"))
        if len(candidates) == 1:
            return candidates[0], src
        found = ", ".join(p.name for p in candidates[:5]) or "no parquet file"
        raise ReportInputError(
            f"{src}: no {SCORED_FILE} in this folder (found: {found}); pass the scored parquet file itself"
        )
    return src, None


def default_out_dir(source: str | Path) -> Path:
    """``<run>/report`` for a run folder or ``.../scored.parquet``; ``<stem>_report`` next to another parquet."""
    parquet, run_dir = resolve_run(source)
    if run_dir is not None:
        return run_dir / "report"
    if parquet.name == SCORED_FILE:
        return parquet.parent / "report"
    return parquet.parent / f"{parquet.stem}_report"


def run_name(parquet: Path, run_dir: Path | None) -> str:
    if run_dir is not None:
        return run_dir.resolve().name or str(run_dir)
    return parquet.parent.resolve().name if parquet.name == SCORED_FILE else parquet.stem


def _progress(total: int, desc: str, progress: bool | None):
    from tqdm.auto import tqdm

    disable = (not progress) if progress is not None else (total < PROGRESS_MIN_ROWS or None)
    return tqdm(total=total, desc=desc, unit="row", disable=disable, leave=False)


def _has_path(schema, path: tuple[str, ...]) -> bool:
    import pyarrow as pa

    t = schema
    for part in path:
        if isinstance(t, pa.Schema):
            if part not in t.names:
                return False
            t = t.field(part).type
        elif pa.types.is_struct(t):
            if t.get_field_index(part) < 0:
                return False
            t = t.field(part).type
        else:
            return False
    return True


def _child(arr, name: str):
    """Child ``name`` of a struct array, with the parent's nulls applied; ``None`` when there is no such field."""
    import pyarrow.compute as pc

    idx = arr.type.get_field_index(name)
    if idx < 0:
        return None
    return pc.struct_field(arr, [idx])


def _open_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for non-parquet files
        raise ReportInputError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from e


def _read_columns(path: Path, progress: bool | None):
    import pyarrow as pa

    pf = _open_parquet(path)
    schema = pf.schema_arrow
    if COLUMN not in schema.names:
        cols = ", ".join(schema.names[:12]) + (" ..." if len(schema.names) > 12 else "")
        raise ReportInputError(
            f"{path}: no '{COLUMN}' column (columns: {cols}); score the data first: "
            f"verl-difficulty score ... --out DIR, then report on DIR"
        )
    # Nested fields by dotted path: pyarrow reads only those leaves (never the images).
    wanted = [COLUMN] + [".".join(p) for p in TEXT_FIELDS.values() if _has_path(schema, p)]
    total = pf.metadata.num_rows
    if total == 0:
        return pf.read(columns=wanted)
    batches = []
    with _progress(total, f"reading {path.name}", progress) as bar:
        for batch in pf.iter_batches(columns=wanted, batch_size=16_384):
            batches.append(batch)
            bar.update(batch.num_rows)
    return pa.Table.from_batches(batches)


def _text_column(table, path: tuple[str, ...]) -> np.ndarray | None:
    if path[0] not in table.column_names:
        return None
    arr = table.column(path[0]).combine_chunks()
    for part in path[1:]:
        arr = _child(arr, part)
        if arr is None:
            return None
    return np.asarray(arr.to_pylist(), dtype=object)


def _normalise_difficulty(col, problems: list[str], ids: np.ndarray):
    """The ``difficulty`` column as a struct array; a JSON-string column is parsed row by row."""
    import pyarrow as pa

    arr = col.combine_chunks()
    if pa.types.is_struct(arr.type):
        return arr
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise ReportInputError(f"'{COLUMN}' column has type {arr.type}; expected the struct written by scoring")
    values, bad = [], []
    for i, raw in enumerate(arr.to_pylist()):
        value = None
        if raw:
            try:
                value = _as_arrow_value(json.loads(raw))
            except (TypeError, ValueError, AttributeError) as e:
                bad.append(f"{ids[i]} ({type(e).__name__})")
        values.append(value)
    typ = difficulty_arrow_type()
    try:
        result = pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        # Find the offending rows one by one; keep the rest.
        for i, value in enumerate(values):
            try:
                pa.array([value], type=typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                bad.append(f"{ids[i]} ({type(e).__name__}: {e})")
                values[i] = None
        result = pa.array(values, type=typ)
    if bad:
        problems.append(
            f"{len(bad)} row(s) with an unreadable '{COLUMN}' JSON value, shown as not scored: " + _few(bad)
        )
    return result


_RECORD_KEYS = ("tier", "score", "error", "attempts", "correct", "ratios", "details", "provenance")


def _as_arrow_value(value: dict) -> dict:
    """A parsed JSON ``difficulty`` value in the struct layout (unknown keys dropped, dicts as JSON text)."""
    out = {}
    for m in METRICS:
        rec = value.get(m)
        if rec is None:
            out[m] = None
            continue
        rec = {k: rec.get(k) for k in _RECORD_KEYS}
        for key in ("details", "provenance"):
            if isinstance(rec.get(key), (dict, list)):
                rec[key] = json.dumps(rec[key], sort_keys=True)
        out[m] = rec
    return out


def _few(items: list[str], n: int = 5) -> str:
    head = ", ".join(str(x) for x in items[:n])
    return head + (f", ... (+{len(items) - n} more)" if len(items) > n else "")


def _num(arr) -> np.ndarray:
    if arr is None:
        return None
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=float)


def find_setting(obj: Any, *names: str, depth: int = 3) -> Any:
    """First value stored under any of ``names`` in a provenance object (searched breadth-first, nested dicts)."""
    level = [obj]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            if not isinstance(d, dict):
                continue
            for n in names:
                if n in d and d[n] is not None:
                    return d[n]
            nxt.extend(v for v in d.values() if isinstance(v, dict))
        level = nxt
    return None


def _tiers_from_provenance(metric: str, provenance: list[tuple[dict, int]], problems: list[str]):
    """Thresholds recorded in provenance (``tiers`` = the metric's settings or a whole ``TierConfig`` dict)."""
    klass = _TIER_CLASSES[metric]
    seen: list[tuple[Any, int]] = []
    for prov, count in provenance:
        raw = find_setting(prov, "tiers", "thresholds")
        if not isinstance(raw, dict):
            continue
        sub = raw.get(metric) if isinstance(raw.get(metric), dict) else raw
        allowed = set(klass.__dataclass_fields__)
        try:
            tiers = klass(**{k: v for k, v in sub.items() if k in allowed})
        except (TierConfigError, TypeError) as e:
            problems.append(f"{metric}: thresholds recorded in provenance are invalid ({e}); using the defaults")
            continue
        for i, (t, c) in enumerate(seen):
            if t == tiers:
                seen[i] = (t, c + count)
                break
        else:
            seen.append((tiers, count))
    if not seen:
        return klass(), "defaults"
    seen.sort(key=lambda tc: -tc[1])
    if len(seen) > 1:
        problems.append(
            f"{metric}: rows were tiered with {len(seen)} different threshold settings; the plots draw the most "
            f"common one ({seen[0][0]})"
        )
    return seen[0][0], "provenance"


def _distinct_json(arr, what: str, metric: str, problems: list[str]) -> list[tuple[dict, int]]:
    import pyarrow.compute as pc

    counts = pc.value_counts(arr.drop_null())
    out = []
    bad = 0
    for item in counts.to_pylist():
        raw, n = item["values"], item["counts"]
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            bad += n
            continue
        out.append((value if isinstance(value, dict) else {"value": value}, n))
    if bad:
        problems.append(f"{metric}: {bad} row(s) with malformed {what} JSON (ignored)")
    out.sort(key=lambda vc: -vc[1])
    return out


def _metric_columns(metric: str, rec, ids: np.ndarray, problems: list[str]) -> tuple[dict[str, Any], MetricData]:
    import pyarrow as pa

    n = len(ids)
    scored = np.asarray(rec.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    tier_arr = _child(rec, "tier")
    tier = np.asarray(tier_arr.to_pylist(), dtype=object) if tier_arr is not None else np.full(n, None, object)
    err_arr = _child(rec, "error")
    error = np.asarray(err_arr.to_pylist(), dtype=object) if err_arr is not None else np.full(n, None, object)
    score = _num(_child(rec, "score"))
    attempts = _num(_child(rec, "attempts"))
    correct = _num(_child(rec, "correct"))
    nan = np.full(n, np.nan)

    status = np.full(n, NOT_SCORED, dtype=object)
    valid_tier = np.isin(tier, TIERS) & scored
    status[valid_tier] = tier[valid_tier]
    status[scored & ~valid_tier] = FAILED
    odd = scored & ~valid_tier & (tier != None)  # noqa: E711 (element-wise comparison)
    if odd.any():
        bad = [f"{ids[i]} ({tier[i]!r})" for i in np.flatnonzero(odd)]
        problems.append(f"{metric}: {len(bad)} row(s) with an unknown tier value, counted as failed: " + _few(bad))
        for i in np.flatnonzero(odd):
            error[i] = error[i] or f"unknown tier value {tier[i]!r}"
    no_reason = scored & ~valid_tier & np.array([not e for e in error], dtype=bool)
    if no_reason.any():
        problems.append(f"{metric}: {int(no_reason.sum())} row(s) without a tier and without an error message")
        for i in np.flatnonzero(no_reason):
            error[i] = "no tier and no error message recorded"

    cols = {
        f"{metric}_status": status,
        f"{metric}_tier": np.where(valid_tier, tier, None),
        f"{metric}_score": score if score is not None else nan,
        f"{metric}_error": np.where(scored & ~valid_tier, error, None),
        f"{metric}_attempts": attempts if attempts is not None else nan,
        f"{metric}_correct": correct if correct is not None else nan,
    }

    prov_arr = _child(rec, "provenance")
    provenance = _distinct_json(prov_arr, "provenance", metric, problems) if prov_arr is not None else []
    tiers, source = _tiers_from_provenance(metric, provenance, problems)
    details = _child(rec, "details")
    if details is None:
        details = pa.nulls(n, pa.string())

    ratios = None
    ratios_arr = _child(rec, "ratios")
    if metric == "pism" and ratios_arr is not None:
        ratios = _explode_ratios(ratios_arr)
    return cols, MetricData(metric, tiers, source, provenance, details, ratios)


def _explode_ratios(ratios_arr) -> pd.DataFrame:
    import pyarrow.compute as pc

    flat = pc.list_flatten(ratios_arr)
    parents = pc.list_parent_indices(ratios_arr)
    frame = pd.DataFrame(
        {
            "row": np.asarray(parents.to_numpy(zero_copy_only=False), dtype=np.int64),
            "ratio": _num(_child(flat, "ratio")),
            "attempts": _num(_child(flat, "attempts")),
            "correct": _num(_child(flat, "correct")),
        }
    )
    frame["ratio"] = frame["ratio"].round(6)
    return frame.dropna(subset=["ratio"]).reset_index(drop=True)


def _check_consistency(run: RunData) -> None:
    """Flag rows whose recorded tier disagrees with what the thresholds give for their score."""
    f = run.frame
    for m, md in run.metrics.items():
        score, tier = f[f"{m}_score"].to_numpy(), f[f"{m}_tier"].to_numpy()
        has = ~np.isnan(score) & (tier != None)  # noqa: E711
        expected = [md.tiers.tier(float(s)) for s in score[has]]
        ids = f["index"].to_numpy()[has]
        bad = [
            f"{i} ({t} but score {s:g} gives {e})" for i, t, s, e in zip(ids, tier[has], score[has], expected) if t != e
        ]
        if bad:
            run.problems.append(
                f"{m}: {len(bad)} row(s) whose recorded tier differs from the {md.tiers_source} thresholds: "
                + _few(bad, 3)
            )


def _read_meta(run_dir: Path | None, problems: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if run_dir is None:
        return meta
    for name in META_FILES:
        p = run_dir / name
        if not p.is_file():
            continue
        try:
            meta[name] = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            problems.append(f"{p}: could not be read ({type(e).__name__}: {e}); ignored")
    return meta


def load_run(source: str | Path, *, progress: bool | None = None) -> RunData:
    """Read a run folder or scored parquet into a :class:`RunData`.

    Args:
        source: ``DIR`` written by ``verl-difficulty score --out DIR`` or a parquet file with a ``difficulty``
            column.
        progress: show progress bars (default: only for large files on a terminal).

    Raises:
        ReportInputError: the file is missing, is not parquet, or has no ``difficulty`` column.
    """
    parquet, run_dir = resolve_run(source)
    problems: list[str] = []
    table = _read_columns(parquet, progress)
    n = table.num_rows

    data: dict[str, Any] = {"row": np.arange(n, dtype=np.int64)}
    for key, path in TEXT_FIELDS.items():
        data[key] = _text_column(table, path)
    ids = data["index"]
    data["has_id"] = np.zeros(n, bool) if ids is None else np.asarray([v not in (None, "") for v in ids], bool)
    if not data["has_id"].all():
        missing = int((~data["has_id"]).sum())
        problems.append(f"{missing} row(s) without extra_info.index: shown as 'row N' and not joinable in comparisons")
        ids = np.asarray([f"row {i}" if ids is None or ids[i] in (None, "") else ids[i] for i in range(n)], object)
    data["index"] = ids
    dup = pd.Series(ids).duplicated(keep="first") & data["has_id"]
    if dup.any():
        problems.append(f"{int(dup.sum())} duplicate sample id(s): " + _few(sorted(set(ids[dup.to_numpy()]))))
    data["task"] = np.asarray(
        [t if t else "unknown" for t in (data["task"] if data["task"] is not None else [None] * n)], object
    )
    if data["ground_truth"] is None:
        data["ground_truth"] = data["answer"]
    for key in ("question", "answer", "data_source", "ground_truth"):
        if data[key] is None:
            data[key] = np.full(n, None, object)

    diff = _normalise_difficulty(table.column(COLUMN), problems, ids)
    metrics: dict[str, MetricData] = {}
    for m in METRICS:
        rec = _child(diff, m)
        if rec is None or rec.null_count == n:
            data[f"{m}_status"] = np.full(n, NOT_SCORED, object)
            continue
        cols, md = _metric_columns(m, rec, ids, problems)
        data.update(cols)
        metrics[m] = md
    unknown = [f.name for f in diff.type if f.name not in METRICS]
    if unknown:
        problems.append(f"'{COLUMN}' has metric(s) this report does not know and ignores: {unknown}")

    frame = pd.DataFrame(data)
    run = RunData(parquet, run_dir, run_name(parquet, run_dir), frame, metrics, _read_meta(run_dir, problems), problems)
    _check_consistency(run)
    return run


def read_images(path: Path, rows: list[int], *, progress: bool | None = None) -> dict[int, list]:
    """The ``images`` value (list of ``{bytes, path}``) of each requested row, reading only their row groups."""
    rows = sorted(set(int(r) for r in rows))
    pf = _open_parquet(path)
    if not rows or "images" not in pf.schema_arrow.names:
        return {}
    starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
    by_group: dict[int, list[int]] = {}
    for r in rows:
        g = int(np.searchsorted(starts, r, side="right") - 1)
        if 0 <= g < pf.num_row_groups:
            by_group.setdefault(g, []).append(r)
    out: dict[int, list] = {}
    from tqdm.auto import tqdm

    disable = (not progress) if progress is not None else (len(by_group) < 4 or None)
    for g in tqdm(sorted(by_group), desc="reading example images", unit="group", disable=disable, leave=False):
        # Stream the row group in small batches: a whole row group of images can exceed what pyarrow converts
        # in one piece ("Nested data conversions not implemented for chunked array outputs"), and we stop
        # after the last wanted row.
        wanted = sorted(r - int(starts[g]) for r in by_group[g])
        offset, k = 0, 0
        for batch in pf.iter_batches(batch_size=256, row_groups=[g], columns=["images"]):
            col = batch.column(0)
            while k < len(wanted) and wanted[k] < offset + batch.num_rows:
                out[wanted[k] + int(starts[g])] = col[wanted[k] - offset].as_py() or []
                k += 1
            offset += batch.num_rows
            if k == len(wanted):
                break
    return out
