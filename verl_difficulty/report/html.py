"""The report's HTML: one self-contained page (inline CSS, every image a base64 data URI, no scripts).

All text that comes from the data (questions, answers, sample ids, error messages, provenance, file names)
goes through :func:`html.escape`; nothing from the data is ever inserted unescaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verl_difficulty.report import stats
from verl_difficulty.report.load import FAILED, NOT_SCORED, STATUSES, RunData
from verl_difficulty.report.plots import COLORS, METRIC_LABELS
from verl_difficulty.tiers import METRICS, TIERS

#: (section id, heading) in page order; the tests check that every one is present.
SECTIONS = (
    ("summary", "Summary"),
    ("tiers", "Tier counts"),
    ("pism", "PISM: accuracy against mask ratio"),
    ("cmab", "CMAB: attention balance"),
    ("passrate", "Pass-rate: the U shape"),
    ("heatmaps", "Attention heat maps"),
    ("examples", "Example rows per tier"),
    ("failures", "Failures"),
    ("provenance", "Provenance"),
    ("compare", "Comparison of two runs"),
    ("problems", "Data problems"),
    ("run", "Run files"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;
  background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
header{background:#1f2937;color:#fff;padding:18px 24px}
header h1{margin:0 0 4px;font-size:22px} header p{margin:0;color:#cbd5e1;font-size:13px}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #e5e7eb;padding:8px 24px;font-size:13px;z-index:2}
nav a{margin-right:14px;color:#1d4ed8;text-decoration:none}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:18px 0;padding:12px 20px}
h2{font-size:18px;margin:6px 0 10px} h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#444;max-width:980px}
.note{background:#f8fafc;border-left:4px solid #94a3b8;padding:8px 12px;font-size:13px;margin:8px 0}
.warn{border-left-color:#d97706;background:#fffbeb}
.tier{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;color:#fff;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{width:260px;border:1px solid #e5e7eb;border-radius:6px;padding:8px;font-size:12px;background:#fff}
.card img{max-width:100%;max-height:170px;display:block;margin:0 auto 6px}
.card .q{white-space:pre-wrap;word-break:break-word}
.muted{color:#6b7280} code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:360px;white-space:pre-wrap;word-break:break-word}
"""


def e(value: Any) -> str:
    """Escape any value for HTML text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(png).decode("ascii")


def tier_chip(status: str) -> str:
    color = COLORS.get(status, "#999999")
    fg = "#222" if status in ("mid", NOT_SCORED) else "#fff"
    return f'<span class="tier" style="background:{color};color:{fg}">{e(status)}</span>'


@dataclass
class ReportParts:
    """Everything :func:`render` needs besides the run itself."""

    title: str
    plots: dict[str, Path | None]
    heatmaps: list[stats.HeatMap]
    heatmap_rows: int
    examples: dict[str, dict[str, list[int]]]
    thumbnails: dict[int, str | None]
    thumbnail_errors: dict[int, str]
    compare: RunData | None = None
    join: stats.Join | None = None
    problems: list[str] = field(default_factory=list)
    version: str = ""
    max_examples: int = 4


def _figure(parts: ReportParts, key: str, caption: str, alt: str) -> str:
    path = parts.plots.get(key)
    if path is None:
        return ""
    png = Path(path).read_bytes()
    return (
        f'<figure><a href="{e(Path(path).name)}"><img alt="{e(alt)}" src="{data_uri(png)}"></a>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _pct(n: int, total: int) -> str:
    return f"{n:,} <span class=muted>({n / total:.1%})</span>" if total else f"{n:,}"


# ------------------------------------------------------------------------------------------------ sections
def _summary(run: RunData, parts: ReportParts) -> str:
    counts = stats.tier_counts(run)
    total = run.num_rows
    head = "".join(f"<th>{tier_chip(s)}</th>" for s in STATUSES)
    rows = []
    for m in METRICS:
        if m not in run.metrics:
            rows.append(
                f"<tr><th>{e(METRIC_LABELS[m])}</th><td colspan={len(STATUSES)} class=muted>not scored</td></tr>"
            )
            continue
        cells = "".join(f"<td class=num>{_pct(int(counts.loc[m, s]), total)}</td>" for s in STATUSES)
        src = run.metrics[m].tiers_source
        rows.append(f"<tr><th>{e(METRIC_LABELS[m])}<br><span class=muted>thresholds: {e(src)}</span></th>{cells}</tr>")
    table = f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"
    tasks = run.frame["task"].value_counts()
    task_list = ", ".join(f"{e(t)} ({n:,})" for t, n in tasks.items())
    sources = run.frame["data_source"].fillna("(none)").value_counts()
    src_list = ", ".join(f"{e(t)} ({n:,})" for t, n in sources.head(12).items())
    more = f" and {len(sources) - 12} more" if len(sources) > 12 else ""
    return (
        f"<p><b>{total:,}</b> rows in <code>{e(run.path)}</code>.<br>Tasks: {task_list or '(none)'}.<br>"
        f"Data sources: {src_list or '(none)'}{more}.</p>{table}"
        "<p class=muted>Percentages are of all rows. <i>failed</i>: the scorer could not score the row (see "
        "Failures); <i>not scored</i>: the metric was not run on the row.</p>"
    )


def _tiers(parts: ReportParts) -> str:
    out = _figure(
        parts,
        "tier_counts",
        "Rows per tier for each metric; the number above a bar is its row count. Metrics that were not run are "
        "marked <i>not scored</i>. Training on <i>mid + hard</i> is the main paper's recommended subset.",
        "tier counts per metric",
    )
    out += _figure(
        parts,
        "tiers_by_task",
        "Share of each tier within each task (the number after the task is its rows scored by that metric). "
        "A task that is mostly <i>easy</i> or <i>unsolved</i> contributes little to a mid + hard selection.",
        "tier shares per task",
    )
    return out


def _pism(run: RunData, parts: ReportParts) -> str:
    if "pism" not in run.metrics:
        return '<p class="note">PISM was not scored in this run (<code>verl-difficulty score --metric pism</code>).</p>'
    t = run.metrics["pism"].tiers
    curves = stats.pism_curves(run)
    tau = curves.tau if curves else stats.DEFAULT_TAU
    out = _figure(
        parts,
        "pism_accuracy",
        "The paper's Fig. 1, accuracy against mask ratio. <b>Left</b>: the share of samples still solved at mask "
        "ratio λ (their breaking ratio λ* is larger than λ). Every scored row counts at every ratio, so this curve "
        "is unbiased although the scorer stops a row at its first failing ratio. A grey band means some easy rows "
        "were scored in tiers-only mode and not tested that far (lower edge: count them as failing, upper edge: as "
        "passing). <b>Right</b>: the measured Pc(λ) = correct / attempts, averaged over the rows tested at λ "
        f"(count under each tick), per tier, with τ = {tau:g}. Rows that already failed are not tested any more and "
        "attempts stop at the first correct answer, so these values overstate accuracy; use them to check the "
        "scorer, the left panel to read the data.",
        "PISM accuracy against mask ratio",
    )
    out += _figure(
        parts,
        "pism_lambda",
        f"Rows per breaking ratio λ*, coloured by their recorded tier. λ* = 0: the model already fails on the "
        f"unmasked image (unsolved); λ* ≤ {t.lambda_hard:g}: hard; {t.lambda_hard:g} < λ* < {t.lambda_easy:g}: mid; "
        f"λ* ≥ {t.lambda_easy:g} or never failed: easy (boundary inclusivity: hard_inclusive={t.hard_inclusive}, "
        f"easy_inclusive={t.easy_inclusive}). Dashed lines separate tiers; a bar with two colours means the recorded "
        "tiers disagree with these thresholds (see Data problems).",
        "PISM lambda star histogram",
    )
    return out


def _cmab(run: RunData, parts: ReportParts) -> str:
    if "cmab" not in run.metrics:
        return '<p class="note">CMAB was not scored in this run (<code>verl-difficulty score --metric cmab</code>).</p>'
    t = run.metrics["cmab"].tiers
    return _figure(
        parts,
        "cmab_rho",
        "ρ̄ is the attention the generated tokens pay to image tokens divided by the attention they pay to text "
        f"tokens. Shaded bands are the CMAB tiers: easy when ρ̄ &lt; {t.easy_low:g} or ρ̄ &gt; {t.easy_high:g} (the "
        f"answer leans on one modality), hard when {t.mid_low:g} ≤ ρ̄ ≤ {t.mid_high:g} (both modalities are needed), "
        "mid in between. Rows the model could not solve have no ρ̄ and are counted in the box (unsolved).",
        "CMAB rho histogram",
    )


def _passrate(run: RunData, parts: ReportParts) -> str:
    if "passrate" not in run.metrics:
        return (
            '<p class="note">Pass-rate was not scored in this run '
            "(<code>verl-difficulty score --metric passrate</code>).</p>"
        )
    t = run.metrics["passrate"].tiers
    return _figure(
        parts,
        "passrate_hist",
        "Accuracy of each row over its rollouts. Real data is U-shaped: most prompts are always or never solved. "
        f"The second paper keeps the shaded band {t.too_hard:g} ≤ accuracy ≤ {t.too_easy:g} (dashed edges); "
        f"this package splits the band at {t.hard_mid:g} into hard and mid.",
        "pass-rate histogram",
    )


def _heatmaps(run: RunData, parts: ReportParts) -> str:
    if "cmab" not in run.metrics:
        return '<p class="note">CMAB was not scored in this run, so there are no attention heat maps.</p>'
    if not parts.heatmaps and parts.heatmap_rows and parts.max_examples == 0:
        return (
            f'<p class="note">{parts.heatmap_rows:,} row(s) carry a heat map; none shown '
            "(<code>--max-examples 0</code>).</p>"
        )
    if not parts.heatmaps:
        extra = (
            f" {parts.heatmap_rows} row(s) carry one but none could be read (see Data problems)."
            if parts.heatmap_rows
            else ""
        )
        return (
            '<p class="note">No CMAB row carries an attention heat map.' + extra + " Store them while scoring with "
            "<code>verl-difficulty score --metric cmab --heatmaps ...</code> (they are kept in "
            '<code>details["heatmap"] = {"grid": [h, w], "values": [...], "image": 0}</code>).</p>'
        )
    return _figure(
        parts,
        "heatmaps",
        f"{len(parts.heatmaps)} of the {parts.heatmap_rows:,} rows with a heat map, spread over tiers. Each cell is "
        "one merged image patch as the model saw it; brighter and more opaque = more attention from the generated "
        "tokens (each map scaled to its own maximum).",
        "attention heat maps",
    )


def _score_text(run: RunData, m: str, r: int) -> str:
    f = run.frame
    status = f[f"{m}_status"].iat[r]
    if status == NOT_SCORED:
        return f"{e(METRIC_LABELS[m])}: <span class=muted>not scored</span>"
    if status == FAILED:
        error = _short(f[f"{m}_error"].iat[r], 90)
        return f"{e(METRIC_LABELS[m])}: {tier_chip(FAILED)} <span class=muted>{e(error)}</span>"
    score = f[f"{m}_score"].iat[r]
    if m == "pism":
        val = "λ* not measured" if np.isnan(score) else ("never failed" if score >= 1.0 - 1e-9 else f"λ* = {score:g}")
    elif m == "cmab":
        val = "no ρ̄" if np.isnan(score) else f"ρ̄ = {score:.3g}"
    else:
        att, cor = f["passrate_attempts"].iat[r], f["passrate_correct"].iat[r]
        val = f"{int(cor)}/{int(att)} correct" if att == att and cor == cor and att > 0 else f"acc = {score:.2f}"
    return f"{e(METRIC_LABELS[m])}: {tier_chip(status)} {e(val)}"


def _short(text: Any, n: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _card(run: RunData, parts: ReportParts, r: int) -> str:
    f = run.frame
    thumb = parts.thumbnails.get(r)
    if thumb:
        img = f'<img alt="image of {e(f["index"].iat[r])}" src="{thumb}">'
    else:
        img = f"<p class=muted>{e(parts.thumbnail_errors.get(r, 'no image'))}</p>"
    question = f["question"].iat[r]
    truth = f["ground_truth"].iat[r]
    scores = "<br>".join(_score_text(run, m, r) for m in run.metrics)
    return (
        f'<div class="card">{img}<b>{e(f["index"].iat[r])}</b> <span class=muted>{e(f["task"].iat[r])}</span>'
        f'<div class="q" title="{e(question)}">{e(_short(question, 280))}</div>'
        f"<div>answer: <code>{e(_short(truth, 120))}</code></div><div>{scores}</div></div>"
    )


def _examples(run: RunData, parts: ReportParts) -> str:
    if not parts.examples:
        return '<p class="note">No metric was scored, so there are no examples.</p>'
    out = [
        f"<p class=muted>Up to {parts.max_examples} rows per tier, drawn at random (fixed seed). Each card shows "
        "the row's first image, its question, answer and every metric's result.</p>"
    ]
    for m, by_tier in parts.examples.items():
        out.append(f"<h3>{e(METRIC_LABELS[m])}</h3>")
        for tier in (*TIERS, FAILED):
            rows = by_tier.get(tier)
            if not rows:
                continue
            n = int((run.frame[f"{m}_status"] == tier).sum())
            cards = "".join(_card(run, parts, r) for r in rows)
            out.append(f"<p>{tier_chip(tier)} {n:,} row(s)</p><div class=cards>{cards}</div>")
    return "".join(out)


def _failures(run: RunData) -> str:
    out = []
    for m in run.metrics:
        reasons = stats.error_reasons(run, m, top=8)
        n = int((run.frame[f"{m}_status"] == FAILED).sum())
        if not reasons:
            out.append(f"<p>{e(METRIC_LABELS[m])}: no failed rows.</p>")
            continue
        rows = "".join(
            f"<tr><td class=num>{c:,}</td><td>{e(msg)}</td><td><code>{e(i)}</code></td></tr>" for msg, c, i in reasons
        )
        out.append(
            f"<h3>{e(METRIC_LABELS[m])}: {n:,} failed row(s)</h3><table><tr><th>rows</th><th>error (first line)"
            f"</th><th>example sample id</th></tr>{rows}</table>"
        )
    if not out:
        return "<p>No metric was scored.</p>"
    out.append(
        "<p class=muted>Failed rows keep their place in the scored parquet with <code>error</code> set; re-running "
        "the score command with resume retries them.</p>"
    )
    return "".join(out)


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict) and d:
        items = []
        for k in sorted(d):
            items += _flatten(d[k], f"{prefix}.{k}" if prefix else str(k))
        return items
    text = json.dumps(d, default=str) if not isinstance(d, str) else d
    return [(prefix or "(value)", _short(text, 400))]


def _provenance(run: RunData) -> str:
    out = []
    for m, md in run.metrics.items():
        out.append(f"<h3>{e(METRIC_LABELS[m])}</h3>")
        if not md.provenance:
            out.append("<p class=muted>No provenance recorded.</p>")
        for i, (prov, n) in enumerate(md.provenance[:5]):
            label = f"{n:,} row(s)" + (" (most common)" if i == 0 and len(md.provenance) > 1 else "")
            rows = "".join(f"<tr><th>{e(k)}</th><td><code>{e(v)}</code></td></tr>" for k, v in _flatten(prov))
            out.append(f"<p>{label}</p><table>{rows}</table>")
        if len(md.provenance) > 5:
            out.append(f"<p class=muted>{len(md.provenance) - 5} more distinct provenance value(s) not shown.</p>")
        t = md.tiers
        out.append(f"<p>Thresholds used in the plots ({e(md.tiers_source)}): <code>{e(t)}</code></p>")
    return "".join(out) or "<p>No metric was scored.</p>"


def _compare(run: RunData, parts: ReportParts) -> str:
    b, join = parts.compare, parts.join
    if b is None:
        return (
            '<p class="note">Add <code>--compare OTHER_RUN</code> to compare this run with another one (for example '
            "another model, another metric setting, or a re-run): side-by-side tier counts, tier transitions and "
            "score scatter plots, joined on <code>extra_info.index</code>.</p>"
        )
    out = [
        f"<p>Run A: <code>{e(run.path)}</code> ({run.num_rows:,} rows). Run B: <code>{e(b.path)}</code> "
        f"({b.num_rows:,} rows). Shared sample ids: <b>{len(join.frame):,}</b>; only in A: {join.only_a:,}; "
        f"only in B: {join.only_b:,}.</p>"
    ]
    if len(join.frame) == 0:
        out.append(
            '<p class="note warn">The runs share no sample id (<code>extra_info.index</code>), so rows cannot be '
            "matched: only the tier counts are compared. Were they scored on the same data?</p>"
        )
    out.append(
        _figure(parts, "compare_tiers", "Tier counts of run A (solid) and run B (hatched) per metric.", "compare")
    )
    if len(join.frame):
        out.append(
            _figure(
                parts,
                "compare_transitions",
                "Rows shared by both runs, counted by their tier in A (rows) and in B (columns). The diagonal (bold) "
                "kept its tier; colour is the share of the A row.",
                "tier transitions",
            )
        )
        out.append(
            _figure(
                parts,
                "compare_scores",
                "Each shared row's score in A against B (dashed: equal), coloured by its tier in A; Spearman rank "
                "correlation in the title. PISM and pass-rate scores are discrete, so points are jittered a little.",
                "score scatter",
            )
        )
        for m in METRICS:
            if m in run.metrics and m in b.metrics:
                mat = stats.transition_matrix(run, b, m, join)
                keep_r = [s for s in mat.index if s in TIERS or mat.loc[s].sum()]
                keep_c = [s for s in mat.columns if s in TIERS or mat[s].sum()]
                head = "".join(f"<th>B: {tier_chip(c)}</th>" for c in keep_c)
                body = "".join(
                    f"<tr><th>A: {tier_chip(r)}</th>"
                    + "".join(f"<td class=num>{int(mat.loc[r, c]):,}</td>" for c in keep_c)
                    + "</tr>"
                    for r in keep_r
                )
                out.append(f"<h3>{e(METRIC_LABELS[m])} transitions</h3><table><tr><th></th>{head}</tr>{body}</table>")
    return "".join(out)


def _problems(parts: ReportParts) -> str:
    if not parts.problems:
        return "<p>None found: every row has a valid tier or an error message, ids are unique, JSON parses.</p>"
    items = "".join(f"<li>{e(p)}</li>" for p in parts.problems)
    return f'<div class="note warn"><ul>{items}</ul></div>'


def _run_files(run: RunData) -> str:
    if not run.meta:
        where = f"<code>{e(run.run_dir)}</code>" if run.run_dir else "the parquet's folder (a file was given)"
        return f"<p class=muted>No summary.json / manifest.json read from {where}.</p>"
    out = []
    for name, value in run.meta.items():
        text = json.dumps(value, indent=2, sort_keys=True, default=str)
        out.append(f"<details><summary><code>{e(name)}</code></summary><pre>{e(text)}</pre></details>")
    return "".join(out)


def render(run: RunData, parts: ReportParts) -> str:
    """The whole page as a string."""
    bodies = {
        "summary": _summary(run, parts),
        "tiers": _tiers(parts),
        "pism": _pism(run, parts),
        "cmab": _cmab(run, parts),
        "passrate": _passrate(run, parts),
        "heatmaps": _heatmaps(run, parts),
        "examples": _examples(run, parts),
        "failures": _failures(run),
        "provenance": _provenance(run),
        "compare": _compare(run, parts),
        "problems": _problems(parts),
        "run": _run_files(run),
    }
    nav = "".join(f'<a href="#{sid}">{e(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{e(title)}</h2>{bodies[sid]}</section>' for sid, title in SECTIONS)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    sub = f"{run.num_rows:,} rows · {e(run.path)} · generated {e(now)} by verl-difficulty {e(parts.version)}"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{e(parts.title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{e(parts.title)}</h1><p>{sub}</p></header><nav>{nav}</nav><main>{sections}</main></body></html>\n"
    )
