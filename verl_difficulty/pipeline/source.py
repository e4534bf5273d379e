"""Random access to the rows of one or more verl parquet files by global row number.

Rows are numbered across the input files in the order given (file 0's rows first). Reading a range only
touches the parquet row groups that overlap it, so a worker scoring rows 40,000-40,064 of a 30 GB file
reads a few MB, wherever it runs (a local loop or a Ray actor on another node with the same filesystem).
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


class InputError(ValueError):
    """An input file is missing or unreadable; the message names it."""


@dataclass(frozen=True)
class _FileInfo:
    path: str
    num_rows: int
    size: int
    group_starts: tuple[int, ...]  # first row of every row group, within the file


class RowSource:
    """The concatenation of ``paths`` (parquet) addressed by global row number."""

    def __init__(self, paths: list[str | os.PathLike]):
        import pyarrow.parquet as pq

        if not paths:
            raise InputError("no input files given (--data)")
        self.files: list[_FileInfo] = []
        self.offsets: list[int] = []  # global index of each file's first row
        total = 0
        schema = None
        for p in paths:
            path = Path(p)
            if not path.exists():
                raise InputError(f"{path}: input file not found")
            try:
                meta = pq.ParquetFile(path).metadata
            except Exception as e:  # pyarrow raises several types for a corrupt footer
                raise InputError(f"{path}: not a readable parquet file ({e})") from e
            starts, acc = [], 0
            for g in range(meta.num_row_groups):
                starts.append(acc)
                acc += meta.row_group(g).num_rows
            file_schema = pq.read_schema(path)
            if "prompt" not in file_schema.names:
                raise InputError(f"{path}: no 'prompt' column; is this a verl-format parquet?")
            if schema is not None and set(file_schema.names) != set(schema.names):
                raise InputError(
                    f"{path}: columns {sorted(file_schema.names)} differ from the first input's {sorted(schema.names)}"
                )
            schema = schema or file_schema
            self.files.append(_FileInfo(str(path.resolve()), meta.num_rows, path.stat().st_size, tuple(starts)))
            self.offsets.append(total)
            total += meta.num_rows
        self.num_rows = total
        self.schema = schema

    def __len__(self) -> int:
        return self.num_rows

    def fingerprint(self) -> dict:
        """What identifies the input for resume: paths, sizes and row counts (not mtimes: copies keep results)."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{os.path.basename(f.path)}:{f.size}:{f.num_rows};".encode())
        return {
            "files": [{"path": f.path, "rows": f.num_rows, "bytes": f.size} for f in self.files],
            "rows": self.num_rows,
            "digest": h.hexdigest()[:16],
        }

    def read_rows(self, start: int, end: int, columns: list[str] | None = None) -> list[dict]:
        """Rows ``[start, end)`` as Python dicts (verl row layout), reading only overlapping row groups."""
        import pyarrow.parquet as pq

        if not 0 <= start <= end <= self.num_rows:
            raise IndexError(f"row range [{start}, {end}) outside [0, {self.num_rows})")
        out: list[dict] = []
        pos = start
        while pos < end:
            fi = bisect.bisect_right(self.offsets, pos) - 1
            info = self.files[fi]
            local_start = pos - self.offsets[fi]
            local_end = min(end - self.offsets[fi], info.num_rows)
            g0 = bisect.bisect_right(info.group_starts, local_start) - 1
            g1 = bisect.bisect_right(info.group_starts, local_end - 1) - 1
            table = pq.ParquetFile(info.path).read_row_groups(list(range(g0, g1 + 1)), columns=columns)
            base = info.group_starts[g0]
            out.extend(table.slice(local_start - base, local_end - local_start).to_pylist())
            pos = self.offsets[fi] + local_end
        return out

    def iter_tables(self, columns: list[str] | None = None):
        """Yield ``(global_start, pyarrow.Table)`` one row group at a time, in order (for streaming writes)."""
        import pyarrow.parquet as pq

        for fi, info in enumerate(self.files):
            pf = pq.ParquetFile(info.path)
            for g, s in enumerate(info.group_starts):
                yield self.offsets[fi] + s, pf.read_row_group(g, columns=columns)
