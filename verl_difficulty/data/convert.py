"""What every converter in ``examples/data_preprocess/`` shares: skip accounting, validation, writing.

A converter turns source records into rows (:func:`verl_difficulty.data.schema.make_row`), and for every
record it cannot convert calls :meth:`ConversionReport.skip` with the file and row it came from. Nothing is
dropped silently: skips are printed with their reason, counted per reason, written next to the output as
``<out>.skipped.jsonl``, and with ``strict=True`` the converter exits non-zero when anything was skipped.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_difficulty.data.schema import arrow_schema, validate_row
from verl_difficulty.utils import atomic_write_bytes


@dataclass
class Skip:
    file: str
    row: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.file} [row {self.row}]: {self.reason}"


@dataclass
class ConversionReport:
    """Counts what a converter read, wrote and skipped, and why."""

    name: str
    read: int = 0
    written: int = 0
    skipped: list[Skip] = field(default_factory=list)
    quiet: bool = False
    #: Things worth knowing that are not failures (e.g. "image without a legible word"), counted by kind.
    notes: Counter = field(default_factory=Counter)

    def skip(self, file: str | os.PathLike, row: Any, reason: str) -> None:
        """Record a source record that was not converted. ``reason`` reads ``"<category>: <details>"``."""
        s = Skip(str(file), row, reason)
        self.skipped.append(s)
        if not self.quiet:
            print(f"[{self.name}] skipped {s}", file=sys.stderr)

    def note(self, kind: str, count: int = 1) -> None:
        """Count something that is not a failure but belongs in the summary (never affects ``--strict``)."""
        if count:
            self.notes[kind] += count

    @property
    def reasons(self) -> Counter:
        """Skips counted by category (the part of the reason before the first ``:``)."""
        return Counter(s.reason.split(":")[0] for s in self.skipped)

    def summary(self) -> str:
        line = f"[{self.name}] read {self.read}, wrote {self.written}, skipped {len(self.skipped)}"
        if self.skipped:
            line += " (" + ", ".join(f"{k}: {v}" for k, v in self.reasons.most_common()) + ")"
        if self.notes:
            line += "; notes: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.notes.items()))
        return line

    def finish(self, strict: bool = False) -> int:
        """Print the summary; return the process exit code (1 when strict and anything was skipped)."""
        print(self.summary())
        if strict and self.skipped:
            print(f"[{self.name}] --strict: {len(self.skipped)} record(s) skipped, failing", file=sys.stderr)
            return 1
        return 0


def check_and_collect(rows_with_origin, report: ConversionReport) -> list[dict]:
    """Validate ``(file, row_number, row)`` triples; keep valid rows, report invalid ones and duplicate ids."""
    kept: list[dict] = []
    seen: dict[str, str] = {}
    for file, row_no, row in rows_with_origin:
        problems = validate_row(row)
        idx = str((row.get("extra_info") or {}).get("index"))
        if not problems and idx in seen:
            problems = [f"duplicate extra_info.index {idx!r} (first seen in {seen[idx]})"]
        if problems:
            report.skip(file, row_no, "invalid row: " + "; ".join(problems))
            continue
        seen[idx] = f"{file} [row {row_no}]"
        kept.append(row)
    return kept


def write_parquet(rows: list[dict], out: str | os.PathLike, report: ConversionReport | None = None) -> Path:
    """Write rows with the package's fixed schema, atomically; skips go to ``<out>.skipped.jsonl``."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    table = pa.Table.from_pylist(rows, schema=arrow_schema())
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=256)
    atomic_write_bytes(out, buf.getvalue())
    skipped_path = out.with_name(out.name + ".skipped.jsonl")
    if report is not None:
        report.written = len(rows)
        if report.skipped:
            lines = [
                json.dumps({"file": s.file, "row": s.row, "reason": s.reason}, default=str) for s in report.skipped
            ]
            atomic_write_bytes(skipped_path, ("\n".join(lines) + "\n").encode())
        elif skipped_path.exists():
            skipped_path.unlink()
    return out


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Read a verl parquet file back as a list of Python dicts."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
