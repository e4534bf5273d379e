"""The difficulty report: ``verl-difficulty report RUN [--compare OTHER]`` writes a self-contained HTML page.

Python API::

    from verl_difficulty.report import write_report, load_run
    html = write_report("outputs/score_run", compare="outputs/score_run_7b")   # -> Path to report.html
    run = load_run("outputs/score_run")     # tidy pandas frame in run.frame, per-metric data in run.metrics

Modules: :mod:`~verl_difficulty.report.load` (read runs), :mod:`~verl_difficulty.report.stats` (the numbers),
:mod:`~verl_difficulty.report.plots` (one PNG per plot), :mod:`~verl_difficulty.report.html` (the page),
:mod:`~verl_difficulty.report.writer` (puts them together), :mod:`~verl_difficulty.report.cli`.
Heavy imports (pandas, pyarrow, matplotlib) happen only when these functions are called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verl_difficulty.report.load import RunData


def write_report(run, out=None, *, compare=None, title=None, max_examples: int = 4, progress=None) -> Path:
    """Write ``report.html`` + PNGs for ``run``; see :func:`verl_difficulty.report.writer.write_report`."""
    from verl_difficulty.report.writer import write_report as _write

    return _write(run, out, compare=compare, title=title, max_examples=max_examples, progress=progress)


def load_run(source, *, progress=None) -> RunData:
    """Read a run folder or scored parquet; see :func:`verl_difficulty.report.load.load_run`."""
    from verl_difficulty.report.load import load_run as _load

    return _load(source, progress=progress)


def __getattr__(name: str):
    if name == "ReportInputError":
        from verl_difficulty.report.load import ReportInputError

        return ReportInputError
    raise AttributeError(name)


__all__ = ["ReportInputError", "load_run", "write_report"]
