"""Build the whole report: load the run(s), draw every plot, embed everything into ``report.html``."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from verl_difficulty.data import ImageLoadError, load_image
from verl_difficulty.report import plots, stats
from verl_difficulty.report.html import ReportParts, render
from verl_difficulty.report.load import RunData, default_out_dir, load_run, read_images

REPORT_FILE = "report.html"
#: plot key -> file name; every PNG the report may write (stale ones from an earlier report are removed).
PLOT_FILES = {
    "tier_counts": "tier_counts.png",
    "tiers_by_task": "tiers_by_task.png",
    "pism_accuracy": "pism_accuracy.png",
    "pism_lambda": "pism_lambda_star.png",
    "cmab_rho": "cmab_rho.png",
    "passrate_hist": "passrate_hist.png",
    "heatmaps": "heatmaps.png",
    "compare_tiers": "compare_tiers.png",
    "compare_transitions": "compare_transitions.png",
    "compare_scores": "compare_scores.png",
}
THUMBNAIL_SIZE = (240, 180)


def _thumbnail(images: list) -> str:
    """The first image as a small inline JPEG (data URI)."""
    img = load_image(images[0])
    img.thumbnail(THUMBNAIL_SIZE)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _out_dir(run: RunData | str | Path, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out).expanduser()
    if isinstance(run, RunData):
        return default_out_dir(run.run_dir or run.path)
    return default_out_dir(run)


def write_report(
    run: RunData | str | Path,
    out: str | Path | None = None,
    *,
    compare: RunData | str | Path | None = None,
    title: str | None = None,
    max_examples: int = 4,
    progress: bool | None = None,
) -> Path:
    """Write ``report.html`` and its PNG plots into ``out`` and return the HTML's path.

    Args:
        run: a ``verl-difficulty score --out`` folder, a scored parquet, or a :class:`RunData`.
        out: output folder (default: ``<run>/report``; ``<stem>_report`` next to a parquet not named
            ``scored.parquet``).
        compare: a second run to compare with (joined on ``extra_info.index``).
        title: page title (default: "Difficulty report: <run name>").
        max_examples: example rows shown per tier and metric, and the number of heat maps.
        progress: show progress bars (default: only on a terminal, for large inputs).

    Raises:
        ReportInputError: an input is missing, not parquet, or has no ``difficulty`` column.
    """
    from tqdm.auto import tqdm

    from verl_difficulty import __version__

    if max_examples < 0:
        raise ValueError(f"max_examples must be >= 0, got {max_examples}")
    a = run if isinstance(run, RunData) else load_run(run, progress=progress)
    b = compare if isinstance(compare, RunData) or compare is None else load_run(compare, progress=progress)
    out_dir = _out_dir(run, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in PLOT_FILES.values():
        (out_dir / name).unlink(missing_ok=True)

    problems = list(a.problems)
    if b is not None:
        problems += [f"run B: {p}" for p in b.problems]
    heatmaps, heatmap_rows, hm_problems = stats.find_heatmaps(a, max_examples)
    problems += hm_problems
    examples = {m: stats.pick_examples(a, m, max_examples) for m in a.metrics}
    wanted = {hm.row for hm in heatmaps} | {r for by in examples.values() for rows in by.values() for r in rows}
    images = read_images(a.path, sorted(wanted), progress=progress)

    p = {k: out_dir / v for k, v in PLOT_FILES.items()}
    steps = [
        ("tier_counts", lambda: plots.plot_tier_counts(a, p["tier_counts"])),
        ("tiers_by_task", lambda: plots.plot_tiers_by_task(a, p["tiers_by_task"])),
    ]
    # A metric that was not run gets a note in the page, not a placeholder PNG.
    if "pism" in a.metrics:
        steps.append(("pism_accuracy", lambda: plots.plot_pism_curves(a, p["pism_accuracy"])))
        steps.append(("pism_lambda", lambda: plots.plot_lambda_star(a, p["pism_lambda"])))
    if "cmab" in a.metrics:
        steps.append(("cmab_rho", lambda: plots.plot_cmab_hist(a, p["cmab_rho"])))
    if "passrate" in a.metrics:
        steps.append(("passrate_hist", lambda: plots.plot_passrate_hist(a, p["passrate_hist"])))
    join = None
    if b is not None:
        join = stats.join_runs(a, b)
        steps.append(("compare_tiers", lambda: plots.plot_compare_tiers(a, b, p["compare_tiers"])))
        if len(join.frame):  # row-by-row plots only when the runs share sample ids
            steps += [
                ("compare_transitions", lambda: plots.plot_transitions(a, b, join, p["compare_transitions"])),
                ("compare_scores", lambda: plots.plot_score_scatter(a, b, join, p["compare_scores"])),
            ]
    written: dict[str, Path | None] = {}
    for key, draw in tqdm(
        steps, desc="drawing plots", unit="plot", disable=(not progress) if progress is not None else None, leave=False
    ):
        written[key] = draw()
    written["heatmaps"], img_problems = plots.plot_heatmaps(heatmaps, images, p["heatmaps"])
    problems += img_problems

    thumbnails: dict[int, str | None] = {}
    thumb_errors: dict[int, str] = {}
    for r in sorted(wanted):
        thumbnails[r] = None
        if not images.get(r):
            thumb_errors[r] = "no image in this row"
            continue
        try:
            thumbnails[r] = _thumbnail(images[r])
        except (ImageLoadError, OSError) as err:
            thumb_errors[r] = f"image not shown: {err}"
            problems.append(f"example {a.frame['index'].iat[r]}: image not shown ({err})")

    parts = ReportParts(
        title=title or f"Difficulty report: {a.name}",
        plots=written,
        heatmaps=heatmaps,
        heatmap_rows=heatmap_rows,
        examples=examples,
        thumbnails=thumbnails,
        thumbnail_errors=thumb_errors,
        compare=b,
        join=join,
        problems=problems,
        version=__version__,
        max_examples=max_examples,
    )
    path = out_dir / REPORT_FILE
    plots.write_bytes(path, render(a, parts).encode("utf-8"))
    return path
