"""Realistic scored runs for the report tests, built from the real images in ``../shared/data``.

Rows come from :func:`verl_difficulty.data.make_row`; every ``difficulty`` value goes through
:func:`verl_difficulty.difficulty.merge_record` with records that follow each metric's semantics:

- PISM: ratios tested in increasing order, attempts stop at the first correct answer, a ratio with 0 of 10
  correct is λ*, the row stops there; the tier is ``TierConfig().pism.tier(λ*)``. A few easy rows are in
  tiers-only mode (no exact λ*: they stopped at λ_easy without failing).
- CMAB: a pass@4 gate (unsolved rows have no ρ̄); ρ̄ log-normal across all bands; a few rows carry an
  attention heat map on the merged-patch grid (flat and nested layouts).
- pass-rate: 8 rollouts per row with a U-shaped (Beta(0.35, 0.35)) true accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scored_parquet import write_scored  # tests/scored_parquet.py

from verl_difficulty.data import image_entry, make_row
from verl_difficulty.difficulty import MetricRecord, merge_record
from verl_difficulty.tiers import TierConfig

CFG = TierConfig()
PISM_RATIOS = [round(0.1 * i, 1) for i in range(10)]
MALICIOUS = "<script>alert('pwned')</script> How many <b>triangles</b> are there?"


def _provenance(metric: str, **settings) -> dict:
    return {
        "model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "engine": "vllm",
        "seed": 0,
        "version": "0.1.0",
        "settings": settings,
        "tiers": CFG.to_dict()[metric],
    }


def source_rows(shared: Path, limit_mathv: int = 30) -> list[dict]:
    """verl rows from MATH-V, Geometry3K, ICDAR 2015 (grounding) and MMOCR word crops (OCR)."""
    rows = []
    with open(shared / "mathv_testmini" / "testmini.jsonl", encoding="utf-8") as f:
        for line in f.readlines()[:limit_mathv]:
            rec = json.loads(line)
            img = shared / "mathv_testmini" / rec["image"]
            q = rec["question"].replace("<image1>", "").strip()
            rows.append(
                make_row(
                    data_source="mathv_testmini",
                    sample_id=rec["id"],
                    task="choice" if rec["options"] else "math",
                    question=q,
                    user_content=f"<image>{q}",
                    images=[image_entry(img.read_bytes(), img.name)],
                    ground_truth=rec["answer"],
                    ability="math",
                    options=rec["options"],
                )
            )
    for d in sorted((shared / "geo3k_examples").iterdir()):
        if not (d / "data.json").is_file():
            continue
        rec = json.loads((d / "data.json").read_text())
        img = d / "img_diagram.png"
        rows.append(
            make_row(
                data_source="geometry3k",
                sample_id=d.name,
                task="choice",
                question=rec["problem_text"],
                user_content=f"<image>{rec['problem_text']}",
                images=[image_entry(img.read_bytes(), img.name)],
                ground_truth=rec["answer"],
                ability="math",
                options=rec["choices"],
            )
        )
    icdar = shared / "ocr_mmocr" / "icdar2015_toy"
    for img in sorted((icdar / "imgs").glob("*.jpg"), key=lambda p: int(p.stem.split("_")[1])):
        lines = (icdar / "gt" / f"gt_{img.stem}.txt").read_text(encoding="utf-8-sig").splitlines()
        words = [ln.split(",", 8) for ln in lines if ln.strip() and not ln.strip().endswith("###")]
        if not words:
            continue
        pts = [float(v) for v in words[0][:8]]
        box = [min(pts[0::2]), min(pts[1::2]), max(pts[0::2]), max(pts[1::2])]
        q = f"Where is the word '{words[0][8]}'? Answer with a bounding box."
        rows.append(
            make_row(
                data_source="icdar2015",
                sample_id=img.stem,
                task="grounding",
                question=q,
                user_content=f"<image>{q}",
                images=[image_entry(img.read_bytes(), img.name)],
                ground_truth=json.dumps([box]),
                ability="perception",
            )
        )
    rec_dir = shared / "ocr_mmocr" / "rec_words"
    for item in json.loads((rec_dir / "labels.json").read_text())["data_list"]:
        img = rec_dir / "imgs" / item["img_path"]
        q = "What is the word in the image?"
        rows.append(
            make_row(
                data_source="mmocr_words",
                sample_id=img.stem,
                task="ocr",
                question=q,
                user_content=f"<image>{q}",
                images=[image_entry(img.read_bytes(), img.name)],
                ground_truth=item["instances"][0]["text"],
                ability="perception",
            )
        )
    return rows


def pism_record(lam: float | None, rng: np.random.Generator, *, tiers_only: bool = False) -> MetricRecord:
    """A PISM record whose outcomes break at ``lam`` (``None``: never fails up to 0.9)."""
    ratios, attempts, correct = [], 0, 0
    for r in PISM_RATIOS:
        if tiers_only and r >= CFG.pism.lambda_easy and lam is None:
            break  # tiers-only: surviving every ratio below λ_easy is enough to call it easy
        if lam is not None and r >= lam - 1e-9:
            ratios.append({"ratio": r, "attempts": 10, "correct": 0})
            attempts += 10
            break
        k = int(min(rng.geometric(0.45), 10))
        ratios.append({"ratio": r, "attempts": k, "correct": 1})
        attempts, correct = attempts + k, correct + 1
    score = None if tiers_only else (1.0 if lam is None else lam)
    tier = CFG.pism.tier(lam)
    details = {"mask": "rectangle", "strategy": "tiers" if tiers_only else "exact"}
    if tiers_only:
        details["lambda_star_bounds"] = [CFG.pism.lambda_easy, None]
    prov = _provenance("pism", tau=0.1, k=10, ratios=PISM_RATIOS, mask="rectangle", temperature=0.7)
    return MetricRecord(tier, score, None, attempts, correct, ratios, details, prov)


def heatmap(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    blob = np.exp(-(((yy - cy) / (0.18 * h + 1)) ** 2 + ((xx - cx) / (0.18 * w + 1)) ** 2))
    values = blob + 0.15 * rng.random((h, w))
    return values / values.sum()


def merged_grid(row: dict, max_tokens: int = 1600) -> tuple[int, int]:
    """The merged-patch (28 px) grid of the row's first image, scaled down like a max-pixels cap."""
    from verl_difficulty.data import load_image

    w, h = load_image(row["images"][0]).size
    scale = min(1.0, math.sqrt(max_tokens * 28 * 28 / (w * h)))
    return max(1, round(h * scale / 28)), max(1, round(w * scale / 28))


def cmab_record(
    rng: np.random.Generator, row: dict, *, with_heatmap: bool = False, nested: bool = False
) -> MetricRecord:
    prov = _provenance("cmab", layer=20, gate="pass@4", temperature=0.5, top_p=0.9)
    solved = rng.random() > 0.25
    if not solved:
        return MetricRecord("unsolved", None, None, 4, 0, [], {"gate": "failed", "gate_correct": 0}, prov)
    rho = float(np.exp(rng.normal(np.log(0.7), 1.1)))
    details = {"gate": "passed", "gate_correct": int(rng.integers(1, 5)), "layer": 20, "generated_tokens": 37}
    if with_heatmap:
        h, w = merged_grid(row)
        values = heatmap(h, w, rng)
        details["heatmap"] = {
            "grid": [h, w],
            "values": values.tolist() if nested else values.ravel().tolist(),
            "image": 0,
        }
    return MetricRecord(CFG.cmab.tier(rho), rho, None, 5, details["gate_correct"], [], details, prov)


def passrate_record(rng: np.random.Generator, n: int = 8) -> MetricRecord:
    p = rng.beta(0.35, 0.35)
    k = int(rng.binomial(n, p))
    acc = k / n
    details = {"in_band": CFG.passrate.in_band(acc), "rollouts": n}
    return MetricRecord(CFG.passrate.tier(acc), acc, None, n, k, [], details, _provenance("passrate", n=n))


def build_run(
    out: Path,
    shared: Path,
    *,
    metrics=("pism", "cmab", "passrate"),
    failures: bool = True,
    heatmaps: int = 6,
    malicious: bool = True,
    seed: int = 0,
    limit_mathv: int = 30,
) -> Path:
    """Write ``out/scored.parquet`` (+ ``summary.json``) for the real rows scored with ``metrics``."""
    rng = np.random.default_rng(seed)
    rows = source_rows(shared, limit_mathv)
    if malicious:
        rows[0]["extra_info"]["question"] = MALICIOUS
    lam_choices = [0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, None, None, None]
    values = []
    hm_left = heatmaps
    for i, row in enumerate(rows):
        value = None
        if "pism" in metrics:
            lam = lam_choices[int(rng.integers(len(lam_choices)))]
            if failures and i in (3, 17):
                rec = MetricRecord.failed("ImageLoadError: images[0]: cannot decode image (UnidentifiedImageError)")
            elif failures and i == 25:
                rec = MetricRecord.failed("engine error: CUDA out of memory while generating")
            else:
                rec = pism_record(lam, rng, tiers_only=lam is None and i % 5 == 0)
            value = merge_record(value, "pism", rec)
        if "cmab" in metrics:
            if failures and i == 9:
                rec = MetricRecord.failed("engine error: CUDA out of memory while generating")
            else:
                rec = cmab_record(rng, row, with_heatmap=hm_left > 0 and i % 4 == 1, nested=hm_left % 2 == 0)
                if "heatmap" in rec.details:
                    hm_left -= 1
            value = merge_record(value, "cmab", rec)
        if "passrate" in metrics:
            value = merge_record(value, "passrate", passrate_record(rng))
        values.append(value)
    out.mkdir(parents=True, exist_ok=True)
    write_scored(out / "scored.parquet", rows, values)
    summary = {"rows": len(rows), "metrics": list(metrics), "elapsed_s": 123.4, "engine": "vllm"}
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def small_rows(shared: Path, ids: list[str]) -> list[dict]:
    """One real MATH-V row per id (images cycle through the first files), ids set to ``ids``."""
    base = source_rows(shared, limit_mathv=max(1, min(len(ids), 30)))
    rows = []
    for i, sid in enumerate(ids):
        row = json.loads(json.dumps({k: v for k, v in base[i % len(base)].items() if k != "images"}))
        row["images"] = base[i % len(base)]["images"]
        row["extra_info"]["index"] = sid
        rows.append(row)
    return rows


def write_records(out: Path, shared: Path, records: dict[str, dict[str, MetricRecord]]) -> Path:
    """``out/scored.parquet`` with one real row per sample id and exactly the given records."""
    ids = list(records)
    values = []
    for sid in ids:
        value = None
        for metric, rec in records[sid].items():
            value = merge_record(value, metric, rec)
        values.append(value)
    write_scored(out / "scored.parquet", small_rows(shared, ids), values)
    return out


def simple(metric: str, tier: str | None, score: float | None = None) -> MetricRecord:
    """A record of ``tier`` consistent with the default thresholds (``tier=None``: a failed row)."""
    if tier is None:
        return MetricRecord.failed("engine error: timeout")
    if metric == "pism":
        lam = {"easy": 1.0, "mid": 0.5, "hard": 0.2, "unsolved": 0.0}[tier] if score is None else score
        ratios = [{"ratio": r, "attempts": 1, "correct": 1} for r in PISM_RATIOS if r < lam - 1e-9]
        if lam < 1.0:
            ratios.append({"ratio": lam, "attempts": 10, "correct": 0})
        return MetricRecord(tier, lam, None, sum(r["attempts"] for r in ratios), len(ratios) - (lam < 1.0), ratios)
    if metric == "cmab":
        rho = {"easy": 2.5, "mid": 0.2, "hard": 1.0, "unsolved": None}[tier] if score is None else score
        return MetricRecord(tier, rho, None, 4, 0 if rho is None else 2)
    acc = {"easy": 1.0, "mid": 0.625, "hard": 0.25, "unsolved": 0.0}[tier] if score is None else score
    return MetricRecord(tier, acc, None, 8, round(acc * 8))


def check_png_file(path: Path, min_width: int = 400, min_height: int = 150, min_colors: int = 40) -> np.ndarray:
    """Assert ``path`` is a real, non-blank PNG; return its RGB pixels."""
    from PIL import Image

    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    with Image.open(path) as img:
        img.load()
        assert img.width >= min_width and img.height >= min_height, f"{path}: tiny image {img.size}"
        pixels = np.asarray(img.convert("RGB"))
    packed = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1].astype(np.int32) << 8) | pixels[..., 2]
    colors = len(np.unique(packed))
    assert colors >= min_colors, f"{path}: only {colors} distinct colours: blank?"
    assert pixels.std() > 8, f"{path}: almost uniform image"
    return pixels


def color_pixel_count(pixels: np.ndarray, hex_color: str, tol: int = 6) -> int:
    """How many pixels are within ``tol`` of ``hex_color``."""
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).max(axis=-1) <= tol).sum())
