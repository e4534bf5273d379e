"""``verl-difficulty synth``: write synthetic perception samples as verl multimodal parquet."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from verl_difficulty.synthetic.generator import SYNTH_SYSTEM_PROMPT, SYNTH_TASKS, SynthConfig, SynthError, check_tasks


def _difficulty(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as e:
        raise SynthError(f"--difficulty: expected LO,HI (e.g. 0,0.5), got {text!r}") from e
    return lo, hi


def output_path(out: str, split: str) -> Path:
    """``--out`` as given when it names a ``.parquet`` file, else ``<out>/<split>.parquet``."""
    path = Path(out)
    return path if path.suffix == ".parquet" else path / f"{split}.parquet"


def main(argv: list[str] | None = None) -> int:
    from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT

    parser = argparse.ArgumentParser(
        prog="verl-difficulty synth",
        description="Generate synthetic counting / OCR / grounding / math samples with recorded difficulty knobs "
        "(verl multimodal parquet; knobs in extra_info.meta).",
    )
    parser.add_argument("--out", required=True, help="output folder (writes <split>.parquet) or a .parquet file")
    parser.add_argument("--n", type=int, required=True, help="number of samples (tasks take turns)")
    parser.add_argument("--tasks", default=",".join(SYNTH_TASKS), help="comma-separated tasks (default: all)")
    parser.add_argument("--split", default="test", help="split name; ids are <split>-<i> (default: test)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0, the seeing model's)")
    parser.add_argument("--start", type=int, default=0, help="first sample number (default 0)")
    parser.add_argument("--image-size", type=int, default=SynthConfig.image_size, help="image side in pixels")
    parser.add_argument("--difficulty", default="0,1", help="knob hardness range LO,HI in [0, 1] (default 0,1)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument(
        "--system-prompt",
        help="a system message for every row (default: the answer-format message the seeing model is trained with)",
    )
    prompt.add_argument("--r1-system-prompt", action="store_true", help="the paper's <think>/<answer> system prompt")
    prompt.add_argument("--no-system-prompt", action="store_true", help="no system message")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        if args.n < 1:
            raise SynthError(f"--n: expected a positive integer, got {args.n}")
        if args.start < 0:
            raise SynthError(f"--start: expected a non-negative integer, got {args.start}")
        if not args.split or "/" in args.split:
            raise SynthError(f"--split: expected a name without '/', got {args.split!r}")
        tasks = check_tasks(args.tasks)
        if args.r1_system_prompt:
            system = DEFAULT_SYSTEM_PROMPT
        elif args.no_system_prompt:
            system = None
        else:
            system = args.system_prompt or SYNTH_SYSTEM_PROMPT
        config = SynthConfig(image_size=args.image_size, difficulty=_difficulty(args.difficulty), system_prompt=system)
    except SynthError as e:
        print(f"verl-difficulty synth: {e}", file=sys.stderr)
        return 2

    from verl_difficulty.data.convert import write_parquet
    from verl_difficulty.data.schema import validate_row
    from verl_difficulty.synthetic.generator import generate_rows

    out = output_path(args.out, args.split)
    rows = generate_rows(
        args.n, tasks=tasks, split=args.split, seed=args.seed, config=config, start=args.start, progress=not args.quiet
    )
    for row in rows:
        problems = validate_row(row)
        if problems:  # a generator bug, never bad input
            raise RuntimeError(f"generated an invalid row {row['extra_info']['index']}: {problems}")
    try:
        write_parquet(rows, out)
    except OSError as e:
        print(f"verl-difficulty synth: cannot write {out}: {e}", file=sys.stderr)
        return 1
    counts = Counter(r["extra_info"]["task"] for r in rows)
    diffs = [json.loads(r["extra_info"]["meta"])["difficulty"] for r in rows]
    print(
        f"wrote {len(rows)} rows to {out} ("
        + ", ".join(f"{t}: {counts[t]}" for t in tasks)
        + f"; mean difficulty {sum(diffs) / len(diffs):.2f})"
    )
    return 0
