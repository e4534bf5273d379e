"""The report's plots: one function per plot, each writes a PNG and returns its path.

Every function draws with matplotlib's object API on its own ``Figure`` (Agg canvas, no pyplot, no global
backend switch), so it works headless, in threads and inside notebooks without disturbing them. matplotlib is
imported inside the functions: the rest of the package does not pay for it.

When the data for a plot is missing (metric not scored, no shared ids, ...) the function still writes a PNG
that says so, instead of raising; functions that have nothing meaningful to show at all return ``None``
(documented per function).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from verl_difficulty.report import stats
from verl_difficulty.report.load import FAILED, NOT_SCORED, RunData
from verl_difficulty.tiers import METRICS, TIERS
from verl_difficulty.utils import atomic_write_bytes

#: Tier colours used everywhere in the report (and in the HTML tables).
COLORS = {
    "easy": "#2b9348",
    "mid": "#f2a007",
    "hard": "#d62828",
    "unsolved": "#7f7f7f",
    FAILED: "#2d2d2d",
    NOT_SCORED: "#d9d9d9",
}
METRIC_LABELS = {"pism": "PISM", "cmab": "CMAB", "passrate": "pass-rate"}
DPI = 110
_BAR_STATUSES = (*TIERS, FAILED)
#: At most this many per-task curves (the largest tasks) in the PISM plot.
MAX_TASK_LINES = 8


def _figure(width: float = 8.0, height: float = 4.5, **kwargs):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained", **kwargs)


def write_bytes(path: Path, data: bytes) -> Path:
    """Atomic write that leaves the file readable by others (umask applies), as reports are meant to be shared."""
    atomic_write_bytes(path, data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return Path(path)


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return write_bytes(path, buf.getvalue())


def placeholder(path: Path, title: str, message: str) -> Path:
    """A small PNG with a title and an explanation, for plots whose data is missing."""
    fig = _figure(8.0, 2.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=12, loc="left")
    ax.text(
        0.5,
        0.45,
        message,
        ha="center",
        va="center",
        fontsize=11,
        color="#555555",
        wrap=True,
        bbox={"boxstyle": "round,pad=0.6", "facecolor": "#f4f4f4", "edgecolor": "#cccccc"},
    )
    return _save(fig, path)


def _pct(ax, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    getattr(ax, f"{axis}axis").set_major_formatter(PercentFormatter(1.0))


def _integer_y(ax) -> None:
    """Whole-number count ticks with thousands separators."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):,}"))


def compact(n: int) -> str:
    """12345 -> '12.3k', 1234567 -> '1.23M' (tick labels stay short on big runs)."""
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.3g}k"
    return f"{n / 1_000_000:.3g}M"


def _log_axis(ax, which: str = "x") -> None:
    """Log scale with plain-number ticks at 1, 2, 5 x 10^k."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def aligned_edges(lo: float, hi: float, cuts, n: int, log: bool) -> np.ndarray:
    """About ``n`` histogram bin edges over ``[lo, hi]`` that include every cut point, so no bin straddles a
    tier threshold (bins per segment proportional to its (log) width, at least one)."""
    points = [lo] + sorted(c for c in cuts if lo < c < hi) + [hi]
    f = np.log if log else (lambda v: v)
    total = f(hi) - f(lo)
    edges = [lo]
    for a, b in zip(points[:-1], points[1:]):
        k = max(1, round(n * (f(b) - f(a)) / total))
        seg = np.geomspace(a, b, k + 1) if log else np.linspace(a, b, k + 1)
        edges.extend(seg[1:].tolist())
    return np.asarray(edges)


def _tier_legend_handles(statuses=_BAR_STATUSES):
    from matplotlib.patches import Patch

    return [Patch(facecolor=COLORS[s], label=s) for s in statuses]


# --------------------------------------------------------------------------------------------- 1. tier counts
def plot_tier_counts(run: RunData, path: Path) -> Path:
    """Grouped bars: rows per tier (and failed) for each metric; metrics not run are marked "not scored"."""
    counts = stats.tier_counts(run)
    if not run.metrics:
        return placeholder(path, "Tier counts per metric", "No metric has been scored in this run.")
    fig = _figure(8.5, 4.6)
    ax = fig.add_subplot()
    width = 0.16
    top = max(1, int(counts[list(_BAR_STATUSES)].to_numpy().max()))
    for g, m in enumerate(METRICS):
        if m not in run.metrics:
            ax.text(
                g,
                top * 0.5,
                "not scored",
                ha="center",
                va="center",
                fontsize=11,
                color="#777777",
                bbox={"boxstyle": "round", "facecolor": "#f4f4f4", "edgecolor": "#cccccc"},
            )
            continue
        for k, status in enumerate(_BAR_STATUSES):
            n = int(counts.loc[m, status])
            x = g + (k - 2) * width
            ax.bar(x, n, width * 0.92, color=COLORS[status], edgecolor="white", linewidth=0.5)
            ax.text(x, n + top * 0.012, f"{n:,}", ha="center", va="bottom", fontsize=7.5)
    labels = []
    for m in METRICS:
        scored = int(counts.loc[m, list(_BAR_STATUSES)].sum())
        labels.append(
            f"{METRIC_LABELS[m]}\n{scored:,} of {run.num_rows:,} rows" if m in run.metrics else METRIC_LABELS[m]
        )
    ax.set_xticks(range(len(METRICS)), labels)
    ax.set_xlim(-0.5, len(METRICS) - 0.5)
    ax.set_ylim(0, top * 1.15)
    _integer_y(ax)
    ax.set_ylabel("rows")
    ax.set_title(f"Tier counts per metric ({run.num_rows:,} rows)", loc="left")
    ax.legend(handles=_tier_legend_handles(), ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def plot_tiers_by_task(run: RunData, path: Path) -> Path | None:
    """Share of each tier per ``extra_info.task``, one panel per scored metric (``None`` for a single task)."""
    tasks = run.tasks
    if len(tasks) < 2 or not run.metrics:
        return None
    metrics = list(run.metrics)
    fig = _figure(3.4 * len(metrics) + 1.2, 0.45 * len(tasks) + 1.8)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        table = stats.tier_counts_by_task(run, m).reindex(tasks)
        table = table[list(_BAR_STATUSES)]
        totals = table.sum(axis=1).replace(0, np.nan)
        left = np.zeros(len(tasks))
        for status in _BAR_STATUSES:
            share = (table[status] / totals).fillna(0).to_numpy()
            ax.barh(range(len(tasks)), share, left=left, color=COLORS[status], edgecolor="white", linewidth=0.5)
            for y, (s, start) in enumerate(zip(share, left)):
                if s >= 0.08:
                    ax.text(
                        start + s / 2,
                        y,
                        f"{s:.0%}",
                        ha="center",
                        va="center",
                        fontsize=7.5,
                        color="white" if status in ("hard", "failed", "easy", "unsolved") else "black",
                    )
            left += share
        ax.set_yticks(range(len(tasks)), [f"{t} ({int(n) if n == n else 0})" for t, n in zip(tasks, totals)])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        _pct(ax, "x")
        ax.set_title(METRIC_LABELS[m], loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Tier shares per task (rows scored with the metric)", x=0.01, ha="left")
    fig.legend(handles=_tier_legend_handles(), ncols=5, loc="outside lower center", frameon=False)
    return _save(fig, path)


# -------------------------------------------------------------------------------- 2. PISM accuracy vs ratio
def _pism_tier_spans(ax, tiers, xmax: float = 1.0, label: bool = True) -> None:
    lh, le = tiers.lambda_hard, tiers.lambda_easy
    for lo, hi, name in ((0.0, lh, "hard"), (lh, le, "mid"), (le, xmax, "easy")):
        ax.axvspan(lo, hi, color=COLORS[name], alpha=0.07, lw=0)
        if label:
            ax.text(
                (lo + hi) / 2,
                1.0,
                f"λ* here: {name}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7.5,
                color=COLORS[name],
            )
    for x, name in ((lh, "λ_hard"), (le, "λ_easy")):
        ax.axvline(x, color="#444444", ls="--", lw=0.9)
        ax.annotate(
            f"{name} = {x:g}",
            (x, 0.02),
            xycoords=ax.get_xaxis_transform(),
            xytext=(-2, 0),
            textcoords="offset points",
            fontsize=7.5,
            color="#444444",
            rotation=90,
            va="bottom",
            ha="right",
        )


def plot_pism_curves(run: RunData, path: Path) -> Path:
    """The paper's Fig. 1: accuracy against mask ratio, honestly for early-stopped runs.

    Left: the fraction of samples still solved at each ratio (λ* > λ), overall and per task: every row
    contributes at every ratio, so this is unbiased even though rows stop at their first failing ratio.
    Right: the measured Pc(λ) = correct / attempts averaged over the rows tested at λ, per tier, with τ;
    only rows still alive are tested and attempts stop at the first correct answer, so it is biased upward.
    """
    curves = stats.pism_curves(run)
    if curves is None or curves.rows == 0:
        why = "PISM was not scored in this run." if curves is None else "No PISM row has a tier (all failed)."
        return placeholder(path, "PISM: accuracy against mask ratio", why)
    tiers = run.metrics["pism"].tiers
    grid = curves.grid
    xmax = max(1.0, float(grid.max()) + 0.05)
    fig = _figure(11.0, 5.6)
    left, right = fig.subplots(1, 2)

    _pism_tier_spans(left, tiers, xmax)
    if curves.censored:
        left.fill_between(
            grid,
            curves.survival_low,
            curves.survival_high,
            color="#999999",
            alpha=0.3,
            lw=0,
            label=f"unknown: {curves.censored} easy row(s) not tested this far (tiers-only)",
        )
    mid = (curves.survival_low + curves.survival_high) / 2 if curves.censored else curves.survival_low
    left.plot(
        grid,
        curves.survival_low if not curves.censored else mid,
        color="black",
        lw=2.2,
        marker="o",
        ms=4,
        label=f"all tiered rows (n={curves.rows:,})",
        zorder=5,
    )
    if len(curves.by_task) > 1:
        biggest = sorted(curves.by_task.items(), key=lambda kv: -kv[1][2])[:MAX_TASK_LINES]
        for (task, (lo, hi, n)), color in zip(sorted(biggest), _qualitative(len(biggest))):
            left.plot(grid, (lo + hi) / 2, color=color, lw=1.2, marker=".", label=f"{task} (n={n:,})")
    left.set_xlim(-0.02, xmax)
    left.set_ylim(0, 1.05)
    _pct(left)
    left.set_xlabel("mask ratio λ")
    left.set_ylabel("samples still solved at λ (λ* > λ)")
    left.set_title("Still solved at mask ratio λ", loc="left", pad=16)
    left.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, frameon=False)
    left.grid(axis="y", alpha=0.3)

    _pism_tier_spans(right, tiers, xmax, label=False)
    right.axhline(curves.tau, color="#7b2cbf", ls=":", lw=1.4, label=f"τ = {curves.tau:g} (a ratio fails below τ)")
    pc, rows = curves.pc_mean, curves.pc_rows
    for tier in TIERS:
        if rows[tier].sum():
            right.plot(grid, pc[tier], color=COLORS[tier], marker="o", ms=3.5, lw=1.4, label=f"{tier} rows")
    right.plot(grid, pc["all"], color="black", ls="--", lw=1.6, label="all rows tested at λ")
    right.set_xticks(grid, [f"{x:g}\n{compact(int(n))}" for x, n in zip(grid, rows["all"])], fontsize=7.5)
    right.set_xlim(-0.05, xmax)
    right.set_ylim(0, 1.05)
    _pct(right)
    right.set_xlabel("mask ratio λ  /  rows tested at λ")
    right.set_ylabel("mean Pc(λ) = correct / attempts")
    right.set_title("Measured Pc(λ) of rows tested at λ", loc="left", pad=16)
    right.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)
    right.grid(axis="y", alpha=0.3)
    fig.suptitle(
        "PISM: accuracy against mask ratio. Rows stop at their first failing ratio and attempts at the first correct "
        "answer,\nso the right panel sees only surviving rows (biased upward); the left panel counts every row.",
        fontsize=9,
        x=0.01,
        ha="left",
        color="#333333",
    )
    return _save(fig, path)


def _qualitative(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


# ----------------------------------------------------------------------------------------- 3. λ* histogram
def plot_lambda_star(run: RunData, path: Path) -> Path:
    """Rows per breaking ratio λ* (plus "never failed"), stacked by recorded tier, threshold lines drawn."""
    table = stats.lambda_star_histogram(run)
    if table is None or table.to_numpy().sum() == 0:
        why = "PISM was not scored in this run." if table is None else "No PISM row has a tier (all failed)."
        return placeholder(path, "PISM: breaking ratio λ*", why)
    tiers = run.metrics["pism"].tiers
    fig = _figure(8.5, 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(table))
    bottom = np.zeros(len(table))
    for tier in TIERS:
        v = table[tier].to_numpy()
        if v.sum():
            ax.bar(x, v, 0.75, bottom=bottom, color=COLORS[tier], label=tier, edgecolor="white", linewidth=0.5)
        bottom += v
    top = bottom.max()
    for xi, total in zip(x, bottom):
        ax.text(xi, total + top * 0.01, f"{int(total):,}", ha="center", va="bottom", fontsize=8)
    # Threshold lines between categories whose threshold tier differs.
    expected = []
    for label in table.index:
        try:
            expected.append(tiers.tier(float(label)))
        except ValueError:
            expected.append("easy" if label == "never failed" else None)
    for i in range(len(expected) - 1):
        a, b = expected[i], expected[i + 1]
        if a and b and a != b:
            ax.axvline(i + 0.5, color="#444444", ls="--", lw=0.9)
            ax.text(
                i + 0.5,
                top * 1.12,
                f"{a} | {b}",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color="#444444",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
            )
    ax.set_xticks(x, [s.replace(" ", "\n") for s in table.index])
    ax.set_ylim(0, top * 1.22)
    _integer_y(ax)
    ax.set_xlabel("λ* = first mask ratio where fewer than τ of the attempts are correct")
    ax.set_ylabel("rows")
    ax.set_title(
        f"PISM: breaking ratio λ* (λ_hard={tiers.lambda_hard:g}, λ_easy={tiers.lambda_easy:g}; "
        f"thresholds from {run.metrics['pism'].tiers_source})",
        loc="left",
        fontsize=10,
    )
    _legend_below(fig, [t for t in TIERS if table[t].sum()])
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def _legend_below(fig, tiers=TIERS, title: str = "recorded tier") -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLORS[t], label=t) for t in tiers]
    fig.legend(
        handles=handles, title=title, loc="outside lower center", ncols=4, frameon=False, fontsize=8, title_fontsize=8
    )


# ------------------------------------------------------------------------------------------ 4. ρ̄ histogram
def _cmab_bands(t, lo: float, hi: float):
    return [
        (lo, t.easy_low, "easy"),
        (t.easy_low, t.mid_low, "mid"),
        (t.mid_low, t.mid_high, "hard"),
        (t.mid_high, t.easy_high, "mid"),
        (t.easy_high, hi, "easy"),
    ]


def plot_cmab_hist(run: RunData, path: Path) -> Path:
    """Histogram of ρ̄ stacked by recorded tier, the CMAB tier bands shaded; log-x when the range is wide."""
    title = "CMAB: image / text attention balance ρ̄"
    if "cmab" not in run.metrics:
        return placeholder(path, title, "CMAB was not scored in this run.")
    f = run.frame
    t = run.metrics["cmab"].tiers
    has = f["cmab_status"].isin(TIERS) & f["cmab_score"].notna()
    rho = f.loc[has, "cmab_score"].to_numpy(float)
    tiers_of = f.loc[has, "cmab_status"].to_numpy()
    n_unsolved = int((f["cmab_status"] == "unsolved").sum())
    n_failed = int((f["cmab_status"] == FAILED).sum())
    if len(rho) == 0:
        return placeholder(path, title, f"No row has a ρ̄ ({n_unsolved:,} unsolved, {n_failed:,} failed).")
    positive = rho[rho > 0]
    log = len(positive) > 0 and (rho.max() / max(positive.min(), 1e-12) > 30 or positive.min() < t.easy_low / 3)
    nonpos = int((rho <= 0).sum()) if log else 0
    if log:
        floor = max(positive.min(), 1e-6) if len(positive) else t.easy_low / 10
        rho = np.where(rho <= 0, floor, rho)
        lo, hi = min(rho.min(), t.easy_low) / 1.3, max(rho.max(), t.easy_high) * 1.3
    else:
        lo, hi = 0.0, max(rho.max() * 1.05, t.easy_high * 1.15)
    edges = aligned_edges(lo, hi, (t.easy_low, t.mid_low, t.mid_high, t.easy_high), 45, log)
    fig = _figure(9.0, 4.6)
    ax = fig.add_subplot()
    for a, b, name in _cmab_bands(t, lo, hi):
        ax.axvspan(a, b, color=COLORS[name], alpha=0.10, lw=0)
        ax.text(
            math.sqrt(a * b) if log else (a + b) / 2,
            1.0,
            name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color=COLORS[name],
            fontweight="bold",
        )
    for v in (t.easy_low, t.mid_low, t.mid_high, t.easy_high):
        ax.axvline(v, color="#555555", ls="--", lw=0.8)
        ax.text(
            v,
            0.98,
            f"{v:g} ",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            ha="right",
            va="top",
            fontsize=7.5,
            color="#555555",
        )
    present = [tier for tier in TIERS if (tiers_of == tier).any()]
    ax.hist(
        [rho[tiers_of == tier] for tier in present],
        bins=edges,
        stacked=True,
        label=present,
        color=[COLORS[tier] for tier in present],
        edgecolor="white",
        linewidth=0.4,
    )
    if log:
        _log_axis(ax, "x")
    _integer_y(ax)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("ρ̄ = attention on image tokens / attention on text tokens" + ("  (log scale)" if log else ""))
    ax.set_ylabel("rows")
    ax.set_title(title + f" ({len(rho):,} rows with ρ̄)", loc="left", pad=14)
    note = [f"unsolved (gate failed, no ρ̄): {n_unsolved:,}", f"failed: {n_failed:,}"]
    if nonpos:
        note.append(f"{nonpos} row(s) with ρ̄ ≤ 0 drawn at the left edge")
    ax.text(
        0.99,
        0.9,
        "\n".join(note),
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbbbbb"},
    )
    _legend_below(fig, present)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


# ------------------------------------------------------------------------------------ 5. pass-rate histogram
def plot_passrate_hist(run: RunData, path: Path) -> Path:
    """Histogram of per-row accuracy over N rollouts (the U shape), band filter edges and tier colours."""
    title = "Pass-rate: accuracy over rollouts"
    if "passrate" not in run.metrics:
        return placeholder(path, title, "Pass-rate was not scored in this run.")
    f = run.frame
    t = run.metrics["passrate"].tiers
    has = f["passrate_status"].isin(TIERS) & f["passrate_score"].notna()
    acc = f.loc[has, "passrate_score"].to_numpy(float)
    tiers_of = f.loc[has, "passrate_status"].to_numpy()
    if len(acc) == 0:
        return placeholder(path, title, "No row has a pass rate (all failed).")
    n_roll = stats.passrate_rollouts(run)
    fig = _figure(9.0, 4.6)
    ax = fig.add_subplot()
    ax.axvspan(t.too_hard, t.too_easy, color="#4c72b0", alpha=0.08, lw=0)
    present = [tier for tier in TIERS if (tiers_of == tier).any()]
    discrete = n_roll is not None and n_roll <= 40 and np.allclose(acc * n_roll, np.round(acc * n_roll), atol=1e-6)
    if discrete:
        edges = (np.arange(n_roll + 2) - 0.5) / n_roll
        width_note = f"one bar per k / {n_roll} correct"
    else:
        edges = np.linspace(0, 1, 21)
        width_note = "20 bins"
    ax.hist(
        [acc[tiers_of == tier] for tier in present],
        bins=edges,
        stacked=True,
        label=present,
        color=[COLORS[tier] for tier in present],
        edgecolor="white",
        linewidth=0.5,
        rwidth=0.9,
    )
    for v, name in ((t.too_hard, f"too hard < {t.too_hard:g}"), (t.too_easy, f"too easy > {t.too_easy:g}")):
        ax.axvline(v, color="#1f3b73", ls="--", lw=1.1)
        ax.text(
            v,
            0.98,
            f" {name} ",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            ha="right",
            va="top",
            fontsize=8,
            color="#1f3b73",
        )
    ax.axvline(t.hard_mid, color="#777777", ls=":", lw=1.0)
    ax.text(
        t.hard_mid,
        0.98,
        f" hard | mid at {t.hard_mid:g} ",
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="right",
        va="top",
        fontsize=7.5,
        color="#555555",
    )
    in_band = int(((acc >= t.too_hard) & (acc <= t.too_easy)).sum())
    kept = f"kept by the band filter:\n{in_band:,} rows ({in_band / len(acc):.0%})"
    ax.text(
        0.5 * (t.too_hard + t.hard_mid),
        0.97,
        kept,
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="top",
        fontsize=8.5,
        color="#1f3b73",
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#9fb3d9"},
    )
    ax.set_xlim(edges[0] - 0.01, edges[-1] + 0.01)
    _integer_y(ax)
    _pct(ax, "x")
    ax.set_xlabel(f"accuracy over {n_roll} rollouts ({width_note})" if n_roll else f"accuracy ({width_note})")
    ax.set_ylabel("rows")
    ax.set_title(title + f" ({len(acc):,} rows; arXiv 2505.13261 keeps the shaded band)", loc="left")
    _legend_below(fig, present)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------- 6. heat maps
def plot_heatmaps(heatmaps: list[stats.HeatMap], images: dict[int, list], path: Path) -> tuple[Path | None, list[str]]:
    """Attention heat maps over their images (one panel per row). ``(None, [])`` when there is no heat map.

    Returns the path and the problems met (an undecodable image is drawn as the bare heat map and reported).
    """
    if not heatmaps:
        return None, []
    from matplotlib import colormaps

    from verl_difficulty.data import ImageLoadError, load_image

    problems = []
    ncols = min(3, len(heatmaps))
    nrows = math.ceil(len(heatmaps) / ncols)
    fig = _figure(3.6 * ncols + 0.8, 3.2 * nrows + 0.6)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    cmap = colormaps["inferno"]
    for ax, hm in zip(axes, heatmaps):
        values = hm.values - min(0.0, float(hm.values.min()))
        values = values / values.max() if values.max() > 0 else values
        h, w = values.shape
        img = None
        imgs = images.get(hm.row) or []
        if hm.image < len(imgs):
            try:
                img = load_image(imgs[hm.image])
            except ImageLoadError as e:
                problems.append(f"heat map of {hm.index}: {e}")
        else:
            problems.append(f"heat map of {hm.index}: row has no image {hm.image}")
        if img is not None:
            img.thumbnail((512, 512))
            W, H = img.size
            ax.imshow(np.asarray(img), extent=(0, W, H, 0))
        else:
            W, H = w, h
        rgba = cmap(values)
        rgba[..., 3] = 0.15 + 0.6 * values
        ax.imshow(rgba, extent=(0, W, H, 0), interpolation="nearest")
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        label = hm.index if len(hm.index) <= 34 else "…" + hm.index[-33:]
        ax.set_title(f"{label}\nρ̄ = {hm.score:.3g} ({hm.tier}), grid {h}×{w}", fontsize=8.5, color=COLORS.get(hm.tier))
    for ax in axes[len(heatmaps) :]:
        ax.set_axis_off()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(
        ScalarMappable(Normalize(0, 1), cmap),
        ax=list(axes),
        shrink=0.7,
        label="attention (÷ the map's max)",
    )
    fig.suptitle("CMAB: where the answer's tokens look in the image", x=0.01, ha="left")
    return _save(fig, path), problems


# -------------------------------------------------------------------------------------------- 7. comparison
def _both_names(a: RunData, b: RunData) -> tuple[str, str]:
    na, nb = a.name, b.name
    if na == nb:
        na, nb = f"{na} ({a.path})", f"{nb} ({b.path})"
    return f"A: {na}", f"B: {nb}"


def plot_compare_tiers(a: RunData, b: RunData, path: Path) -> Path:
    """Side-by-side tier counts of two runs, one panel per metric scored in either run."""
    metrics = [m for m in METRICS if m in a.metrics or m in b.metrics]
    la, lb = _both_names(a, b)
    if not metrics:
        return placeholder(path, "Tier counts, A vs B", "Neither run has a scored metric.")
    ca, cb = stats.tier_counts(a), stats.tier_counts(b)
    fig = _figure(3.6 * len(metrics) + 0.6, 4.2)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = np.arange(len(_BAR_STATUSES))
    for ax, m in zip(axes, metrics):
        top = max(1, int(max(ca.loc[m, list(_BAR_STATUSES)].max(), cb.loc[m, list(_BAR_STATUSES)].max())))
        for off, counts, run, hatch, alpha in ((-0.2, ca, a, None, 1.0), (0.2, cb, b, "///", 0.55)):
            if m not in run.metrics:
                ax.text(
                    off + 2,
                    top * 0.5,
                    f"{'A' if run is a else 'B'}: not scored",
                    ha="center",
                    fontsize=8,
                    color="#777777",
                    rotation=90,
                )
                continue
            v = counts.loc[m, list(_BAR_STATUSES)].to_numpy()
            ax.bar(
                x + off,
                v,
                0.38,
                color=[COLORS[s] for s in _BAR_STATUSES],
                alpha=alpha,
                hatch=hatch,
                edgecolor="white",
                linewidth=0.5,
            )
            for xi, n in zip(x + off, v):
                ax.text(xi, n + top * 0.01, f"{int(n):,}", ha="center", va="bottom", fontsize=6.5, rotation=90)
        ax.set_xticks(x, _BAR_STATUSES, fontsize=8)
        ax.set_ylim(0, top * 1.25)
        _integer_y(ax)
        ax.set_title(METRIC_LABELS[m], loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("rows")
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="#888888", label=la), Patch(facecolor="#888888", alpha=0.55, hatch="///", label=lb)]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    fig.suptitle("Tier counts: run A (solid) against run B (hatched)", x=0.01, ha="left")
    return _save(fig, path)


def plot_transitions(a: RunData, b: RunData, join: stats.Join, path: Path) -> Path:
    """Tier transition matrix per metric: rows = status in run A, columns = status in run B, shared ids."""
    la, lb = _both_names(a, b)
    title = "Tier transitions, A → B"
    if len(join.frame) == 0:
        return placeholder(
            path, title, "The runs share no sample id (extra_info.index): nothing to compare row by row."
        )
    metrics = [m for m in METRICS if m in a.metrics and m in b.metrics]
    if not metrics:
        return placeholder(path, title, "No metric is scored in both runs.")
    fig = _figure(3.9 * len(metrics) + 0.6, 4.3)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        mat = stats.transition_matrix(a, b, m, join)
        keep_r = [s for s in mat.index if s in TIERS or mat.loc[s].sum() > 0]
        keep_c = [s for s in mat.columns if s in TIERS or mat[s].sum() > 0]
        mat = mat.loc[keep_r, keep_c]
        counts = mat.to_numpy()
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{counts[i, j]:,}",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if share[i, j] > 0.6 else "black",
                    fontweight="bold" if mat.index[i] == mat.columns[j] else "normal",
                )
        from matplotlib.patches import Rectangle

        for i, r in enumerate(mat.index):
            if r in mat.columns:
                j = list(mat.columns).index(r)
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#333333", lw=1.2))
        ax.set_xticks(range(len(keep_c)), keep_c, fontsize=8, rotation=30)
        ax.set_yticks(range(len(keep_r)), keep_r, fontsize=8)
        ax.set_xlabel("tier in " + ("B" if len(lb) > 40 else lb), fontsize=8)
        ax.set_ylabel("tier in " + ("A" if len(la) > 40 else la), fontsize=8)
        both = mat.loc[[s for s in keep_r if s in TIERS], [s for s in keep_c if s in TIERS]].to_numpy()
        same = np.trace(both) / both.sum() if both.sum() else float("nan")
        ax.set_title(
            f"{METRIC_LABELS[m]}: {int(counts.sum()):,} shared rows, {same:.0%} same tier", loc="left", fontsize=9
        )
    fig.suptitle(f"{title} (colour: share of the A row; {la}, {lb})", x=0.01, ha="left", fontsize=9)
    return _save(fig, path)


def plot_score_scatter(a: RunData, b: RunData, join: stats.Join, path: Path) -> Path:
    """Score of each shared row in run A against run B, per metric both runs scored, with rank correlation."""
    title = "Scores, A against B"
    if len(join.frame) == 0:
        return placeholder(
            path, title, "The runs share no sample id (extra_info.index): nothing to compare row by row."
        )
    metrics = [m for m in METRICS if m in a.metrics and m in b.metrics]
    pairs = {m: stats.score_pairs(join, m) for m in metrics}
    pairs = {m: p for m, p in pairs.items() if len(p)}
    if not pairs:
        return placeholder(path, title, "No shared row has a score in both runs for the same metric.")
    la, lb = _both_names(a, b)
    fig = _figure(3.9 * len(pairs) + 0.6, 4.2)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    rng = np.random.default_rng(0)
    names = {"pism": "λ*", "cmab": "ρ̄", "passrate": "accuracy"}
    for ax, (m, p) in zip(axes, pairs.items()):
        xa, xb = p["a"].to_numpy(float), p["b"].to_numpy(float)
        rho = stats.spearman(xa, xb)
        log = (
            m == "cmab" and (xa > 0).all() and (xb > 0).all() and max(xa.max(), xb.max()) / min(xa.min(), xb.min()) > 30
        )
        jitter = 0.0 if m == "cmab" else 0.012
        ja = xa + rng.uniform(-jitter, jitter, len(xa))
        jb = xb + rng.uniform(-jitter, jitter, len(xb))
        for tier in (*TIERS, FAILED, NOT_SCORED):
            sel = p["tier_a"].to_numpy() == tier
            if sel.any():
                ax.scatter(ja[sel], jb[sel], s=14, alpha=0.7, color=COLORS[tier], label=f"{tier} in A", lw=0)
        lo, hi = min(xa.min(), xb.min()), max(xa.max(), xb.max())
        ax.plot([lo, hi], [lo, hi], color="#555555", lw=0.8, ls="--")
        if log:
            _log_axis(ax, "x")
            _log_axis(ax, "y")
        ax.set_xlabel(f"{names[m]} in A", fontsize=8)
        ax.set_ylabel(f"{names[m]} in B", fontsize=8)
        corr = "n/a" if math.isnan(rho) else f"{rho:.2f}"
        ax.set_title(f"{METRIC_LABELS[m]}: {len(p):,} rows, Spearman {corr}", loc="left", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    fig.suptitle(f"{title} ({la}; {lb}; discrete scores jittered slightly)", x=0.01, ha="left", fontsize=9)
    return _save(fig, path)
