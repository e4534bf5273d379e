"""``verl-difficulty demo``: the README's main job on embedded defaults (CPU, tiny offline model, bundled data,
local Ray). Every step is the real product, with settings sized for a laptop:

1. convert the bundled real data (MATH-Vision, Geometry3K, MMOCR words, ICDAR text boxes, ms-swift jsonl) and
   generate a synthetic perception set (counting, OCR, grounding, arithmetic) to verl's multimodal parquet;
2. take the tiny Qwen2.5-VL trained on the synthetic tasks (trained once, then cached) — or ``--model``;
3. load every row through verl's own ``RLHFDataset`` (``filter_overlong_prompts=True``) with the model's
   processor and check each keeps its image inputs;
4. score every row with PISM, CMAB and pass-rate on Ray Data over a local Ray cluster (``--no-ray``: the
   in-process loop), resumable: a second run reuses finished shards;
5. split the rows by tier, per metric;
6. write the HTML report with its plots.

    verl-difficulty demo                         # -> outputs/demo/
    verl-difficulty demo --out /tmp/demo --no-ray --synthetic-per-task 4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from verl_difficulty.testing import SMALL_IMAGES

#: CPU-sized scorer settings (the papers' defaults except where a tiny model on a laptop needs less)
DEMO_SETTINGS = {
    "pism": {"k": 10, "max_new_tokens": 40},
    "cmab": {"gate_k": 4, "gate_max_new_tokens": 40, "max_new_tokens": 48},
    "passrate": {"n": 8, "max_new_tokens": 40},
}
#: keep the images the model sees small on CPU (the seeing model was trained at this size)
ENGINE_SETTINGS = {"processor_kwargs": dict(SMALL_IMAGES), "cpu_threads": 1}


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def prepare_data(out: Path, per_task: int, seed: int) -> list[Path]:
    """Steps 1: bundled real data + a synthetic set as verl parquet files; returns their paths."""
    from verl_difficulty.data.bundled import convert_bundled
    from verl_difficulty.data.convert import write_parquet
    from verl_difficulty.synthetic.generator import generate_rows

    data = out / "data"
    bundled = convert_bundled(data / "bundled", quiet=True)
    rows = generate_rows(4 * per_task, split="demo", seed=seed, progress=False)
    synthetic = write_parquet(rows, data / "synthetic.parquet")
    return [synthetic, *bundled.values()]


def check_with_verl(files: list[Path], model: Path) -> dict:
    """Step 2: every row through verl's ``RLHFDataset`` with the model's processor; a summary of what it saw."""
    from collections import Counter

    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer, processor = hf_tokenizer(str(model)), hf_processor(str(model))
    if processor is None:
        raise RuntimeError(f"verl found no processor in {model}: it would treat the model as text-only")
    config = OmegaConf.create(
        {
            "max_prompt_length": 32768,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": None,
            "return_raw_chat": True,
            "cache_dir": str(files[0].parent / ".verl-cache"),
        }
    )
    dataset = RLHFDataset(data_files=[str(f) for f in files], tokenizer=tokenizer, config=config, processor=processor)
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    tasks, images = Counter(), 0
    for i in range(len(dataset)):
        item = dataset[i]
        tasks[item["extra_info"]["task"]] += 1
        parts = [c for m in item["raw_prompt"] if isinstance(m["content"], list) for c in m["content"]]
        images += sum(1 for c in parts if c["type"] == "image")
    if len(dataset) != total:
        raise RuntimeError(f"verl's RLHFDataset kept {len(dataset)} of {total} rows (filter_overlong_prompts)")
    return {"rows": total, "kept_by_verl": len(dataset), "images": images, "tasks": dict(sorted(tasks.items()))}


def score(files: list[Path], model: Path, out: Path, *, ray: bool, workers: int, seed: int):
    """Step 4: the three metrics through the scoring pipeline (resumable)."""
    from verl_difficulty.pipeline.config import ScoreConfig
    from verl_difficulty.pipeline.runner import format_summary, run_scoring

    cfg = ScoreConfig.from_dict(
        {
            "metrics": ["pism", "cmab", "passrate"],
            "model": str(model),
            "data": [str(f) for f in files],
            "out": str(out / "run"),
            "engine": "transformers",
            "engine_settings": ENGINE_SETTINGS,
            "settings": DEMO_SETTINGS,
            "shard_size": 16,
            "ray": "local" if ray else None,
            "num_workers": workers,
            "heatmaps": True,
            "seed": seed,
        }
    ).validate()
    if ray:
        import ray as ray_module

        if not ray_module.is_initialized():
            ray_module.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)
    try:
        summary = run_scoring(cfg)
    finally:
        if ray:
            import ray as ray_module

            ray_module.shutdown()
    print(format_summary(summary), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="verl-difficulty demo",
        description="The main job on embedded defaults: convert, check with verl, score (PISM, CMAB, pass-rate) "
        "with a tiny CPU model on local Ray, split by tier, write the HTML report.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--model", help="a VLM checkpoint folder (default: the cached tiny model that sees)")
    p.add_argument("--synthetic-per-task", type=int, default=12, help="synthetic rows per task (default 12)")
    p.add_argument("--no-ray", action="store_true", help="score in-process instead of Ray Data on local Ray")
    p.add_argument("--workers", type=int, default=2, help="Ray Data actors, one engine each (default 2)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.synthetic_per_task < 1:
        p.error("--synthetic-per-task must be at least 1")
    out = Path(args.out)
    t0 = time.perf_counter()

    _say(f"1/6 data -> {out / 'data'}")
    files = prepare_data(out, args.synthetic_per_task, args.seed)

    if args.model:
        model = Path(args.model)
        if not (model / "config.json").is_file():
            p.error(f"--model {model}: no config.json there (a Hugging Face checkpoint folder is needed)")
    else:
        from verl_difficulty.synthetic.seeing_model import seeing_model

        _say("2/6 model: the tiny Qwen2.5-VL trained on the synthetic tasks (trained on first use, then cached)")
        model = seeing_model(progress=True)
    _say(f"model: {model}")

    _say("3/6 every row through verl's RLHFDataset (filter_overlong_prompts=True) with the model's processor")
    seen = check_with_verl(files, model)
    _say(f"verl kept {seen['kept_by_verl']}/{seen['rows']} rows with {seen['images']} images; tasks {seen['tasks']}")

    where = "in-process" if args.no_ray else f"Ray Data on local Ray, {args.workers} worker(s)"
    _say(f"4/6 scoring PISM, CMAB and pass-rate ({where}) -> {out / 'run'}")
    summary = score(files, model, out, ray=not args.no_ray, workers=args.workers, seed=args.seed)

    from verl_difficulty.pipeline.split import split_by_tier

    _say(f"5/6 tier files -> {out / 'run' / 'tiers'}")
    for metric in ("pism", "cmab", "passrate"):
        counts = split_by_tier(out / "run", metric, out / "run" / "tiers" / metric)
        print(f"  {metric:<9} " + "  ".join(f"{k} {v}" for k, v in counts.items()), flush=True)

    from verl_difficulty.report.writer import write_report

    _say("6/6 report")
    report = write_report(out / "run", out / "run" / "report", title="verl-difficulty demo", progress=False)
    (out / "demo.json").write_text(
        json.dumps({"model": str(model), "verl": seen, "summary": summary.to_dict()}, indent=2, default=str) + "\n"
    )
    _say(f"done in {time.perf_counter() - t0:.0f} s")
    _say(f"scored rows:  {summary.scored_path}")
    _say(f"tier files:   {out / 'run' / 'tiers'}/<metric>/<tier>.parquet")
    _say(f"report:       {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
