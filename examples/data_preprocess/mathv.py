"""Convert MATH-Vision (testmini/test jsonl + images) to verl's multimodal parquet (tasks choice / math).

Run from the repository root (a thin wrapper around ``verl_difficulty.data.converters``; same as
``verl-difficulty convert mathv ...``)::

    python examples/data_preprocess/mathv.py \
        --input ../shared/data/mathv_testmini/testmini.jsonl --out ~/data/mathv/testmini.parquet --strict

    # the bundled 40-row subset, images capped at the paper's 1,254,400 pixels
    python examples/data_preprocess/mathv.py \
        --input examples/data/mathv_testmini/testmini.jsonl --out /tmp/mathv.parquet --max-pixels 1254400

Common options: ``--split S --limit N --strict --no-system-prompt --system-prompt TEXT --max-pixels N --quiet``;
``--help`` lists this converter's own options. Skipped records are printed with their file and row, counted by
reason, and listed in ``OUT.parquet.skipped.jsonl``; with ``--strict`` any skip makes the exit status 1.
See docs/data.md.
"""

import sys

from verl_difficulty.data.converters import CONVERTERS, run_cli

if __name__ == "__main__":
    sys.exit(run_cli(CONVERTERS["mathv"], sys.argv[1:], prog="python examples/data_preprocess/mathv.py"))
