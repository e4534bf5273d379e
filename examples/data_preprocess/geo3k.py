"""Convert Geometry3K raw problem folders (data.json + img_diagram.png) to verl's parquet (choice, or math).

Run from the repository root (a thin wrapper around ``verl_difficulty.data.converters``; same as
``verl-difficulty convert geo3k ...``)::

    python examples/data_preprocess/geo3k.py --input ../shared/data/geo3k_examples --out ~/data/geo3k/train.parquet

    # free-form answers (task math, ground truth = the correct choice's text)
    python examples/data_preprocess/geo3k.py --input examples/data/geo3k --out /tmp/geo3k_free.parquet --free-form

Common options: ``--split S --limit N --strict --no-system-prompt --system-prompt TEXT --max-pixels N --quiet``;
``--help`` lists this converter's own options. Skipped records are printed with their file and row, counted by
reason, and listed in ``OUT.parquet.skipped.jsonl``; with ``--strict`` any skip makes the exit status 1.
See docs/data.md.
"""

import sys

from verl_difficulty.data.converters import CONVERTERS, run_cli

if __name__ == "__main__":
    sys.exit(run_cli(CONVERTERS["geo3k"], sys.argv[1:], prog="python examples/data_preprocess/geo3k.py"))
