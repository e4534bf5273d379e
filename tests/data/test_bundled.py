"""The bundled subset (examples/data): small, licensed, a faithful copy, converts cleanly, files concatenate."""

from __future__ import annotations

import filecmp
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from verl_difficulty.data import load_image, validate_row
from verl_difficulty.data.bundled import BUNDLED_SOURCES, bundled_root, convert_bundled
from verl_difficulty.data.convert import read_rows


def test_size_and_licences(bundled_data):
    total = sum(p.stat().st_size for p in bundled_data.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 4 * 1024 * 1024, f"examples/data is {total / 1e6:.1f} MB"
    for licence in ("mathv_testmini/LICENSE", "geo3k/LICENSE", "mmocr/LICENSE", "mmocr/NOTICE", "README.md"):
        assert (bundled_data / licence).is_file(), licence
    assert "MIT License" in (bundled_data / "mathv_testmini/LICENSE").read_text()
    assert "Apache License" in (bundled_data / "mmocr/LICENSE").read_text()


def test_bundled_root_finds_the_checkout_and_explains_absence(tmp_path, bundled_data):
    assert bundled_root() == bundled_data.resolve()
    with pytest.raises(FileNotFoundError, match="examples/data"):
        bundled_root(tmp_path)


def test_converts_cleanly(bundled_parquets):
    assert set(bundled_parquets) == set(BUNDLED_SOURCES)
    counts = {name: len(read_rows(p)) for name, p in bundled_parquets.items()}
    assert counts == {"mathv": 40, "geo3k": 10, "mmocr_words": 10, "icdar_grounding": 20, "swift_jsonl": 10}
    tasks = Counter()
    for p in bundled_parquets.values():
        assert not Path(f"{p}.skipped.jsonl").exists()
        for r in read_rows(p):
            assert validate_row(r) == []
            tasks[r["extra_info"]["task"]] += 1
            for im in r["images"]:
                load_image(im)
    assert set(tasks) == {"math", "choice", "ocr", "counting", "grounding"}


def test_all_outputs_concatenate(bundled_parquets, shared_parquets):
    import datasets

    parts = [datasets.load_dataset("parquet", data_files=str(p))["train"] for p in bundled_parquets.values()]
    parts += [datasets.load_dataset("parquet", data_files=str(p))["train"] for p in shared_parquets.values()]
    merged = datasets.concatenate_datasets(parts)
    assert len(merged) == sum(len(p) for p in parts)
    assert set(merged.column_names) == {"data_source", "prompt", "images", "ability", "reward_model", "extra_info"}


def test_bundled_rows_equal_the_shared_conversion(bundled_parquets, shared_parquets):
    for name in ("mathv", "geo3k", "mmocr_words"):
        full = {r["extra_info"]["index"]: r for r in read_rows(shared_parquets[name])}
        for r in read_rows(bundled_parquets[name]):
            assert r == full[r["extra_info"]["index"]]
    full = {r["extra_info"]["index"]: r for r in read_rows(shared_parquets["icdar_grounding"])}
    for r in read_rows(bundled_parquets["icdar_grounding"]):
        assert r == full[r["extra_info"]["index"]]


def test_strict_convert_bundled_raises_on_a_damaged_copy(tmp_path, bundled_data):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(bundled_data, copy, copy_function=shutil.copyfile)
    next((copy / "mathv_testmini/images").glob("*.jpg")).unlink()
    with pytest.raises(RuntimeError, match="mathv.*missing image"):
        convert_bundled(tmp_path / "out", root=copy, quiet=True)


def test_make_subset_reproduces_the_committed_files(shared_data, bundled_data, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_subset", bundled_data / "make_subset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    kept = mod.mathv(shared_data)
    mod.geo3k(shared_data)
    mod.mmocr(shared_data)
    mod.swift(kept)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(bundled_data)
        for p in bundled_data.rglob("*")
        if p.is_file() and p.name not in ("README.md", "make_subset.py", "NOTICE") and "__pycache__" not in p.parts
    )
    assert made == committed
    for rel in made:
        assert filecmp.cmp(tmp_path / rel, bundled_data / rel, shallow=False), rel
