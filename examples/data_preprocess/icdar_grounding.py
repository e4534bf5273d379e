"""Convert ICDAR 2015 word quadrilaterals (imgs/ + gt/) to verl's parquet (task grounding, optional counting).

Run from the repository root (a thin wrapper around ``verl_difficulty.data.converters``; same as
``verl-difficulty convert icdar_grounding ...``)::

    python examples/data_preprocess/icdar_grounding.py \
        --input ../shared/data/ocr_mmocr/icdar2015_toy --out ~/data/ocr/icdar_grounding.parquet --strict

    # group words case-sensitively, ask about 2-letter words too, add 'how many times' rows
    python examples/data_preprocess/icdar_grounding.py --input examples/data/mmocr/icdar2015_toy \
        --out /tmp/icdar.parquet --case-sensitive --min-chars 2 --counting

Common options: ``--split S --limit N --strict --no-system-prompt --system-prompt TEXT --max-pixels N --quiet``;
``--help`` lists this converter's own options. Skipped records are printed with their file and row, counted by
reason, and listed in ``OUT.parquet.skipped.jsonl``; with ``--strict`` any skip makes the exit status 1.
See docs/data.md.
"""

import sys

from verl_difficulty.data.converters import CONVERTERS, run_cli

if __name__ == "__main__":
    sys.exit(
        run_cli(CONVERTERS["icdar_grounding"], sys.argv[1:], prog="python examples/data_preprocess/icdar_grounding.py")
    )
