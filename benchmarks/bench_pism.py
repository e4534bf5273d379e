"""PISM cost: model generations per sample and wall time of the ``full`` and ``tiers`` strategies against the
released code's ``reference`` protocol (every ratio, K attempts each with the early stop), same rows, same
seeds, in one run. Every strategy must give the reference's tiers (and ``full`` its λ*): checked and printed.

    python benchmarks/bench_pism.py                          # tiny model on CPU + the oracle, ~5 minutes
    python benchmarks/bench_pism.py --tiny-rows 4 --oracle-samples 500
    python benchmarks/bench_pism.py --model /models/Qwen2.5-VL-7B-Instruct --device cuda --tiny-rows 64 \\
        --max-new-tokens 1024 --skip-oracle

Three parts:

1. A real model through the transformers engine (default: the tiny random Qwen2.5-VL, built offline) on real
   bundled rows (MATH-V, OCR words), paper settings (ratios 0.0..0.9, K = 10, τ = 0.1, T = 0.7) except
   ``--max-new-tokens``. The random tiny model answers nothing, so every row is unsolved at λ = 0: the figures
   show the cost of that case (the commonest tier in the paper's VRT counts).
2. The seeing model (``verl_difficulty.synthetic``, trained once and cached) on synthetic rows
   (``--seeing-rows``): rows it solves at λ = 0 and that break at some ratio.
3. The oracle (a scripted model with known breaking ratios and per-attempt success probabilities) on a larger
   sample: every bundled row, cloned under new sample ids, with breaking ratios drawn so the tiers come out in
   the proportions the paper publishes for Qwen2.5-VL-7B on VPT (easy 38 % / mid 24 % / hard 7 % / unsolved
   31 %). Images are downscaled (the oracle ignores them; masking is still done).

Printed per strategy: generations per sample, ``generate`` calls (rounds), wall seconds, and the ratios
reference / strategy, plus whether tiers and λ* match the reference.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STRATEGIES = ("reference", "full", "tiers")


def scratch(prefix: str) -> Path:
    """A temporary folder removed when the benchmark exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class CountingEngine:
    """Counts ``generate`` calls and completions of the engine it wraps."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.completions = 0

    def generate(self, requests):
        self.calls += 1
        self.completions += sum(r.n for r in requests)
        return self.inner.generate(requests)

    def describe(self):
        return self.inner.describe()


def run_strategies(label: str, rows: list[dict], make_engine, settings: dict) -> dict:
    from verl_difficulty.scorers import build_scorer

    results = {}
    for strategy in STRATEGIES:
        engine = CountingEngine(make_engine())
        scorer = build_scorer("pism", engine, {**settings, "strategy": strategy})
        t0 = time.perf_counter()
        records = scorer.score_rows(rows)
        seconds = time.perf_counter() - t0
        results[strategy] = {
            "records": records,
            "generations": engine.completions,
            "calls": engine.calls,
            "seconds": seconds,
        }
    ref = results["reference"]["records"]
    print(f"\n== {label}: {len(rows)} samples, settings {json.dumps(settings)}")
    tiers = {}
    for rec in ref:
        tiers[rec.tier or "failed"] = tiers.get(rec.tier or "failed", 0) + 1
    print("reference tiers: " + ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())))
    header = (
        f"{'strategy':<10} {'gen/sample':>10} {'calls':>6} {'seconds':>8} {'ref/this gen':>12} {'ref/this time':>13}"
    )
    print(header + "  same tiers  same λ*")
    summary = {"samples": len(rows), "settings": settings, "tiers": tiers, "strategies": {}}
    for strategy in STRATEGIES:
        r = results[strategy]
        recs = r["records"]
        same_tiers = [a.tier for a in recs] == [b.tier for b in ref]
        exact = [(a.score, b.score) for a, b in zip(recs, ref) if a.score is not None]
        same_lambda = all(a == b for a, b in exact)
        gen_ratio = results["reference"]["generations"] / max(1, r["generations"])
        time_ratio = results["reference"]["seconds"] / max(1e-9, r["seconds"])
        print(
            f"{strategy:<10} {r['generations'] / len(rows):>10.2f} {r['calls']:>6} {r['seconds']:>8.2f} "
            f"{gen_ratio:>12.2f} {time_ratio:>13.2f}  {str(same_tiers):<10}  "
            f"{same_lambda} ({len(exact)} exact)"
        )
        summary["strategies"][strategy] = {
            "generations_per_sample": r["generations"] / len(rows),
            "calls": r["calls"],
            "seconds": round(r["seconds"], 3),
            "reference_over_this_generations": round(gen_ratio, 3),
            "reference_over_this_seconds": round(time_ratio, 3),
            "same_tiers": same_tiers,
            "same_lambda_star": same_lambda,
        }
        if not same_tiers or not same_lambda:
            print(f"!! {strategy} disagrees with the reference", file=sys.stderr)
            summary["disagreement"] = True
    return summary


def bundled_rows(names: list[str], limit: int | None = None) -> list[dict]:
    import pyarrow.parquet as pq

    from verl_difficulty.data.bundled import convert_bundled

    out = scratch("bench-pism-")
    paths = convert_bundled(out, quiet=True)
    rows = []
    for name in names:
        table = pq.read_table(paths[name]).to_pylist()
        rows.extend(table[:limit] if limit else table)
    return rows


def tiny_part(args) -> dict:
    from verl_difficulty.engines import build_engine

    model = args.model
    if model is None:
        from verl_difficulty.testing import build_tiny_vlm

        model = str(build_tiny_vlm(scratch("bench-pism-model-") / "tiny", seed=0))
    half = max(1, args.tiny_rows // 2)
    rows = bundled_rows(["mathv"], half) + bundled_rows(["mmocr_words"], args.tiny_rows - half)
    engine = build_engine(
        "transformers",
        model,
        device=args.device,
        batch_size=args.batch_size,
        processor_kwargs={"max_pixels": args.max_pixels},
        cpu_threads=args.cpu_threads,
    )
    settings = {"k": args.k, "max_new_tokens": args.max_new_tokens}
    return run_strategies(f"transformers engine ({model})", rows, lambda: engine, settings)


def seeing_part(args) -> dict:
    """The seeing model (trained once, cached) on synthetic rows: the case where rows are solved at λ = 0 and
    break at some ratio, which the random tiny model never shows."""
    from verl_difficulty.engines import build_engine
    from verl_difficulty.synthetic import generate_rows, seeing_model

    model = str(seeing_model(progress=True))
    rows = generate_rows(args.seeing_rows, split="bench", seed=args.seed)
    engine = build_engine("transformers", model, device=args.device, batch_size=args.batch_size, cpu_threads=1)
    settings = {"k": args.k, "max_new_tokens": 40}  # the model's longest answer is 31 tokens
    return run_strategies(f"transformers engine, seeing model ({model})", rows, lambda: engine, settings)


def oracle_part(args) -> dict:
    import numpy as np

    from verl_difficulty.data import downscale_to_max_pixels, encode_image, image_entry, load_image
    from verl_difficulty.engines import build_engine

    base = bundled_rows(["mathv", "geo3k", "mmocr_words", "icdar_grounding"])
    for row in base:
        row["images"] = [
            image_entry(encode_image(downscale_to_max_pixels(load_image(i), 64 * 64)), i.get("path"))
            for i in row["images"]
        ]
    rows = []
    copy = 0
    while len(rows) < args.oracle_samples:
        for row in base:
            if len(rows) == args.oracle_samples:
                break
            rows.append({**row, "extra_info": {**row["extra_info"], "index": f"{row['extra_info']['index']}#{copy}"}})
        copy += 1
    rng = np.random.default_rng(args.seed)
    # breaking ratios in the paper's VPT tier proportions (easy 7827, mid 4872, hard 1454, unsolved 6480)
    tiers = rng.choice(4, size=len(rows), p=np.array([7827, 4872, 1454, 6480]) / 20633)
    lows, highs = [0.7, 0.45, 0.05, 0.0], [1.3, 0.6, 0.4, 0.0]
    samples = {}
    for row, t in zip(rows, tiers):
        b = float(rng.uniform(lows[t], highs[t]))
        p = 0.0 if t == 3 else float(rng.uniform(0.3, 1.0))  # unsolved: never right
        samples[row["extra_info"]["index"]] = {"breaking_ratio": round(b, 3), "p_correct": round(p, 3)}
    config = {"samples": samples}
    return run_strategies("oracle", rows, lambda: build_engine("oracle", None, config=config), {"k": args.k})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="checkpoint for part 1 (default: build the tiny random model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--tiny-rows", type=int, default=6, help="real rows for part 1")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--max-pixels", type=int, default=64 * 28 * 28, help="processor max_pixels for part 1")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--cpu-threads", type=int, default=1)
    p.add_argument("--seeing-rows", type=int, default=12, help="synthetic rows for the seeing-model part")
    p.add_argument("--oracle-samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-tiny", action="store_true")
    p.add_argument("--skip-seeing", action="store_true")
    p.add_argument("--skip-oracle", action="store_true")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    out = {}
    if not args.skip_tiny:
        out["transformers"] = tiny_part(args)
    if not args.skip_seeing:
        out["seeing"] = seeing_part(args)
    if not args.skip_oracle:
        out["oracle"] = oracle_part(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 1 if any(part.get("disagreement") for part in out.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
