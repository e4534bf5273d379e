"""``verl-difficulty report``: write the HTML difficulty report of a scored run.

Examples::

    verl-difficulty report outputs/score_run                      # -> outputs/score_run/report/report.html
    verl-difficulty report outputs/score_run/scored.parquet --out /tmp/rep --title "Orsta VPT, 7B"
    verl-difficulty report outputs/run_7b --compare outputs/run_3b --max-examples 6
"""

from __future__ import annotations

import argparse
import sys

PROG = "verl-difficulty report"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Write a self-contained HTML report (report.html, every image embedded) and its PNG plots: tier "
            "counts, PISM accuracy against mask ratio, the CMAB rho histogram with tier bands, the pass-rate "
            "histogram, attention heat maps, example rows per tier, failures and provenance."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument("run", metavar="RUN_OR_PARQUET", help="a `verl-difficulty score --out` folder or a scored parquet")
    p.add_argument("--compare", metavar="OTHER_RUN_OR_PARQUET", help="a second run to compare with (same sample ids)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN/report)")
    p.add_argument("--title", help="page title (default: 'Difficulty report: <run name>')")
    p.add_argument(
        "--max-examples",
        type=int,
        default=4,
        metavar="N",
        help="example rows per tier and metric; heat maps (default 4)",
    )
    p.add_argument("--no-progress", action="store_true", help="never show progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad arguments or input)."""
    from verl_difficulty.report.load import ReportInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_examples < 0:
        parser.error(f"--max-examples must be >= 0, got {args.max_examples}")
    from verl_difficulty.report.writer import write_report

    try:
        path = write_report(
            args.run,
            args.out,
            compare=args.compare,
            title=args.title,
            max_examples=args.max_examples,
            progress=False if args.no_progress else None,
        )
    except ReportInputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    print(f"report written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
