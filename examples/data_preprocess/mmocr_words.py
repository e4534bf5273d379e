"""Convert MMOCR word crops (labels.json + imgs/) to verl's parquet (task ocr).

Run from the repository root (a thin wrapper around ``verl_difficulty.data.converters``; same as
``verl-difficulty convert mmocr_words ...``)::

    python examples/data_preprocess/mmocr_words.py \
        --input ../shared/data/ocr_mmocr/rec_words/labels.json --out ~/data/ocr/words.parquet --strict

Common options: ``--split S --limit N --strict --no-system-prompt --system-prompt TEXT --max-pixels N --quiet``;
``--help`` lists this converter's own options. Skipped records are printed with their file and row, counted by
reason, and listed in ``OUT.parquet.skipped.jsonl``; with ``--strict`` any skip makes the exit status 1.
See docs/data.md.
"""

import sys

from verl_difficulty.data.converters import CONVERTERS, run_cli

if __name__ == "__main__":
    sys.exit(run_cli(CONVERTERS["mmocr_words"], sys.argv[1:], prog="python examples/data_preprocess/mmocr_words.py"))
