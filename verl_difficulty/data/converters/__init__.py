"""Converters from real datasets to verl's multimodal parquet, and their uniform command line.

========================  =====================================================  ==========================
name                      source                                                 tasks
========================  =====================================================  ==========================
``mathv``                 MATH-Vision jsonl + images                             choice, math
``geo3k``                 Geometry3K raw problem folders                         choice (math: --free-form)
``mmocr_words``           MMOCR recognition ``labels.json`` + word crops          ocr
``icdar_grounding``       ICDAR 2015 ``imgs/`` + ``gt/`` quadrilaterals           grounding (+ counting)
``swift_jsonl``           the paper's ms-swift jsonl (images, messages, solution)  any (flag / field / inferred)
========================  =====================================================  ==========================

Command line (``verl-difficulty convert <name> ...``, ``python -m verl_difficulty.data.converters <name> ...``
and ``examples/data_preprocess/<name>.py ...`` are the same)::

    <name> --input PATH --out OUT.parquet [--split S] [--limit N] [--strict] [--no-system-prompt]
           [--system-prompt TEXT] [--max-pixels N] [--quiet] [converter options]

In Python::

    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet
    report = convert_to_parquet(CONVERTERS["mathv"], "testmini.jsonl", "out.parquet", max_pixels=1_254_400)
"""

from __future__ import annotations

import sys

from verl_difficulty.data.converters import geo3k, icdar_grounding, mathv, mmocr_words, swift_jsonl
from verl_difficulty.data.converters.common import (
    INSTRUCTIONS,
    SKIP_CATEGORIES,
    ConverterSpec,
    convert_to_parquet,
    run_cli,
)

#: Every converter by name.
CONVERTERS: dict[str, ConverterSpec] = {
    m.SPEC.name: m.SPEC for m in (mathv, geo3k, mmocr_words, icdar_grounding, swift_jsonl)
}

__all__ = ["CONVERTERS", "INSTRUCTIONS", "SKIP_CATEGORIES", "ConverterSpec", "convert_to_parquet", "main", "run_cli"]


def _usage() -> str:
    lines = ["usage: CONVERTER --input PATH --out OUT.parquet [options]   (CONVERTER --help for details)", ""]
    lines += [f"  {name:<16} {spec.summary}" for name, spec in CONVERTERS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "verl-difficulty convert") -> int:
    """``main(["mathv", "--input", ..., "--out", ...])`` -> exit status (0 ok, 1 strict with skips, 2 usage).

    This is ``verl-difficulty convert``; ``--list`` (or ``--help``) lists the converters.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    spec = CONVERTERS.get(name)
    if spec is None:
        print(f"unknown converter {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run_cli(spec, rest, prog=f"{prog} {name}")
