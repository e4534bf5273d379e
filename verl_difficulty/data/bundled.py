"""The small real data subset shipped in the repository (``examples/data/``), converted on demand.

``examples/data`` holds raw source files (a MATH-V testmini subset, ten Geometry3K problems, ten MMOCR word
crops, ten ICDAR 2015 scenes, a paper-format ms-swift jsonl) with their licences, so demos and tests run the
converters for real without ``../shared``. It ships with a repository checkout (the package is installed
editable), not inside a wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

#: name -> (converter, input path relative to the bundled folder, converter options)
BUNDLED_SOURCES: dict[str, tuple[str, str, dict]] = {
    "mathv": ("mathv", "mathv_testmini/testmini.jsonl", {}),
    "geo3k": ("geo3k", "geo3k", {}),
    "mmocr_words": ("mmocr_words", "mmocr/rec_words/labels.json", {}),
    "icdar_grounding": ("icdar_grounding", "mmocr/icdar2015_toy", {}),
    "swift_jsonl": ("swift_jsonl", "swift/paper_format.jsonl", {}),
}


def bundled_root(root: str | os.PathLike | None = None) -> Path:
    """The bundled data folder: ``root`` if given, else ``<repository>/examples/data``; a clear error if absent."""
    import verl_difficulty

    path = Path(root) if root is not None else Path(verl_difficulty.__file__).resolve().parents[1] / "examples" / "data"
    if not (path / "mathv_testmini" / "testmini.jsonl").is_file():
        raise FileNotFoundError(
            f"bundled example data not found at {path}: it ships with the repository checkout (examples/data/), "
            "not with an installed wheel. Install the package editable from a clone (pip install -e .) or pass "
            "root=/path/to/examples/data."
        )
    return path


def convert_bundled(
    out_dir: str | os.PathLike,
    root: str | os.PathLike | None = None,
    *,
    strict: bool = True,
    max_pixels: int | None = None,
    quiet: bool = False,
) -> dict[str, Path]:
    """Convert every bundled source into ``out_dir/<name>.parquet``; print each report; return ``{name: path}``.

    With ``strict`` (default) a skipped record raises ``RuntimeError`` naming it: the bundled data is known to
    convert cleanly, so a skip means the checkout is damaged.
    """
    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet

    src = bundled_root(root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, (converter, rel, options) in BUNDLED_SOURCES.items():
        out = out_dir / f"{name}.parquet"
        report = convert_to_parquet(
            CONVERTERS[converter], src / rel, out, quiet=quiet, max_pixels=max_pixels, **options
        )
        print(report.summary())
        if strict and report.skipped:
            listed = "; ".join(str(s) for s in report.skipped[:5])
            raise RuntimeError(f"bundled source {name!r} skipped {len(report.skipped)} record(s): {listed}")
        written[name] = out
    return written
