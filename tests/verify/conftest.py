"""Fixtures for the verifier tests: the real samples under ``../shared/data`` (``shared_data`` is the suite's)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def mathv_rows(shared_data) -> list[dict]:
    """MATH-Vision testmini rows (``id, question, options, answer, ...``)."""
    with open(shared_data / "mathv_testmini" / "testmini.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def geo3k_problems(shared_data) -> list[dict]:
    """Geometry3K ``data.json`` of every example folder."""
    root = shared_data / "geo3k_examples"
    return [json.loads((d / "data.json").read_text()) for d in sorted(root.iterdir()) if (d / "data.json").exists()]


@pytest.fixture(scope="session")
def ocr_words(shared_data) -> list[str]:
    """Transcriptions of the MMOCR word crops."""
    labels = json.loads((shared_data / "ocr_mmocr" / "rec_words" / "labels.json").read_text())
    return [inst["text"] for item in labels["data_list"] for inst in item["instances"]]


@pytest.fixture(scope="session")
def icdar_words(shared_data) -> dict[tuple[str, str], list[list[float]]]:
    """ICDAR 2015 toy ground truth: ``(image, transcript) -> axis-aligned boxes``, illegible words dropped."""
    out: dict[tuple[str, str], list[list[float]]] = {}
    for path in sorted((shared_data / "ocr_mmocr" / "icdar2015_toy" / "gt").glob("gt_img_*.txt")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            parts = line.strip().split(",")
            if len(parts) < 9:
                continue
            coords = [float(v) for v in parts[:8]]
            text = ",".join(parts[8:])
            if text == "###":
                continue
            xs, ys = coords[0::2], coords[1::2]
            out.setdefault((path.stem, text), []).append([min(xs), min(ys), max(xs), max(ys)])
    return out
