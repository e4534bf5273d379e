"""``verl-difficulty score`` and ``verl-difficulty split``."""

from __future__ import annotations

import argparse
import json
import sys

from verl_difficulty.tiers import METRICS, TIERS, TierConfigError


def _score_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="verl-difficulty score",
        description="Score every row of a verl parquet with PISM, CMAB and/or pass-rate; resumable.",
        epilog="Example: verl-difficulty score --metric pism --model Qwen/Qwen2.5-VL-7B-Instruct "
        "--data train.parquet --out runs/pism --engine vllm --ray auto --num-workers 8",
    )
    p.add_argument("--metric", help=f"comma-separated, from {', '.join(METRICS)}")
    p.add_argument("--model", help="model folder or hub name")
    p.add_argument("--data", action="append", help="input parquet (repeat or comma-separate for several)")
    p.add_argument("--out", help="output folder (manifest, shards, scored.parquet, summary.json)")
    p.add_argument("--engine", help="transformers (default), vllm, openai, replay or oracle (scripted, for tests)")
    p.add_argument("--config", help="YAML file with any of these settings (command-line flags win)")
    p.add_argument("--ray", nargs="?", const="local", help="run on Ray Data: 'local', 'auto' or a cluster ADDRESS")
    p.add_argument("--num-workers", type=int, help="Ray actors, each holding one engine (default 1)")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per Ray actor (default: 1 if the cluster has GPUs)")
    p.add_argument("--shard-size", type=int, help="rows per shard: the unit of work and of resume (default 64)")
    p.add_argument("--limit", type=int, help="score only the first N rows")
    p.add_argument("--seed", type=int, help="base seed (masks and sampling also depend on each sample id)")
    p.add_argument("--heatmaps", action="store_true", default=None, help="CMAB: keep attention heat maps")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting: pism.k=4, cmab.mode=paper, engine.dtype=bfloat16, tiers.pism.easy_inclusive=false",
    )
    p.add_argument("--dry-run", action="store_true", default=None, help="print the plan and cost, score nothing")
    p.add_argument("--overwrite", action="store_true", default=None, help="discard results with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def build_config(argv: list[str]):
    from verl_difficulty.pipeline.config import ConfigError, ScoreConfig, deep_merge, parse_set_overrides

    args = _score_parser().parse_args(argv)
    cfg = ScoreConfig.from_yaml(args.config) if args.config else ScoreConfig()
    if args.metric:
        cfg.metrics = [m.strip() for m in args.metric.split(",") if m.strip()]
    if args.data:
        cfg.data = [d.strip() for item in args.data for d in item.split(",") if d.strip()]
    for flag, attr in [
        ("model", "model"),
        ("out", "out"),
        ("engine", "engine"),
        ("ray", "ray"),
        ("num_workers", "num_workers"),
        ("gpus_per_worker", "gpus_per_worker"),
        ("shard_size", "shard_size"),
        ("limit", "limit"),
        ("seed", "seed"),
        ("heatmaps", "heatmaps"),
        ("dry_run", "dry_run"),
        ("overwrite", "overwrite"),
    ]:
        value = getattr(args, flag)
        if value is not None:
            setattr(cfg, attr, value)
    if args.no_progress:
        cfg.progress = False
    for key, value in parse_set_overrides(args.set).items():
        if not isinstance(value, dict):
            raise ConfigError(f"--set {key}=...: name a setting inside it, e.g. {key}.NAME=VALUE")
        if key in METRICS:
            cfg.settings = deep_merge(cfg.settings, {key: value})
        elif key == "engine":
            cfg.engine_settings = deep_merge(cfg.engine_settings, value)
        elif key == "tiers":
            cfg.tiers = deep_merge(cfg.tiers, value)
        else:
            raise ConfigError(
                f"--set {key}...: the first part must be a metric ({', '.join(METRICS)}), engine or tiers"
            )
    return cfg.validate()


def score_main(argv: list[str]) -> int:
    from verl_difficulty.engines.base import EngineError
    from verl_difficulty.pipeline.config import ConfigError
    from verl_difficulty.pipeline.runner import describe_plan, format_summary, run_scoring
    from verl_difficulty.pipeline.shards import ManifestMismatch
    from verl_difficulty.pipeline.source import InputError

    try:
        cfg = build_config(argv)
        if cfg.dry_run:
            print(describe_plan(cfg))
            return 0
        summary = run_scoring(cfg)
    except (ConfigError, TierConfigError, InputError, ManifestMismatch, EngineError) as e:
        print(f"verl-difficulty score: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(format_summary(summary))
    return 0


def split_main(argv: list[str]) -> int:
    from verl_difficulty.pipeline.split import (
        STAGE1_BAND,
        STAGE2_BAND,
        SplitError,
        filter_tiers,
        split_by_tier,
        two_stage_split,
    )

    p = argparse.ArgumentParser(
        prog="verl-difficulty split",
        description="Tier files (easy/mid/hard/unsolved/failed.parquet) or one filtered parquet from a scored run.",
        epilog="Examples: verl-difficulty split runs/pism --metric pism --out runs/pism/tiers\n"
        "          verl-difficulty split runs/pism --metric pism --keep mid,hard --out train_mid_hard.parquet\n"
        "          verl-difficulty split runs/pr --metric passrate --two-stage --out runs/pr/stages",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scored", help="scored.parquet or the run folder holding it")
    p.add_argument("--metric", required=True, choices=METRICS)
    p.add_argument("--out", required=True, help="folder (tier files) or .parquet file (with --keep)")
    p.add_argument("--keep", help=f"comma-separated tiers to keep, from {', '.join(TIERS)}")
    p.add_argument("--random-matched", action="store_true", help="with --keep: a random subset of the same size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--two-stage",
        action="store_true",
        help="pass-rate only: stage1.parquet (medium band) and stage2.parquet (medium-to-hard), arXiv 2505.13261",
    )
    p.add_argument("--stage1-low", type=float, default=STAGE1_BAND[0], help="stage 1: lowest accuracy kept (0.1)")
    p.add_argument("--stage1-high", type=float, default=STAGE1_BAND[1], help="stage 1: highest accuracy kept (0.87)")
    p.add_argument("--stage2-low", type=float, default=STAGE2_BAND[0], help="stage 2: lowest accuracy kept (0.1)")
    p.add_argument(
        "--stage2-high", type=float, default=STAGE2_BAND[1], help="stage 2: accuracy below this is kept (0.5)"
    )
    args = p.parse_args(argv)
    try:
        if args.two_stage:
            if args.metric != "passrate":
                raise SplitError("--two-stage splits pass-rate scores: use --metric passrate")
            if args.keep or args.random_matched:
                raise SplitError("--two-stage cannot be combined with --keep / --random-matched")
            counts = two_stage_split(
                args.scored,
                args.out,
                stage1=(args.stage1_low, args.stage1_high),
                stage2=(args.stage2_low, args.stage2_high),
            )
            print(f"passrate two-stage -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        elif args.keep:
            info = filter_tiers(
                args.scored,
                args.metric,
                [t.strip() for t in args.keep.split(",") if t.strip()],
                args.out,
                random_matched=args.random_matched,
                seed=args.seed,
            )
            print(json.dumps(info))
        else:
            if args.random_matched:
                raise SplitError("--random-matched needs --keep (the tiers whose size it matches)")
            counts = split_by_tier(args.scored, args.metric, args.out)
            print(f"{args.metric} tiers -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    except SplitError as e:
        print(f"verl-difficulty split: error: {e}", file=sys.stderr)
        return 2
    return 0
