"""Reading tiers from a verl dataset, and finding a trained sample's dataset row again.

verl's ``RLHFDataset`` keeps its rows in ``dataset.dataframe`` (a Hugging Face ``datasets.Dataset``, i.e. an
Arrow table, possibly behind an index mapping after ``select``/``filter``). :func:`tier_codes` reads only the
nested ``difficulty.<metric>.tier`` field from that table (no Python objects per row), which takes well under
a second on a million rows.

Tier codes are small integers: the position in :data:`verl_difficulty.tiers.TIERS` (easy 0, mid 1, hard 2,
unsolved 3) and :data:`UNSCORED` (-1) for rows without a tier for the metric.

Rows are found again after rollout through ``extra_info["difficulty_row"]`` (added by
:class:`~verl_difficulty.trainer.dataset.DifficultyDataset`; ``extra_info`` is one of the few dataset columns
the legacy trainer keeps in the training batch) or, with verl's plain ``RLHFDataset``, through the sample id
``extra_info["index"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from verl_difficulty.difficulty import COLUMN
from verl_difficulty.tiers import METRICS, TIERS
from verl_difficulty.trainer.settings import DifficultyConfigError

logger = logging.getLogger(__name__)

UNSCORED = -1
#: ``extra_info`` key holding the row's position in the training dataset
ROW_KEY = "difficulty_row"


class DifficultyDataError(ValueError):
    """The training data cannot be used as configured (not scored, wrong metric, unknown tier values)."""


def _files_of(dataset: Any) -> str:
    files = getattr(dataset, "original_data_files", None) or getattr(dataset, "data_files", None)
    if files is None:
        return "the training data"
    if isinstance(files, (str, bytes)):
        return str(files)
    return ", ".join(str(f) for f in list(files)[:3]) + (" ..." if len(list(files)) > 3 else "")


def dataframe_of(dataset: Any):
    """The ``datasets.Dataset`` behind a verl dataset (``dataset.dataframe``), or the argument itself."""
    frame = getattr(dataset, "dataframe", None)
    if frame is not None:
        return frame
    if hasattr(dataset, "column_names") and hasattr(dataset, "data"):
        return dataset
    raise TypeError(
        f"{type(dataset).__name__} has no 'dataframe': the difficulty sampler needs verl's RLHFDataset "
        "(or a subclass such as DifficultyDataset)"
    )


def _column(frame, name: str):
    """Column ``name`` of a ``datasets.Dataset`` as a pyarrow ChunkedArray over the full backing table, and the
    dataset's index mapping (numpy, or ``None``)."""
    table = frame.data
    table = getattr(table, "table", table)
    indices = getattr(frame, "_indices", None)
    if indices is not None:
        indices = getattr(indices, "table", indices)
        indices = indices.column(0).to_numpy()
    return table.column(name), indices


def _tier_array(dataset: Any, metric: str, where: str):
    """The ``difficulty.<metric>.tier`` strings of every row (pyarrow), honouring the dataset's index mapping."""
    import pyarrow as pa
    import pyarrow.compute as pc

    frame = dataframe_of(dataset)
    if COLUMN not in frame.column_names:
        raise DifficultyDataError(
            f"{where}: no '{COLUMN}' column, so the data was never scored. Score it first "
            f"(verl-difficulty score --metric {metric} ...) and train on the scored parquet it writes."
        )
    col, indices = _column(frame, COLUMN)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        # a JSON-encoded column (e.g. after a round trip through pandas / JSON lines): slow path
        from verl_difficulty.difficulty import get_tier

        tiers = pa.array([get_tier(v, metric) if v else None for v in col.to_pylist()], type=pa.string())
    else:
        if not pa.types.is_struct(col.type):
            raise DifficultyDataError(f"{where}: column '{COLUMN}' has type {col.type}, expected a struct")
        names = [col.type.field(i).name for i in range(col.type.num_fields)]
        if metric not in names:
            raise DifficultyDataError(
                f"{where}: the '{COLUMN}' column has no '{metric}' field (it has {', '.join(names) or 'none'}); "
                f"score the data with --metric {metric}, or set data.difficulty.metric to one of those"
            )
        rec = pc.struct_field(col, metric)
        if "tier" not in [rec.type.field(i).name for i in range(rec.type.num_fields)]:
            raise DifficultyDataError(f"{where}: '{COLUMN}.{metric}' has no 'tier' field")
        tiers = pc.struct_field(rec, "tier")
    if indices is not None:
        tiers = tiers.take(pa.array(indices))
    return tiers


def tier_codes(dataset: Any, metric: str, *, source: str | None = None) -> np.ndarray:
    """Tier code (int8) of every row of ``dataset`` for ``metric``: 0..3 = TIERS, -1 = no tier.

    Raises :class:`DifficultyDataError` naming the files when the data was never scored, the metric is
    missing from its ``difficulty`` column, or a tier value is unknown.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if metric not in METRICS:
        raise DifficultyDataError(f"unknown metric {metric!r}; expected one of {METRICS}")
    where = source or _files_of(dataset)
    tiers = _tier_array(dataset, metric, where)
    codes = pc.index_in(tiers, value_set=pa.array(list(TIERS)))
    n_unknown = (len(tiers) - tiers.null_count) - (len(codes) - codes.null_count)
    if n_unknown:
        unknown = pc.and_(pc.is_valid(tiers), pc.is_null(codes))
        first = pc.filter(tiers, unknown)[0].as_py()
        raise DifficultyDataError(
            f"{where}: {n_unknown} row(s) have an unknown {metric} tier (first: {first!r}); expected {TIERS}"
        )
    return codes.fill_null(UNSCORED).to_numpy(zero_copy_only=False).astype(np.int8)


def scored_metrics(dataset: Any) -> dict[str, int]:
    """How many rows have a tier, per metric present in the ``difficulty`` column."""
    frame = dataframe_of(dataset)
    if COLUMN not in frame.column_names:
        return {}
    out = {}
    where = _files_of(dataset)
    for metric in METRICS:
        try:
            tiers = _tier_array(dataset, metric, where)
        except DifficultyDataError:
            continue
        out[metric] = len(tiers) - tiers.null_count
    return out


def resolve_metric(dataset: Any, metric: str | None) -> str:
    """``metric`` if given, else the only metric with tiers in the data (errors name ``data.difficulty.metric``)."""
    if metric is not None:
        return metric
    found = {m: n for m, n in scored_metrics(dataset).items() if n > 0}
    if len(found) == 1:
        return next(iter(found))
    where = _files_of(dataset)
    if not found:
        # reuse tier_codes' message for a file that was never scored
        if COLUMN not in dataframe_of(dataset).column_names:
            tier_codes(dataset, METRICS[0])
        raise DifficultyDataError(
            f"{where}: no row has a tier for any metric; score the data first (verl-difficulty score ...)"
        )
    listed = ", ".join(f"{m} ({n} rows)" for m, n in found.items())
    raise DifficultyConfigError(
        f"data.difficulty.metric: not set and {where} is scored with several metrics: {listed}; choose one"
    )


@dataclass
class Selection:
    """Which rows the settings keep, and why the others were left out."""

    codes: np.ndarray  # tier code per row after the ``unscored`` policy (-1 = dropped)
    keep: np.ndarray  # bool per row
    counts: dict[str, int]  # rows per tier (and "unscored") before selection
    metric: str

    def summary(self, keep_tiers: Sequence[str]) -> str:
        kept = int(self.keep.sum())
        parts = []
        for name, n in self.counts.items():
            if n:
                parts.append(f"{name} {n}{'' if name in keep_tiers else ' (left out)'}")
        return f"kept {kept} of {len(self.codes)} rows by {self.metric} tier [{', '.join(keep_tiers)}]: " + ", ".join(
            parts
        )


def select_rows(dataset: Any, settings, *, metric: str | None = None) -> Selection:
    """Apply ``keep`` and the ``unscored`` policy of :class:`DifficultySettings` to ``dataset``'s rows."""
    metric = resolve_metric(dataset, metric or settings.metric)
    codes = tier_codes(dataset, metric)
    counts = {t: int((codes == i).sum()) for i, t in enumerate(TIERS)}
    n_unscored = int((codes == UNSCORED).sum())
    counts["unscored"] = n_unscored
    if n_unscored:
        where = _files_of(dataset)
        if n_unscored == len(codes) and settings.unscored not in TIERS:
            others = [m for m, n in scored_metrics(dataset).items() if n > 0 and m != metric]
            raise DifficultyDataError(
                f"{where}: no row has a {metric} tier (data.difficulty.metric={metric}); score it with --metric "
                f"{metric}" + (f", or train on the metric it was scored with: {', '.join(others)}" if others else "")
            )
        if settings.unscored == "error":
            first = int(np.flatnonzero(codes == UNSCORED)[0])
            raise DifficultyDataError(
                f"{where}: {n_unscored} of {len(codes)} rows have no {metric} tier (first at row {first}); "
                "score them, or set data.difficulty.unscored=drop (or a tier to treat them as)"
            )
        if settings.unscored in TIERS:
            codes = codes.copy()
            codes[codes == UNSCORED] = TIERS.index(settings.unscored)
            logger.warning(
                "%s: %d row(s) without a %s tier are treated as %r", where, n_unscored, metric, settings.unscored
            )
        else:
            logger.warning(
                "%s: %d of %d row(s) have no %s tier (never scored, or scoring failed) and are left out; "
                "set data.difficulty.unscored=<tier> to keep them",
                where,
                n_unscored,
                len(codes),
                metric,
            )
    keep_codes = np.array([TIERS.index(t) for t in settings.keep], dtype=np.int8)
    keep = np.isin(codes, keep_codes)
    return Selection(codes=codes, keep=keep, counts=counts, metric=metric)


# ---------------------------------------------------------------------------------------------- batches


def _as_array(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    try:
        import torch

        if isinstance(values, torch.Tensor):
            return values.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(list(values), dtype=object)


def _info_get(info: Any, key: str) -> Any:
    if isinstance(info, Mapping):
        return info.get(key)
    return None


def rows_from_fields(
    fields: Mapping[str, Any], id_to_row: Mapping[str, int] | None = None, n: int | None = None
) -> np.ndarray:
    """Dataset row of every sample in a batch's non-tensor ``fields`` (-1 where it cannot be found).

    Looks at ``extra_info["difficulty_row"]`` first, then maps ``extra_info["index"]`` (or ``index``) through
    ``id_to_row``.
    """
    infos = fields.get("extra_info")
    index = fields.get("index")
    if n is None:
        for v in (infos, index):
            if v is not None:
                n = len(v)
                break
    if n is None:
        return np.zeros(0, dtype=np.int64)
    rows = np.full(n, -1, dtype=np.int64)
    if infos is not None:
        infos = _as_array(infos)
        for i, info in enumerate(infos):
            r = _info_get(info, ROW_KEY)
            if r is not None:
                rows[i] = int(r)
    missing = np.flatnonzero(rows < 0)
    if len(missing) and id_to_row is not None:
        ids = _as_array(index) if index is not None else None
        for i in missing:
            sid = _info_get(infos[i], "index") if infos is not None else None
            if sid is None and ids is not None:
                sid = ids[i]
            if sid is not None:
                rows[i] = id_to_row.get(str(sid), -1)
    return rows


def build_id_map(dataset: Any) -> dict[str, int]:
    """``extra_info.index`` -> row position; ids that occur more than once map to -1 (ambiguous)."""
    import pyarrow.compute as pc

    frame = dataframe_of(dataset)
    if "extra_info" not in frame.column_names:
        return {}
    col, indices = _column(frame, "extra_info")
    try:
        ids = pc.struct_field(col, "index")
    except Exception:  # no 'index' field
        return {}
    if indices is not None:
        import pyarrow as pa

        ids = ids.take(pa.array(indices))
    out: dict[str, int] = {}
    dup = 0
    for pos, sid in enumerate(ids.to_pylist()):
        if sid is None:
            continue
        key = str(sid)
        if key in out:
            if out[key] != -1:
                dup += 1
            out[key] = -1
        else:
            out[key] = pos
    if dup:
        logger.warning(
            "%d sample id(s) (extra_info.index) occur more than once; their rows cannot be matched for online "
            "updates (use DifficultyDataset, which tags every row with its position)",
            dup,
        )
    return out
