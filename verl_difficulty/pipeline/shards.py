"""Shards: the unit of work, of output and of resume.

A run folder looks like::

    OUT/
      manifest.json                 the plan: input fingerprint, metrics, settings, shard size (per metric)
      shards/<metric>/000042.parquet   rows [42·S, 43·S): columns row (input row number), index (sample id),
                                       record (that metric's difficulty struct)
      scored.parquet                the input rows, in input order, plus the merged ``difficulty`` column
      summary.json                  tier counts, failures, timings

A shard file is written to a temporary name and renamed, so it either exists complete or not at all: after
a crash (even ``kill -9``) a re-run finds exactly the finished shards and scores the rest.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verl_difficulty.utils import atomic_write_bytes, atomic_write_text

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ShardSpec:
    metric: str
    shard_id: int
    start: int
    end: int

    @property
    def num_rows(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict:
        return asdict(self)


def plan_shards(metric: str, num_rows: int, shard_size: int) -> list[ShardSpec]:
    if shard_size <= 0:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    return [
        ShardSpec(metric, i, s, min(s + shard_size, num_rows)) for i, s in enumerate(range(0, num_rows, shard_size))
    ]


def shard_path(out_dir: str | os.PathLike, spec: ShardSpec) -> Path:
    return Path(out_dir) / "shards" / spec.metric / f"{spec.shard_id:06d}.parquet"


def shard_table_schema():
    import pyarrow as pa

    from verl_difficulty.difficulty import metric_arrow_type

    return pa.schema([("row", pa.int64()), ("index", pa.string()), ("record", metric_arrow_type())])


def write_shard(out_dir: str | os.PathLike, spec: ShardSpec, rows: list[int], ids: list[str], records: list) -> Path:
    """Atomically write one finished shard (``records`` are :class:`~verl_difficulty.difficulty.MetricRecord`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (len(rows) == len(ids) == len(records) == spec.num_rows):
        raise ValueError(f"shard {spec.shard_id}: expected {spec.num_rows} results, got {len(records)}")
    table = pa.Table.from_pydict(
        {"row": rows, "index": ids, "record": [r.to_arrow_dict() for r in records]}, schema=shard_table_schema()
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    path = shard_path(out_dir, spec)
    atomic_write_bytes(path, buf.getvalue())
    return path


def shard_is_complete(out_dir: str | os.PathLike, spec: ShardSpec) -> bool:
    """A shard counts as done when its file exists and holds exactly its rows."""
    import pyarrow.parquet as pq

    path = shard_path(out_dir, spec)
    if not path.exists():
        return False
    try:
        table = pq.read_table(path, columns=["row"])
    except Exception:
        return False
    rows = table.column("row").to_pylist()
    return rows == list(range(spec.start, spec.end))


def read_metric_records(out_dir: str | os.PathLike, specs: list[ShardSpec]) -> list[dict | None]:
    """All records of one metric, indexed by input row number (``None`` where a shard is missing)."""
    import pyarrow.parquet as pq

    if not specs:
        return []
    records: list[dict | None] = [None] * specs[-1].end
    for spec in specs:
        path = shard_path(out_dir, spec)
        if not path.exists():
            continue
        table = pq.read_table(path, columns=["row", "record"])
        for row, rec in zip(table.column("row").to_pylist(), table.column("record").to_pylist()):
            records[row] = rec
    return records


class ManifestMismatch(ValueError):
    """The output folder holds a run with other settings; the message names the differing fields."""


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def load_manifest(out_dir: str | os.PathLike) -> dict | None:
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestMismatch(f"{path}: corrupt manifest ({e}); remove it or use --overwrite") from e


def reconcile_manifest(out_dir: str | os.PathLike, plan: dict, overwrite: bool = False) -> dict:
    """Merge ``plan`` (input fingerprint + per-metric settings) into the folder's manifest.

    A metric already present with different settings, or a different input, is an error naming the fields,
    unless ``overwrite`` (then that metric's old shards are deleted). Returns the manifest written.
    """
    import shutil

    out = Path(out_dir)
    old = load_manifest(out) or {}
    manifest = {"version": MANIFEST_VERSION, "input": plan["input"], "metrics": dict(old.get("metrics") or {})}
    if old and old.get("input", {}).get("digest") != plan["input"]["digest"]:
        if not overwrite:
            raise ManifestMismatch(
                f"{out}: holds results for another input ({old['input'].get('files')}); "
                "use another --out or --overwrite"
            )
        manifest["metrics"] = {}
        shutil.rmtree(out / "shards", ignore_errors=True)
    for metric, settings in plan["metrics"].items():
        previous = manifest["metrics"].get(metric)
        if previous is not None and previous != settings:
            if not overwrite:
                changes = "; ".join(_diff(previous, settings)[:8])
                raise ManifestMismatch(
                    f"{out}: metric {metric!r} was scored with other settings ({changes}); "
                    "use another --out, the same settings to resume, or --overwrite"
                )
            shutil.rmtree(out / "shards" / metric, ignore_errors=True)
        manifest["metrics"][metric] = settings
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return manifest
