"""Convert the paper's ms-swift GRPO jsonl (images, messages, solution) to verl's parquet.

Run from the repository root (a thin wrapper around ``verl_difficulty.data.converters``; same as
``verl-difficulty convert swift_jsonl ...``)::

    python examples/data_preprocess/swift_jsonl.py \
        --input examples/data/swift/paper_format.jsonl --out /tmp/swift.parquet --strict

    # every row one task, named data source
    python examples/data_preprocess/swift_jsonl.py --input vpt.jsonl --out ~/data/vpt.parquet \
        --task grounding --data-source vpt

Common options: ``--split S --limit N --strict --no-system-prompt --system-prompt TEXT --max-pixels N --quiet``;
``--help`` lists this converter's own options. Skipped records are printed with their file and row, counted by
reason, and listed in ``OUT.parquet.skipped.jsonl``; with ``--strict`` any skip makes the exit status 1.
See docs/data.md.
"""

import sys

from verl_difficulty.data.converters import CONVERTERS, run_cli

if __name__ == "__main__":
    sys.exit(run_cli(CONVERTERS["swift_jsonl"], sys.argv[1:], prog="python examples/data_preprocess/swift_jsonl.py"))
