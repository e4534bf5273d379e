"""Shared pieces of the CMAB tests: real rows (bundled MATH-V / Geometry3K), tiny models loaded once (the engine
is the suite's ``tiny_engine``, tests/conftest.py).

Test modules import the fixtures they use from here (``from cmab_testdata import mathv_rows``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from verl_difficulty.testing import SMALL_IMAGES  # noqa: F401  (re-exported to the test modules)


def convert(source: str, src: Path, out: Path, **options) -> list[dict]:
    """Rows of a converter run on real source files (nothing may be skipped)."""
    import pyarrow.parquet as pq

    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet

    report = convert_to_parquet(CONVERTERS[source], src, out, quiet=True, **options)
    assert not report.skipped, report.summary()
    return pq.read_table(out).to_pylist()


@pytest.fixture(scope="session")
def mathv_rows(bundled_data, tmp_path_factory) -> list[dict]:
    """The 40 bundled MATH-V testmini rows (real diagrams, single image each)."""
    out = tmp_path_factory.mktemp("cmab_rows") / "mathv.parquet"
    return convert("mathv", bundled_data / "mathv_testmini" / "testmini.jsonl", out)


@pytest.fixture(scope="session")
def geo3k_rows(bundled_data, tmp_path_factory) -> list[dict]:
    """The 10 bundled Geometry3K rows (free-form answers)."""
    out = tmp_path_factory.mktemp("cmab_rows") / "geo3k.parquet"
    return convert("geo3k", bundled_data / "geo3k", out, free_form=True)


@pytest.fixture(scope="session")
def two_image_row(mathv_rows, geo3k_rows) -> dict:
    """A real two-image row: a MATH-V diagram and a Geometry3K diagram, text between and after them."""
    a, b = mathv_rows[0], geo3k_rows[0]
    row = dict(a)
    row["images"] = [a["images"][0], b["images"][0]]
    row["prompt"] = [
        a["prompt"][0],
        {
            "role": "user",
            "content": "Figure 1: <image>\nFigure 2: <image>\nWhich figure shows a triangle? Answer 1 or 2.",
        },
    ]
    row["reward_model"] = {"style": "rule", "ground_truth": "2"}
    row["extra_info"] = dict(a["extra_info"], index="mixed/two-images", task="math")
    return row


def load(path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    return model, AutoProcessor.from_pretrained(path)


@pytest.fixture(scope="session")
def tiny_vlm(tiny_model_dir):
    """(model, processor) of the tiny Qwen2.5-VL, fp32, sdpa attention."""
    return load(tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_qwen2vl(tiny_qwen2vl_dir):
    """(model, processor) of the tiny Qwen2-VL."""
    return load(tiny_qwen2vl_dir)


def gate_by_index(row, engine):
    """A custom gate for the tests: rows whose sample id ends in an even digit pass; it reports 3 attempts."""
    passed = row["extra_info"]["index"][-1] in "02468"
    return {"passed": passed, "correct": int(passed), "attempts": 3, "rule": "even index"}
