"""Fixtures of the report tests: realistic scored runs (see ``report_testdata.py``) and PNG checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_testdata import build_run, check_png_file, color_pixel_count


@pytest.fixture(scope="session")
def full_run(shared_data, tmp_path_factory) -> Path:
    """All three metrics, failures, heat maps and a malicious question (about 60 real rows)."""
    return build_run(tmp_path_factory.mktemp("runs") / "full", shared_data)


@pytest.fixture(scope="session")
def report_of_full_run(full_run, tmp_path_factory) -> Path:
    from verl_difficulty.report import write_report

    return write_report(full_run, tmp_path_factory.mktemp("reports") / "full", progress=False)


@pytest.fixture(scope="session")
def check_png():
    return check_png_file


@pytest.fixture(scope="session")
def color_pixels():
    return color_pixel_count
