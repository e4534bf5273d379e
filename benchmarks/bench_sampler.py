"""Difficulty sampler vs verl's default sampler on a million-row scored dataset, side by side in one run.

    python benchmarks/bench_sampler.py                  # 1,000,000 rows, batches of 512, 200 steps
    python benchmarks/bench_sampler.py -n 200000 --batch-size 1024 --steps 100

The dataset is verl's real ``RLHFDataset`` over a generated parquet in the training schema (text prompts, a
``difficulty`` column with PISM records in the paper's VPT tier proportions: easy 38 %, mid 24 %, hard 7 %,
unsolved 31 %). Both samplers come from verl's own ``create_rl_sampler`` (the plug-in's wrapper builds ours
from ``data.sampler.class_path``; without it verl returns torchdata's ``RandomSampler``).

Printed figures (best of ``--repeats`` runs):

- construction: building the sampler (ours reads the nested ``difficulty.<metric>.tier`` field of every row;
  without ``data.difficulty.metric`` it first looks at every metric to find the one that was scored);
- first batch: creating the iterator and drawing one batch (the default sampler permutes all rows here);
- per step: drawing one batch of ``--batch-size`` indices, averaged over ``--steps`` batches;
- for ours also: ``state_dict()`` (taken after every batch when dataloader workers are used), and an online
  update from ``batch-size x 8`` per-response accuracies.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARES = {"easy": 7827, "mid": 4872, "hard": 1454, "unsolved": 6480}  # the paper's VPT counts (Qwen2.5-VL-7B)


def write_parquet(path: Path, n: int, seed: int = 0) -> None:
    """``n`` rows in verl's schema with a PISM ``difficulty`` record each, written in row groups."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.data import arrow_schema
    from verl_difficulty.difficulty import COLUMN, difficulty_arrow_type
    from verl_difficulty.tiers import TIERS

    rng = np.random.default_rng(seed)
    dtype = difficulty_arrow_type()
    pism_type = dtype.field("pism").type
    schema = arrow_schema().append(pa.field(COLUMN, dtype))
    probs = np.array([SHARES[t] for t in TIERS], dtype=float)
    probs /= probs.sum()
    lam = {"easy": 1.0, "mid": 0.5, "hard": 0.3, "unsolved": 0.0}
    chunk = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            ids = [f"bench/{i}" for i in range(start, start + m)]
            tiers = np.array(TIERS, dtype=object)[rng.choice(len(TIERS), size=m, p=probs)]
            pism = pa.StructArray.from_arrays(
                [
                    pa.array(tiers.tolist(), pa.string()),
                    pa.array([lam[t] for t in tiers], pa.float64()),
                    pa.nulls(m, pa.string()),
                    pa.array(np.full(m, 20), pa.int64()),
                    pa.array(np.full(m, 5), pa.int64()),
                    pa.nulls(m, pism_type.field("ratios").type),
                    pa.array(["{}"] * m),
                    pa.array(['{"model": "bench"}'] * m),
                ],
                fields=list(pism_type),
            )
            difficulty = pa.StructArray.from_arrays(
                [pism, pa.nulls(m, dtype.field("cmab").type), pa.nulls(m, dtype.field("passrate").type)],
                fields=list(dtype),
            )
            cols = {
                "data_source": pa.array(["bench"] * m),
                "prompt": pa.array(
                    [[{"role": "user", "content": f"Question {i}: what is {i} + 1?"}] for i in range(start, start + m)],
                    schema.field("prompt").type,
                ),
                "images": pa.array([[] for _ in range(m)], schema.field("images").type),
                "ability": pa.array(["math"] * m),
                "reward_model": pa.array(
                    [{"style": "rule", "ground_truth": str(i + 1)} for i in range(start, start + m)],
                    schema.field("reward_model").type,
                ),
                "extra_info": pa.array(
                    [
                        {
                            "index": sid,
                            "split": "train",
                            "task": "math",
                            "question": "",
                            "answer": "",
                            "options": [],
                            "meta": "{}",
                        }
                        for sid in ids
                    ],
                    schema.field("extra_info").type,
                ),
                COLUMN: difficulty,
            }
            writer.write_table(pa.Table.from_pydict(cols, schema=schema))


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the parquet and dataset cache here")
    args = parser.parse_args(argv)

    import numpy as np
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    import verl_difficulty.plugin  # noqa: F401  (what the entry point does at `import verl`)
    from verl_difficulty.testing import build_tiny_vlm

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_sampler_"))
    work.mkdir(parents=True, exist_ok=True)
    parquet = work / f"scored_{args.rows}.parquet"
    if not parquet.exists():
        t = time.perf_counter()
        write_parquet(parquet, args.rows)
        print(f"wrote {args.rows:,} rows to {parquet} in {time.perf_counter() - t:.1f} s")
    model = work / "tiny-qwen2_5_vl"
    if not (model / "config.json").exists():
        build_tiny_vlm(model, seed=0)
    from verl.utils import hf_tokenizer

    base = {
        "train_files": [str(parquet)],
        "val_files": [str(parquet)],
        "train_batch_size": args.batch_size,
        "shuffle": True,
        "seed": 0,
        "filter_overlong_prompts": False,
        "cache_dir": str(work / "verl-cache"),
    }
    t = time.perf_counter()
    dataset = RLHFDataset([str(parquet)], hf_tokenizer(str(model)), OmegaConf.create(base))
    print(f"verl RLHFDataset over {len(dataset):,} rows loaded in {time.perf_counter() - t:.1f} s (not compared)")

    from verl.trainer.ppo.utils import create_rl_sampler

    sampler_keys = {"class_path": "pkg://verl_difficulty.trainer.sampler", "class_name": "DifficultySampler"}
    configs = {
        "verl default (RandomSampler)": OmegaConf.create(base),
        "difficulty: keep [mid,hard] (metric auto)": OmegaConf.create({**base, "sampler": sampler_keys}),
        "difficulty: pism, weights+curriculum+online": OmegaConf.create(
            {
                **base,
                "sampler": sampler_keys,
                "difficulty": {
                    "metric": "pism",
                    "keep": "all",
                    "weights": {"easy": 0.5, "hard": 3.0},
                    "curriculum": [{"steps": 50, "keep": ["easy", "mid"]}, {"keep": ["mid", "hard"]}],
                    "online": True,
                },
            }
        ),
    }

    rows = []
    for name, cfg in configs.items():
        construct = best(lambda cfg=cfg: create_rl_sampler(cfg, dataset), args.repeats)
        sampler = create_rl_sampler(cfg, dataset)

        def first_batch(sampler=sampler):
            it = iter(sampler)
            for _ in range(args.batch_size):
                next(it)

        first = best(first_batch, args.repeats)
        it = iter(sampler)
        for _ in range(args.batch_size):
            next(it)

        def steps(it=it):
            for _ in range(args.steps * args.batch_size):
                next(it)

        per_step = best(steps, 1) / args.steps
        extra = {}
        if hasattr(sampler, "observe"):
            extra["state_dict"] = best(sampler.state_dict, args.repeats)
            rng = np.random.default_rng(0)
            picked = rng.choice(len(dataset), size=args.batch_size, replace=False)
            resp_rows = np.repeat(picked, 8)
            acc = rng.integers(0, 2, size=len(resp_rows)).astype(float)
            extra["online update"] = best(lambda s=sampler, r=resp_rows, a=acc: s.observe(r, a), args.repeats)
        rows.append((name, construct, first, per_step, extra))
        del sampler, it

    ref = rows[0]
    print()
    print(f"{args.rows:,} rows, batches of {args.batch_size}, {args.steps} steps (best of {args.repeats})")
    header = f"{'sampler':44s} {'construct s':>12s} {'1st batch ms':>13s} {'per step ms':>12s} {'step ratio':>11s}"
    print(header)
    print("-" * len(header))
    for name, construct, first, per_step, extra in rows:
        print(f"{name:40s} {construct:12.3f} {first * 1e3:13.2f} {per_step * 1e3:12.3f} {per_step / ref[3]:10.2f}x")
        for key, value in extra.items():
            print(f"{'':44s}   {key}: {value * 1e3:.2f} ms")
    print()
    for name, construct, first, per_step, _ in rows[1:]:
        print(
            f"{name}: start-up (construct + 1st batch) {construct + first:.3f} s vs {ref[1] + ref[2]:.3f} s "
            f"({(construct + first) / (ref[1] + ref[2]):.1f}x); per step {per_step * 1e3:.3f} ms vs "
            f"{ref[3] * 1e3:.3f} ms ({per_step / ref[3]:.2f}x)"
        )


if __name__ == "__main__":
    main()
