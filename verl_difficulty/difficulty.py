"""The ``difficulty`` column that scoring adds to each row, and helpers to read it.

Schema (a parquet struct; every metric is optional so runs of different metrics merge into one column)::

    difficulty: {
      pism | cmab | passrate: {             # null until that metric has been run on the row
        tier:       "easy" | "mid" | "hard" | "unsolved" | null (null only when error is set)
        score:      PISM λ* (1.0 = never failed up to the largest ratio; null in tiers-only mode when the
                    exact λ* was not needed), CMAB ρ̄ (null when the gate failed), pass-rate accuracy
        error:      why the row could not be scored (bad image, engine error, ...), else null
        attempts:   model generations (or forward passes) spent on the row
        correct:    how many of them were judged correct
        ratios:     PISM only: [{ratio, attempts, correct}] for every tested mask ratio, in order
        details:    JSON object with metric-specific details (CMAB per-layer balance, token counts, gate
                    outcome; pass-rate band membership; PISM strategy and λ* bounds; ...)
        provenance: JSON object saying what produced it: model, engine, settings, seed, package version
      }
    }

Rows that fail keep their place in the output with ``error`` set and ``tier`` null, so nothing is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from verl_difficulty.tiers import METRICS, TIERS

COLUMN = "difficulty"


@dataclass
class RatioOutcome:
    ratio: float
    attempts: int
    correct: int


@dataclass
class MetricRecord:
    """One metric's result for one row (see the module docstring)."""

    tier: str | None
    score: float | None = None
    error: str | None = None
    attempts: int = 0
    correct: int = 0
    ratios: list[RatioOutcome] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.tier is not None and self.tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS} or None, got {self.tier!r}")
        if self.tier is None and not self.error:
            raise ValueError("a record without a tier must carry an error")
        self.ratios = [r if isinstance(r, RatioOutcome) else RatioOutcome(**r) for r in self.ratios]

    def to_arrow_dict(self) -> dict:
        d = asdict(self)
        d["details"] = json.dumps(self.details, sort_keys=True, default=_json_default)
        d["provenance"] = json.dumps(self.provenance, sort_keys=True, default=_json_default)
        return d

    @classmethod
    def from_arrow_dict(cls, d: Mapping[str, Any]) -> MetricRecord:
        d = dict(d)
        for key in ("details", "provenance"):
            raw = d.get(key)
            d[key] = json.loads(raw) if isinstance(raw, str) and raw else dict(raw or {})
        d["ratios"] = list(d.get("ratios") or [])
        return cls(**d)

    @classmethod
    def failed(cls, error: str, provenance: dict | None = None) -> MetricRecord:
        return cls(tier=None, error=error, provenance=dict(provenance or {}))


def _json_default(o: Any):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def metric_arrow_type():
    import pyarrow as pa

    return pa.struct(
        [
            ("tier", pa.string()),
            ("score", pa.float64()),
            ("error", pa.string()),
            ("attempts", pa.int64()),
            ("correct", pa.int64()),
            (
                "ratios",
                pa.list_(pa.struct([("ratio", pa.float64()), ("attempts", pa.int64()), ("correct", pa.int64())])),
            ),
            ("details", pa.string()),
            ("provenance", pa.string()),
        ]
    )


def difficulty_arrow_type():
    """The parquet type of the ``difficulty`` column."""
    import pyarrow as pa

    return pa.struct([(m, metric_arrow_type()) for m in METRICS])


def merge_record(existing: Mapping[str, Any] | None, metric: str, record: MetricRecord | None) -> dict:
    """Return a ``difficulty`` value with ``metric`` set to ``record`` and the other metrics kept."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    out = {m: None for m in METRICS}
    if existing:
        for m in METRICS:
            out[m] = existing.get(m)
    out[metric] = record.to_arrow_dict() if record is not None else None
    return out


def get_record(row_or_value: Mapping[str, Any] | None, metric: str) -> MetricRecord | None:
    """The metric's record from a row (or from its ``difficulty`` value); ``None`` when not scored."""
    if not row_or_value:
        return None
    value = row_or_value.get(COLUMN, row_or_value) if isinstance(row_or_value, Mapping) else None
    if isinstance(value, str):
        value = json.loads(value)
    if not value or not value.get(metric):
        return None
    return MetricRecord.from_arrow_dict(value[metric])


def get_tier(row_or_value: Mapping[str, Any] | None, metric: str) -> str | None:
    rec = get_record(row_or_value, metric)
    return rec.tier if rec is not None else None


def read_tiers(path_or_table, metric: str):
    """Vectorised: the tier of every row for ``metric`` (numpy object array, ``None`` where not scored).

    Reads only the needed nested field from parquet, so it stays fast on million-row files.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    table = path_or_table if isinstance(path_or_table, pa.Table) else pq.read_table(path_or_table, columns=[COLUMN])
    if COLUMN not in table.column_names:
        raise KeyError(f"no '{COLUMN}' column: score the data first (verl-difficulty score ...)")
    col = table.column(COLUMN)
    tiers = pc.struct_field(pc.struct_field(col, [METRICS.index(metric)]), [0])
    return np.asarray(tiers.to_pylist(), dtype=object)
