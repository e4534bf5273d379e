"""The numbers behind every plot and table of the report (pure pandas / numpy, no matplotlib).

Kept apart from the drawing code so that tests can assert exact counts and users can reuse them in notebooks::

    from verl_difficulty.report import load_run, stats
    run = load_run("outputs/score_pism")
    stats.tier_counts(run)                 # metrics x statuses
    stats.pism_curves(run).survival_low    # fraction of samples still solved at each mask ratio
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from verl_difficulty.report.load import FAILED, NOT_SCORED, STATUSES, RunData, find_setting
from verl_difficulty.tiers import METRICS, TIERS

#: PISM's mask ratios in the paper, used when a run recorded none.
DEFAULT_RATIOS = tuple(round(0.1 * i, 1) for i in range(10))
#: PISM's τ in the paper (a ratio fails when fewer than τ of its attempts are correct).
DEFAULT_TAU = 0.1
_EPS = 1e-9


# ----------------------------------------------------------------------------------------------- tier counts
def tier_counts(run: RunData) -> pd.DataFrame:
    """Rows per status (easy, mid, hard, unsolved, failed, not scored) for every metric (index: METRICS)."""
    out = pd.DataFrame(0, index=list(METRICS), columns=list(STATUSES), dtype=int)
    for m in METRICS:
        counts = run.frame[f"{m}_status"].value_counts()
        for status, n in counts.items():
            out.loc[m, status] = int(n)
    return out


def tier_counts_by_task(run: RunData, metric: str) -> pd.DataFrame:
    """Rows per status for each ``extra_info.task`` (index: tasks, columns: STATUSES)."""
    table = pd.crosstab(run.frame["task"], run.frame[f"{metric}_status"])
    return table.reindex(columns=list(STATUSES), fill_value=0).astype(int)


def error_reasons(run: RunData, metric: str, top: int = 5) -> list[tuple[str, int, str]]:
    """The most common error messages of ``metric`` as ``(message, rows, example sample id)``."""
    f = run.frame
    if f"{metric}_error" not in f:
        return []
    err = f.loc[f[f"{metric}_status"] == FAILED, ["index", f"{metric}_error"]]
    if err.empty:
        return []
    reasons = err[f"{metric}_error"].map(_reason)
    grouped = err.assign(reason=reasons).groupby("reason", sort=False)["index"].agg(["size", "first"])
    grouped = grouped.sort_values("size", ascending=False, kind="stable").head(top)
    return [(str(r), int(n), str(i)) for r, (n, i) in grouped.iterrows()]


def _reason(error: Any) -> str:
    text = str(error or "").strip()
    text = text.splitlines()[0] if text else "(empty error message)"
    return text if len(text) <= 200 else text[:197] + "..."


# ------------------------------------------------------------------------------------------------------ PISM
def pism_tau(run: RunData) -> float:
    md = run.metrics.get("pism")
    for prov, _ in md.provenance if md else []:
        tau = find_setting(prov, "tau")
        if isinstance(tau, (int, float)) and not isinstance(tau, bool):
            return float(tau)
    return DEFAULT_TAU


@dataclass
class PismCurves:
    """PISM outcomes per mask ratio.

    ``survival_low[j]`` / ``survival_high[j]``: fraction of the tiered PISM rows still solved at ``grid[j]``
    (λ* > λ). They differ only when some rows stopped early without failing (tiers-only mode: an easy row is
    not tested above λ_easy), counted as failing in ``low`` and as passing in ``high``.

    ``pc_mean`` / ``pc_rows``: mean measured Pc(λ) = correct / attempts over the rows *tested* at λ, and how
    many rows that is, overall and per tier (index: ratios; columns: ``all`` and the tiers).
    """

    grid: np.ndarray
    rows: int
    survival_low: np.ndarray
    survival_high: np.ndarray
    censored: int
    by_task: dict[str, tuple[np.ndarray, np.ndarray, int]]
    pc_mean: pd.DataFrame
    pc_rows: pd.DataFrame
    tau: float
    lambda_star: pd.DataFrame = field(repr=False, default=None)


def lambda_stars(run: RunData) -> pd.DataFrame | None:
    """Each tiered PISM row's breaking ratio: columns ``row, tier, task, lam, censor``.

    ``lam`` is λ* (``inf``: never failed up to the largest tested ratio; ``NaN``: not measured). ``censor`` is
    the largest ratio a row without a recorded failure was tested at (``NaN`` when ``lam`` is known).
    Rows without a recorded score (tiers-only mode) get λ* from their ratio outcomes (a ratio fails when
    correct / attempts < τ, which under the scorer's exact early stop is the same decision).
    """
    md = run.metrics.get("pism")
    if md is None:
        return None
    f = run.frame
    tiered = f[f["pism_status"].isin(TIERS)]
    out = pd.DataFrame({"row": tiered["row"].to_numpy(), "tier": tiered["pism_status"].to_numpy()})
    out["task"] = tiered["task"].to_numpy()
    score = tiered["pism_score"].to_numpy(dtype=float)
    lam = np.where(score >= 1.0 - _EPS, np.inf, score)
    censor = np.full(len(out), np.nan)
    unknown = np.isnan(score)
    if unknown.any():
        tau = pism_tau(run)
        r = md.ratios if md.ratios is not None else pd.DataFrame(columns=["row", "ratio", "attempts", "correct"])
        r = r[r["row"].isin(out["row"][unknown]) & (r["attempts"] > 0)]
        failing = r[(r["correct"] / r["attempts"]) < tau - _EPS]
        first_fail = failing.groupby("row")["ratio"].min()
        last_tested = r.groupby("row")["ratio"].max()
        rows = out["row"].to_numpy()
        for i in np.flatnonzero(unknown):
            row = rows[i]
            if out["tier"].iat[i] == "unsolved":
                lam[i] = 0.0
            elif row in first_fail.index:
                lam[i] = first_fail[row]
            else:
                censor[i] = last_tested.get(row, -np.inf)
    out["lam"] = lam
    out["censor"] = censor
    return out


def _survival(lam: np.ndarray, censor: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(lam)
    if n == 0:
        return np.full(len(grid), np.nan), np.full(len(grid), np.nan)
    known = ~np.isnan(lam)
    passes = np.zeros((n, len(grid)), bool)
    unknown = np.zeros((n, len(grid)), bool)
    passes[known] = lam[known, None] > grid[None, :] + _EPS
    c = censor[~known]
    passes[~known] = grid[None, :] <= c[:, None] + _EPS
    unknown[~known] = ~passes[~known]
    low = passes.sum(0) / n
    high = (passes | unknown).sum(0) / n
    return low, high


def pism_curves(run: RunData) -> PismCurves | None:
    """Survival and measured Pc(λ) per mask ratio (``None`` when the run has no PISM record)."""
    lam = lambda_stars(run)
    md = run.metrics.get("pism")
    if lam is None or md is None:
        return None
    ratios = md.ratios if md.ratios is not None else pd.DataFrame(columns=["row", "ratio", "attempts", "correct"])
    ratios = ratios[ratios["row"].isin(lam["row"])]
    grid = np.array(sorted(set(ratios["ratio"].round(6).tolist())), dtype=float)
    if len(grid) == 0:
        setting = next((find_setting(p, "ratios") for p, _ in md.provenance if find_setting(p, "ratios")), None)
        grid = np.array(sorted(setting) if isinstance(setting, list) else DEFAULT_RATIOS, dtype=float)
    low, high = _survival(lam["lam"].to_numpy(float), lam["censor"].to_numpy(float), grid)
    by_task = {}
    for task, part in lam.groupby("task"):
        t_low, t_high = _survival(part["lam"].to_numpy(float), part["censor"].to_numpy(float), grid)
        by_task[str(task)] = (t_low, t_high, len(part))

    tested = ratios[ratios["attempts"] > 0].merge(lam[["row", "tier"]], on="row")
    tested = tested.assign(pc=tested["correct"] / tested["attempts"])
    means = {"all": tested.groupby("ratio")["pc"].mean()}
    counts = {"all": tested.groupby("ratio")["pc"].size()}
    for tier in TIERS:
        part = tested[tested["tier"] == tier]
        means[tier] = part.groupby("ratio")["pc"].mean()
        counts[tier] = part.groupby("ratio")["pc"].size()
    pc_mean = pd.DataFrame(means).reindex(grid)
    pc_rows = pd.DataFrame(counts).reindex(grid).fillna(0).astype(int)
    censored = int((~np.isnan(lam["censor"].to_numpy(float))).sum())
    return PismCurves(grid, len(lam), low, high, censored, by_task, pc_mean, pc_rows, pism_tau(run), lam)


def lambda_star_histogram(run: RunData) -> pd.DataFrame | None:
    """Rows per λ* value (index labels: ratios, ``never failed``, ``not measured``) and recorded tier."""
    lam = lambda_stars(run)
    if lam is None:
        return None
    curves = pism_curves(run)
    labels = [_fmt_ratio(x) for x in curves.grid]
    values = lam["lam"].to_numpy(float)
    cat = np.where(
        np.isinf(values), "never failed", np.where(np.isnan(values), "not measured", [_fmt_ratio(v) for v in values])
    )
    extra = sorted(set(cat) - set(labels) - {"never failed", "not measured"}, key=float)
    order = sorted(labels + extra, key=float) + ["never failed", "not measured"]
    table = pd.crosstab(pd.Series(cat, name="lambda_star"), pd.Series(lam["tier"].to_numpy(), name="tier"))
    table = table.reindex(index=order, columns=list(TIERS), fill_value=0).astype(int)
    if table.loc["not measured"].sum() == 0:
        table = table.drop(index="not measured")
    return table


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if round(x, 1) != x else f"{x:.1f}"


# -------------------------------------------------------------------------------------------------- pass-rate
def passrate_rollouts(run: RunData) -> int | None:
    """The most common number of rollouts per row (``None`` when unknown)."""
    if "passrate" not in run.metrics:
        return None
    att = run.frame.loc[run.frame["passrate_status"].isin(TIERS), "passrate_attempts"].dropna()
    att = att[att > 0]
    if att.empty:
        return None
    return int(att.mode().iloc[0])


# -------------------------------------------------------------------------------------------------- heat maps
@dataclass
class HeatMap:
    row: int
    index: str
    tier: str
    score: float
    values: np.ndarray
    image: int


def parse_heatmap(value: Any) -> tuple[np.ndarray, int]:
    """``details["heatmap"]`` as an ``(h, w)`` array and the image number; ``ValueError`` naming what is wrong.

    Accepted: ``{"grid": [h, w], "values": [h*w floats] or [[w floats] x h], "image": 0}`` (``image`` optional).
    """
    if not isinstance(value, dict):
        raise ValueError(f"details.heatmap must be an object with 'grid' and 'values', got {type(value).__name__}")
    if "values" not in value:
        raise ValueError("details.heatmap has no 'values'")
    try:
        arr = np.asarray(value["values"], dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"details.heatmap.values is not a numeric (h*w or h x w) list ({e})") from e
    grid = value.get("grid")
    if grid is not None:
        if not (isinstance(grid, (list, tuple)) and len(grid) == 2 and all(isinstance(g, int) and g > 0 for g in grid)):
            raise ValueError(f"details.heatmap.grid must be [h, w] positive integers, got {grid!r}")
    if arr.ndim == 1:
        if grid is None:
            raise ValueError("details.heatmap.values is flat but there is no 'grid': [h, w]")
        if arr.size != grid[0] * grid[1]:
            raise ValueError(f"details.heatmap: grid {list(grid)} needs {grid[0] * grid[1]} values, got {arr.size}")
        arr = arr.reshape(grid[0], grid[1])
    elif arr.ndim == 2:
        if grid is not None and list(arr.shape) != list(grid):
            raise ValueError(f"details.heatmap: grid {list(grid)} but values are {arr.shape[0]} x {arr.shape[1]}")
    else:
        raise ValueError(f"details.heatmap.values must be a flat or 2-D list, got {arr.ndim} dimensions")
    if arr.size == 0:
        raise ValueError("details.heatmap.values is empty")
    if not np.isfinite(arr).all():
        raise ValueError("details.heatmap.values has NaN or infinite entries")
    image = value.get("image", 0)
    if isinstance(image, bool) or not isinstance(image, int) or image < 0:
        raise ValueError(f"details.heatmap.image must be a non-negative integer, got {image!r}")
    return arr, image


def find_heatmaps(run: RunData, limit: int) -> tuple[list[HeatMap], int, list[str]]:
    """Up to ``limit`` CMAB heat maps, spread over tiers; also the number of rows carrying one, and problems."""
    import pyarrow.compute as pc

    md = run.metrics.get("cmab")
    if md is None:
        return [], 0, []
    has = pc.fill_null(pc.match_substring(md.details, '"heatmap"'), False)
    rows = np.flatnonzero(np.asarray(has.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rows) == 0 or limit <= 0:
        return [], len(rows), []
    f = run.frame
    order = {"hard": 0, "mid": 1, "easy": 2, "unsolved": 3}
    by_tier: dict[str, list[int]] = {}
    for r in rows:
        by_tier.setdefault(str(f["cmab_status"].iat[r]), []).append(int(r))
    queues = [by_tier[t] for t in sorted(by_tier, key=lambda t: order.get(t, 9))]
    picked: list[HeatMap] = []
    problems: list[str] = []
    while len(picked) < limit and any(queues):
        for q in queues:
            if not q or len(picked) >= limit:
                continue
            r = q.pop(0)
            try:
                details = json.loads(md.details[r].as_py())
                values, image = parse_heatmap(details.get("heatmap"))
            except (ValueError, AttributeError) as e:
                problems.append(f"cmab heat map of {f['index'].iat[r]} skipped: {e}")
                continue
            picked.append(
                HeatMap(
                    r,
                    str(f["index"].iat[r]),
                    str(f["cmab_status"].iat[r]),
                    float(f["cmab_score"].iat[r]),
                    values,
                    image,
                )
            )
    return picked, len(rows), problems


# --------------------------------------------------------------------------------------------------- examples
def pick_examples(run: RunData, metric: str, per_tier: int, seed: int = 0) -> dict[str, list[int]]:
    """Up to ``per_tier`` rows of each tier (and of failed rows), drawn at random with a fixed seed."""
    rng = np.random.default_rng(seed)
    out = {}
    status = run.frame[f"{metric}_status"].to_numpy()
    for tier in (*TIERS, FAILED):
        rows = np.flatnonzero(status == tier)
        if len(rows):
            out[tier] = sorted(rng.choice(rows, size=min(per_tier, len(rows)), replace=False).tolist())
    return out


# -------------------------------------------------------------------------------------------------- comparison
@dataclass
class Join:
    """Two runs joined on ``extra_info.index`` (first occurrence of each id; rows without an id are left out)."""

    frame: pd.DataFrame
    only_a: int
    only_b: int


def join_runs(a: RunData, b: RunData) -> Join:
    def ids(run: RunData) -> pd.DataFrame:
        f = run.frame[run.frame["has_id"]]
        return f.drop_duplicates("index", keep="first").set_index("index")

    fa, fb = ids(a), ids(b)
    joined = fa.join(fb, how="inner", lsuffix="_a", rsuffix="_b")
    return Join(joined, len(fa.index.difference(fb.index)), len(fb.index.difference(fa.index)))


def transition_matrix(a: RunData, b: RunData, metric: str, join: Join | None = None) -> pd.DataFrame:
    """Rows shared by both runs, counted by (status in run A, status in run B). Index A, columns B: STATUSES."""
    j = (join or join_runs(a, b)).frame
    table = pd.crosstab(j[f"{metric}_status_a"], j[f"{metric}_status_b"]) if len(j) else pd.DataFrame()
    table = table.reindex(index=list(STATUSES), columns=list(STATUSES), fill_value=0).astype(int)
    table.index.name, table.columns.name = "A", "B"
    return table


def score_pairs(join: Join, metric: str) -> pd.DataFrame:
    """Scores of ``metric`` for rows shared and scored in both runs (columns ``a``, ``b``, ``tier_a``)."""
    j = join.frame
    if f"{metric}_score_a" not in j or f"{metric}_score_b" not in j:
        return pd.DataFrame(columns=["a", "b", "tier_a"])
    pairs = pd.DataFrame({"a": j[f"{metric}_score_a"], "b": j[f"{metric}_score_b"], "tier_a": j[f"{metric}_status_a"]})
    return pairs.dropna(subset=["a", "b"])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties); NaN for fewer than 3 pairs or constant input."""
    if len(a) < 3:
        return float("nan")
    ra, rb = pd.Series(a).rank(), pd.Series(b).rank()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(ra.corr(rb))


__all__ = [
    "DEFAULT_RATIOS",
    "DEFAULT_TAU",
    "NOT_SCORED",
    "HeatMap",
    "Join",
    "PismCurves",
    "error_reasons",
    "find_heatmaps",
    "join_runs",
    "lambda_star_histogram",
    "lambda_stars",
    "parse_heatmap",
    "passrate_rollouts",
    "pick_examples",
    "pism_curves",
    "pism_tau",
    "score_pairs",
    "spearman",
    "tier_counts",
    "tier_counts_by_task",
    "transition_matrix",
]
