"""Scored training parquets for the trainer tests, built from the real converted rows of ``examples/data``.

Every ``difficulty`` value goes through :func:`verl_difficulty.difficulty.merge_record` with records that follow
each metric's semantics (PISM: ratios tested in increasing order, the first ratio with 0 of 10 correct is λ*,
tier = ``TierConfig().pism.tier(λ*)``; pass-rate: k of 8 rollouts correct). Tiers follow a fixed pattern, so
tests know every row's tier; a few rows carry a failed record (tier null, error set) or no record at all.
"""

from __future__ import annotations

from pathlib import Path

from scored_parquet import write_scored  # tests/scored_parquet.py

from verl_difficulty.data.convert import read_rows
from verl_difficulty.difficulty import MetricRecord, merge_record
from verl_difficulty.tiers import TierConfig

CFG = TierConfig()
RATIOS = [round(0.1 * i, 1) for i in range(10)]
#: λ* giving each PISM tier (None: never fails up to 0.9 -> easy)
LAMBDA = {"unsolved": 0.0, "hard": 0.3, "mid": 0.5, "easy": None}
#: correct rollouts of 8 giving each pass-rate tier
PASSRATE_K = {"unsolved": 0, "hard": 2, "mid": 5, "easy": 8}
PATTERN = ("easy", "mid", "hard", "unsolved", "mid", "hard")


def pism_record(tier: str) -> MetricRecord:
    lam = LAMBDA[tier]
    ratios, attempts, correct = [], 0, 0
    for r in RATIOS:
        if lam is not None and r >= lam - 1e-9:
            ratios.append({"ratio": r, "attempts": 10, "correct": 0})
            attempts += 10
            break
        ratios.append({"ratio": r, "attempts": 2, "correct": 1})
        attempts, correct = attempts + 2, correct + 1
    record = MetricRecord(
        CFG.pism.tier(lam),
        1.0 if lam is None else lam,
        None,
        attempts,
        correct,
        ratios,
        {"mask": "rectangle", "strategy": "exact"},
        {"model": "tiny-qwen2_5_vl", "engine": "transformers", "seed": 0, "settings": {"k": 10, "tau": 0.1}},
    )
    assert record.tier == tier
    return record


def passrate_record(tier: str) -> MetricRecord:
    k = PASSRATE_K[tier]
    record = MetricRecord(CFG.passrate.tier(k / 8), k / 8, None, 8, k, [], {"rollouts": 8}, {"engine": "vllm"})
    assert record.tier == tier
    return record


def source_rows(bundled_parquets: dict[str, Path]) -> list[dict]:
    rows = []
    for name in ("mathv", "geo3k", "mmocr_words", "icdar_grounding", "swift_jsonl"):
        rows.extend(read_rows(bundled_parquets[name]))
    return rows


def pism_tiers(n: int, *, failed=(7,), missing=(13,)) -> list[str | None]:
    """The PISM tier of each of ``n`` rows (None for failed / missing records)."""
    return [None if i in failed or i in missing else PATTERN[i % len(PATTERN)] for i in range(n)]


def build_scored(
    path: Path,
    rows: list[dict],
    *,
    metrics=("pism",),
    failed=(7,),
    missing=(13,),
) -> tuple[Path, list[str | None]]:
    """Write ``rows`` with difficulty records; return the path and the PISM tier of every row."""
    tiers = pism_tiers(len(rows), failed=failed, missing=missing)
    values = []
    for i, tier in enumerate(tiers):
        value = None
        if "pism" in metrics:
            if i in failed:
                value = merge_record(value, "pism", MetricRecord.failed("image could not be decoded"))
            elif i in missing:
                value = merge_record(value, "pism", None)
            else:
                value = merge_record(value, "pism", pism_record(tier))
        if "passrate" in metrics:
            value = merge_record(value, "passrate", passrate_record(PATTERN[(i + 1) % len(PATTERN)]))
        values.append(value)
    return write_scored(path, rows, values), tiers
