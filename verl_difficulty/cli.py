"""``verl-difficulty``: the command line. Each sub-command lives in its own module and is imported lazily.

verl-difficulty demo                      the README's main job on embedded defaults (CPU, tiny model)
verl-difficulty convert NAME ...          real datasets -> verl multimodal parquet
verl-difficulty score --metric ...        PISM / CMAB / pass-rate difficulty of every row
verl-difficulty split ...                 tier files or a filtered parquet
verl-difficulty report ...                HTML report with plots
verl-difficulty sft-data ...              verl SFT parquet (messages + images) from scored rows
verl-difficulty tiny-model --out DIR      a tiny random Qwen2.5-VL checkpoint (offline)
verl-difficulty synth --out DIR --n N     synthetic counting / OCR / grounding / math rows with difficulty knobs
verl-difficulty seeing-model [--out DIR]  the tiny Qwen2.5-VL trained on them (cached) and its accuracy tables
"""

from __future__ import annotations

import importlib
import sys

#: sub-command -> ("module", "function taking argv and returning an exit code", "one-line help")
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("verl_difficulty.demo", "main", "run the main job on embedded defaults (CPU, tiny model, bundled data)"),
    "convert": ("verl_difficulty.data.converters", "main", "convert a real dataset to verl's multimodal parquet"),
    "score": ("verl_difficulty.pipeline.cli", "score_main", "score rows with PISM, CMAB or pass-rate"),
    "split": ("verl_difficulty.pipeline.cli", "split_main", "write tier files or a filtered parquet"),
    "report": ("verl_difficulty.report.cli", "main", "write the HTML difficulty report"),
    "sft-data": ("verl_difficulty.trainer.sft_data", "main", "write verl SFT data (messages + images) from rows"),
    "tiny-model": ("verl_difficulty.testing.tiny_model", "main", "write a tiny random Qwen2.5-VL / Qwen2-VL folder"),
    "synth": ("verl_difficulty.synthetic.cli", "main", "generate synthetic perception rows with difficulty knobs"),
    "seeing-model": (
        "verl_difficulty.synthetic.seeing_model",
        "main",
        "train (once, cached) the tiny VLM that sees the synthetic tasks",
    ),
}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: verl-difficulty COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run `verl-difficulty COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from verl_difficulty import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"verl-difficulty: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    module = importlib.import_module(module_name)
    return int(getattr(module, func_name)(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
