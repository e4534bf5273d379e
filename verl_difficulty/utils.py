"""Small helpers shared by every sub-package (no heavy imports here)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed derived only from ``parts`` (e.g. sample id, mask ratio, attempt).

    Python's ``hash`` is salted per process; this is not, so a sample gets the same seed in every process,
    on every node and under every sharding of the dataset.
    """
    text = "\x1f".join(_canonical(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") & ((1 << 63) - 1)


def _canonical(part: Any) -> str:
    if isinstance(part, float):
        return repr(round(part, 10))
    if isinstance(part, (dict, list, tuple)):
        return json.dumps(part, sort_keys=True, default=str)
    return str(part)


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else via a set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would (0666 minus the umask),
        # so outputs stay readable by other users / processes (e.g. Ray workers, shared cluster folders).
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
