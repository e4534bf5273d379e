"""Pipeline overhead: rows/s through ``run_scoring`` against calling the scorer (and engine) directly on the same
rows, side by side in one run; and the cost of the resume bookkeeping (manifest, shard files, assembly).

    python benchmarks/bench_pipeline.py                      # tiny model on CPU + oracle, ~2 minutes
    python benchmarks/bench_pipeline.py --rows 64 --oracle-rows 20000 --shard-size 32

Parts:

1. Real engine: the tiny random Qwen2.5-VL through the transformers engine, pass-rate (n completions per row)
   on real bundled rows. ``direct`` = one ``PassRateScorer.score_rows`` call over all rows in this process (no
   parquet, no shards); ``pipeline`` = ``run_scoring`` (read input parquet by row groups, shards written
   atomically, manifest, assembled ``scored.parquet``, summary). Both build their engine once; the engine
   load is timed separately and excluded from both.
2. Bookkeeping at scale: the oracle engine (near-zero generation cost) on ``--oracle-rows`` rows, so the time is
   the pipeline's own: fresh run vs direct scoring; then a re-run where every shard is already done (pure
   resume cost: fingerprint, manifest, completeness checks, re-assembly).
"""

from __future__ import annotations

import argparse
import atexit
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def bundled_rows() -> list[dict]:
    from verl_difficulty.data.bundled import convert_bundled
    from verl_difficulty.data.convert import read_rows

    paths = convert_bundled(scratch("bench-pipe-data-"), quiet=True)
    return [r for name in ("mathv", "mmocr_words", "geo3k", "icdar_grounding") for r in read_rows(paths[name])]


def cloned(rows: list[dict], n: int) -> list[dict]:
    """``n`` rows cycling through ``rows`` under new sample ids (images downscaled: the oracle ignores them)."""
    from verl_difficulty.data import downscale_to_max_pixels, encode_image, image_entry, load_image

    small = copy.deepcopy(rows)
    for row in small:
        row["images"] = [
            image_entry(encode_image(downscale_to_max_pixels(load_image(i), 64 * 64))) for i in row["images"]
        ]
    out = []
    for i in range(n):
        row = copy.deepcopy(small[i % len(small)])
        row["extra_info"]["index"] = f"bench/{i}"
        out.append(row)
    return out


def time_direct(cfg, rows: list[dict], engine) -> float:
    from verl_difficulty.pipeline.runner import build_scorer_from_config

    scorer = build_scorer_from_config(cfg, cfg.metrics[0], engine)
    t0 = time.perf_counter()
    records = scorer.score_rows(rows)
    assert len(records) == len(rows)
    return time.perf_counter() - t0


def time_pipeline(cfg, engine) -> tuple[float, object]:
    """``run_scoring`` with ``engine`` pre-built (so both sides exclude the model load)."""
    from verl_difficulty.pipeline import runner

    class Borrowed:  # the pipeline closes its engine at the end; this one is reused by the next timing
        def __getattr__(self, name):
            return getattr(engine, name)

        def close(self):
            pass

    original = runner.build_engine_from_config
    runner.build_engine_from_config = lambda _cfg: Borrowed()
    try:
        t0 = time.perf_counter()
        summary = runner.run_scoring(cfg)
        return time.perf_counter() - t0, summary
    finally:
        runner.build_engine_from_config = original


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=32, help="rows for the real-engine part (default 32)")
    p.add_argument("--n", type=int, default=4, help="pass-rate completions per row (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--shard-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="interleaved timings of each side (default 2)")
    p.add_argument("--oracle-rows", type=int, default=5000, help="rows for the bookkeeping part (default 5000)")
    p.add_argument("--oracle-shard-size", type=int, default=64)
    args = p.parse_args(argv)

    from verl_difficulty.data.convert import write_parquet
    from verl_difficulty.engines import build_engine
    from verl_difficulty.pipeline.config import ScoreConfig
    from verl_difficulty.testing import build_tiny_vlm

    base_rows = bundled_rows()
    print(f"machine: python {sys.version.split()[0]}; bundled rows: {len(base_rows)}")

    # 1. real engine
    rows = (base_rows * (args.rows // len(base_rows) + 1))[: args.rows]
    rows = [dict(copy.deepcopy(r), extra_info={**r["extra_info"], "index": f"real/{i}"}) for i, r in enumerate(rows)]
    work = scratch("bench-pipe-")
    data = write_parquet(rows, work / "in.parquet")
    model = build_tiny_vlm(work / "tiny", seed=0)
    engine_settings = {"processor_kwargs": {"max_pixels": 64 * 28 * 28}, "cpu_threads": 1}
    t0 = time.perf_counter()
    engine = build_engine("transformers", str(model), **engine_settings)
    load_s = time.perf_counter() - t0
    cfg = ScoreConfig.from_dict(
        {
            "metrics": ["passrate"],
            "model": str(model),
            "data": [str(data)],
            "out": str(work / "run"),
            "engine_settings": engine_settings,
            "settings": {"passrate": {"n": args.n, "max_new_tokens": args.max_new_tokens}},
            "shard_size": args.shard_size,
            "progress": False,
        }
    ).validate()
    time_direct(cfg, rows[:2], engine)  # warm-up (first-call allocations)
    direct_runs, pipe_runs = [], []
    for rep in range(args.repeats):  # interleaved, best of each: fair on a busy machine
        direct_runs.append(time_direct(cfg, rows, engine))
        cfg.out = str(work / f"run{rep}")
        pipe_runs.append(time_pipeline(cfg, engine)[0])
    direct_s, pipe_s = min(direct_runs), min(pipe_runs)
    real_ratio = pipe_s / direct_s
    print(
        f"\n[real engine] tiny Qwen2.5-VL, transformers engine on CPU, pass-rate n={args.n}, {len(rows)} rows, "
        f"shard size {args.shard_size} (engine load {load_s:.1f} s, excluded)"
    )
    print(f"  direct   {direct_s:7.2f} s  {len(rows) / direct_s:8.2f} rows/s")
    print(f"  pipeline {pipe_s:7.2f} s  {len(rows) / pipe_s:8.2f} rows/s")
    print(f"  overhead ratio pipeline / direct = {real_ratio:.3f} (best of {args.repeats} interleaved runs each)")
    engine.close()

    # 2. bookkeeping at scale
    orows = cloned(base_rows, args.oracle_rows)
    odata = write_parquet(orows, work / "oracle_in.parquet")
    oracle = build_engine("oracle", None, config={"default": {"breaking_ratio": 0.45}})
    ocfg = ScoreConfig.from_dict(
        {
            "metrics": ["passrate"],
            "engine": "oracle",
            "data": [str(odata)],
            "out": str(work / "oracle_run"),
            "settings": {"passrate": {"n": 1}},
            "shard_size": args.oracle_shard_size,
            "progress": False,
        }
    ).validate()
    direct_s = time_direct(ocfg, orows, oracle)
    fresh_s, summary = time_pipeline(ocfg, oracle)
    resume_s, resumed = time_pipeline(ocfg, oracle)
    assert resumed.shards_run == 0 and resumed.shards_skipped == summary.shards_run
    shards = summary.shards_run
    print(
        f"\n[bookkeeping] oracle engine, pass-rate n=1, {len(orows)} rows in {shards} shards of "
        f"{args.oracle_shard_size}"
    )
    print(f"  direct scoring        {direct_s:7.2f} s  {len(orows) / direct_s:9.0f} rows/s")
    print(f"  pipeline, fresh run   {fresh_s:7.2f} s  {len(orows) / fresh_s:9.0f} rows/s")
    print(
        f"  pipeline overhead     {fresh_s - direct_s:7.2f} s  = {(fresh_s - direct_s) / len(orows) * 1e3:.3f} ms/row"
    )
    print(
        f"  resume, all {shards} shards done: {resume_s:.2f} s "
        f"({resume_s / shards * 1e3:.1f} ms per shard, incl. re-assembling scored.parquet)"
    )
    print(json.dumps({"real_overhead_ratio": round(real_ratio, 3), "resume_s": round(resume_s, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
