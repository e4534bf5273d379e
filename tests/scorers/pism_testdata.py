"""Real rows for the PISM / pass-rate tests: the bundled subset (MATH-V, Geometry3K, OCR, grounding).

Imported by the test modules (no conftest, so it cannot collide with other scorer tests' fixtures).
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from verl_difficulty.testing import SMALL_IMAGES  # noqa: F401  (re-exported to the test modules)


@lru_cache(maxsize=1)
def _bundled() -> dict[str, list[dict]]:
    import pyarrow.parquet as pq

    from verl_difficulty.data.bundled import convert_bundled

    out = Path(tempfile.mkdtemp(prefix="pism-rows-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    paths = convert_bundled(out, quiet=True)
    return {name: pq.read_table(path).to_pylist() for name, path in paths.items()}


def bundled(name: str, limit: int | None = None) -> list[dict]:
    """Fresh copies of the bundled rows of ``name`` (``mathv``, ``geo3k``, ``mmocr_words``, ``icdar_grounding``)."""
    rows = _bundled()[name]
    return copy.deepcopy(rows[:limit] if limit is not None else rows)


def mixed_rows(per_source: int = 4) -> list[dict]:
    """Rows of every task: MATH-V (math + choice), Geometry3K (choice), OCR words, ICDAR grounding."""
    return [r for name in ("mathv", "geo3k", "mmocr_words", "icdar_grounding") for r in bundled(name, per_source)]


def record_view(rec) -> tuple:
    """What must not change with batching: everything but the provenance."""
    return (
        rec.tier,
        rec.score,
        rec.error,
        rec.attempts,
        rec.correct,
        [tuple(vars(r).values()) for r in rec.ratios],
        rec.details,
    )


def shrink(rows: list[dict], max_pixels: int = 96 * 96) -> list[dict]:
    """The rows with their images downscaled (for oracle runs, where only the decision logic matters)."""
    from verl_difficulty.data import downscale_to_max_pixels, encode_image, image_entry, load_image

    out = copy.deepcopy(rows)
    for row in out:
        row["images"] = [
            image_entry(encode_image(downscale_to_max_pixels(load_image(img), max_pixels)), img.get("path"))
            for img in row["images"]
        ]
    return out


def clones(rows: list[dict], copies: int) -> list[dict]:
    """``copies`` versions of every row under new sample ids (other seeds, so other masks and samples)."""
    out = []
    for c in range(copies):
        for row in rows:
            new = copy.deepcopy(row)
            new["extra_info"]["index"] = f"{row['extra_info']['index']}#{c}"
            out.append(new)
    return out


class RecordingEngine:
    """Wraps an engine; keeps every request it served (and can fail the requests of chosen samples)."""

    name = "recording"
    deterministic = True

    def __init__(self, inner, fail_ids=()):
        self.inner = inner
        self.fail_ids = set(fail_ids)
        self.requests = []
        self.calls = 0

    def generate(self, requests):
        self.calls += 1
        bad = [r.sample_id for r in requests if r.sample_id in self.fail_ids]
        if bad:
            raise RuntimeError(f"simulated engine failure for {bad[0]}")
        self.requests.extend(requests)
        return self.inner.generate(requests)

    def describe(self):
        return {**self.inner.describe(), "wrapped_by": self.name}
