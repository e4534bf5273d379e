"""The written report: real PNGs with the right content, a self-contained page, safe HTML, odd runs."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from report_testdata import MALICIOUS, build_run, simple, write_records

from verl_difficulty.report import load_run, plots, write_report
from verl_difficulty.report.html import SECTIONS
from verl_difficulty.report.plots import COLORS
from verl_difficulty.report.writer import PLOT_FILES

MAIN_PLOTS = ["tier_counts", "tiers_by_task", "pism_accuracy", "pism_lambda", "cmab_rho", "passrate_hist", "heatmaps"]


def _embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_every_plot_is_a_real_non_blank_png(report_of_full_run, check_png, color_pixels):
    out = report_of_full_run.parent
    pixels = {key: check_png(out / PLOT_FILES[key]) for key in MAIN_PLOTS}
    # the tier colours are really drawn where tiers are shown
    for key in ("tier_counts", "tiers_by_task", "pism_lambda", "passrate_hist"):
        for tier in ("easy", "mid", "hard", "unsolved"):
            assert color_pixels(pixels[key], COLORS[tier]) > 200, (key, tier)
    assert color_pixels(pixels["tier_counts"], COLORS["failed"]) > 100  # the 3 failed PISM rows
    for tier in ("easy", "mid", "hard"):  # unsolved rows have no ρ̄
        assert color_pixels(pixels["cmab_rho"], COLORS[tier]) > 200, tier
    # the PISM curve (black line) and the heat map overlay (inferno's bright yellow over line drawings)
    assert color_pixels(pixels["pism_accuracy"], "#000000", tol=30) > 500
    hm = pixels["heatmaps"].astype(int)
    assert ((hm[..., 0] > 200) & (hm[..., 1] > 170) & (hm[..., 2] < 150)).sum() > 300
    assert not (out / PLOT_FILES["compare_tiers"]).exists()


def test_html_is_self_contained_and_has_every_section(report_of_full_run, check_png):
    html = report_of_full_run.read_text(encoding="utf-8")
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{title}</h2>' in html, sid
    # every PNG file is embedded, byte for byte; nothing is loaded from elsewhere
    embedded = _embedded_pngs(html)
    for key in MAIN_PLOTS:
        assert (report_of_full_run.parent / PLOT_FILES[key]).read_bytes() in embedded, key
    assert not re.search(r'src="(?!data:)', html), "an image is not embedded"
    assert "<link" not in html and "@import" not in html
    # thumbnails of the example rows are embedded JPEGs that decode
    thumbs = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(thumbs) >= 10
    Image.open(io.BytesIO(base64.b64decode(thumbs[0]))).load()
    # failures are listed with counts and reasons, provenance is shown
    assert "ImageLoadError: images[0]: cannot decode image" in html
    assert "engine error: CUDA out of memory while generating" in html
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in html and "settings.tau" in html
    assert "&quot;engine&quot;: &quot;vllm&quot;" in html  # summary.json, escaped in <pre>


def test_question_text_is_escaped(report_of_full_run):
    html = report_of_full_run.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html
    assert MALICIOUS not in html


def test_only_one_metric_scored(shared_data, tmp_path, check_png, color_pixels):
    run = build_run(tmp_path / "run", shared_data, metrics=("passrate",), failures=False, malicious=False)
    path = write_report(run, progress=False)
    assert path == run / "report" / "report.html"
    out = path.parent
    check_png(out / PLOT_FILES["passrate_hist"])
    counts = check_png(out / PLOT_FILES["tier_counts"])
    plot_area = counts[: int(counts.shape[0] * 0.8)]  # above the legend
    third = counts.shape[1] // 3  # PISM's group (left third) shows a "not scored" box, no bars
    assert color_pixels(plot_area[:, :third], "#f4f4f4", tol=2) > 500
    box_cols = np.nonzero((np.abs(plot_area[:, :third].astype(int) - 0xF4).max(-1) <= 2).any(0))[0]
    assert 0.1 < box_cols.mean() / counts.shape[1] < 0.3  # centred on its group, not squeezed against the axis
    assert color_pixels(plot_area[:, :third], COLORS["easy"]) == 0
    assert color_pixels(plot_area[:, 2 * third :], COLORS["easy"]) > 200
    # the page says which metrics were not run; no PNG is written for them ...
    for key in ("pism_accuracy", "pism_lambda", "cmab_rho", "heatmaps"):
        assert not (out / PLOT_FILES[key]).exists(), key
    # ... and the plot functions, called directly, draw a note instead of failing
    loaded = load_run(run)
    for draw in (plots.plot_pism_curves, plots.plot_lambda_star, plots.plot_cmab_hist):
        note = draw(loaded, tmp_path / f"{draw.__name__}.png")
        pixels = check_png(note, min_height=100, min_colors=10)
        assert color_pixels(pixels, "#f4f4f4", tol=2) > 2000  # the grey note box
    html = path.read_text(encoding="utf-8")
    assert "PISM was not scored in this run" in html and "CMAB was not scored in this run" in html
    assert "no attention heat maps" in html


def test_cmab_without_heat_maps_says_how_to_enable_them(shared_data, tmp_path):
    run = build_run(tmp_path / "run", shared_data, metrics=("cmab",), heatmaps=0, limit_mathv=8)
    html = write_report(run, tmp_path / "out", progress=False).read_text(encoding="utf-8")
    assert "No CMAB row carries an attention heat map" in html and "--heatmaps" in html
    assert not (tmp_path / "out" / PLOT_FILES["heatmaps"]).exists()


def test_broken_heat_maps_and_images_are_reported_not_fatal(shared_data, tmp_path, check_png):
    good = simple("cmab", "hard", 1.0)
    good.details = {"heatmap": {"grid": [3, 4], "values": np.arange(12.0).tolist(), "image": 0}}
    bad = simple("cmab", "mid", 0.3)
    bad.details = {"heatmap": {"grid": [3, 4], "values": [1.0, 2.0]}}
    no_image = simple("cmab", "easy", 3.0)
    no_image.details = {"heatmap": {"grid": [2, 2], "values": [1, 2, 3, 4], "image": 5}}
    write_records(tmp_path / "run", shared_data, {"g": {"cmab": good}, "b": {"cmab": bad}, "n": {"cmab": no_image}})
    path = write_report(tmp_path / "run", progress=False)
    check_png(path.parent / PLOT_FILES["heatmaps"])
    html = path.read_text(encoding="utf-8")
    assert "cmab heat map of b skipped: details.heatmap: grid [3, 4] needs 12 values, got 2" in html
    assert "heat map of n: row has no image 5" in html


def test_compare_two_runs(shared_data, tmp_path, check_png):
    a = {
        "a": {"pism": simple("pism", "easy")},
        "b": {"pism": simple("pism", "easy"), "cmab": simple("cmab", "hard", 1.0)},
        "c": {"pism": simple("pism", "mid")},
        "d": {"pism": simple("pism", "hard")},
    }
    b = {
        "b": {"pism": simple("pism", "mid"), "cmab": simple("cmab", "hard", 0.8)},
        "c": {"pism": simple("pism", "mid"), "cmab": simple("cmab", "easy", 2.5)},
        "d": {"pism": simple("pism", "easy")},
        "z": {"pism": simple("pism", "hard")},
    }
    write_records(tmp_path / "A", shared_data, a)
    write_records(tmp_path / "B", shared_data, b)
    path = write_report(tmp_path / "A", tmp_path / "out", compare=tmp_path / "B", progress=False)
    for key in ("compare_tiers", "compare_transitions", "compare_scores"):
        check_png(path.parent / PLOT_FILES[key])
    html = path.read_text(encoding="utf-8")
    assert "Shared sample ids: <b>3</b>; only in A: 1; only in B: 1" in html
    # the PISM transition table: A easy -> B mid, A mid -> B mid, A hard -> B easy
    table = html[html.index("<h3>PISM transitions</h3>") : html.index("<h3>CMAB transitions</h3>")]
    cells = [[int(v) for v in re.findall(r"<td class=num>(\d+)</td>", row)] for row in table.split("<tr>")[2:]]
    assert cells == [[0, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    for embedded in ("compare_tiers", "compare_transitions", "compare_scores"):
        assert (path.parent / PLOT_FILES[embedded]).read_bytes() in _embedded_pngs(html)


def test_compare_runs_sharing_no_ids(shared_data, tmp_path, check_png):
    write_records(tmp_path / "A", shared_data, {"a": {"pism": simple("pism", "easy")}})
    write_records(tmp_path / "B", shared_data, {"x": {"pism": simple("pism", "hard")}})
    path = write_report(tmp_path / "A", tmp_path / "out", compare=tmp_path / "B", progress=False)
    html = path.read_text(encoding="utf-8")
    assert "The runs share no sample id" in html
    check_png(path.parent / PLOT_FILES["compare_tiers"])
    assert not (path.parent / PLOT_FILES["compare_transitions"]).exists()


def test_rewriting_a_report_removes_stale_plots(shared_data, tmp_path):
    write_records(tmp_path / "A", shared_data, {"a": {"pism": simple("pism", "easy")}})
    out = tmp_path / "out"
    write_report(tmp_path / "A", out, compare=tmp_path / "A", progress=False)
    assert (out / PLOT_FILES["compare_tiers"]).exists()
    write_report(tmp_path / "A", out, progress=False)
    assert not (out / PLOT_FILES["compare_tiers"]).exists()


def test_run_data_can_be_passed_directly_and_title_is_escaped(full_run, tmp_path):
    run = load_run(full_run)
    path = write_report(run, tmp_path / "x", title="A & B <run>", max_examples=0, progress=False)
    html = path.read_text(encoding="utf-8")
    assert "<title>A &amp; B &lt;run&gt;</title>" in html
    assert "none shown (<code>--max-examples 0</code>)" in html
    assert "data:image/jpeg" not in html


def test_importing_the_report_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, verl_difficulty.report, verl_difficulty.report.load, verl_difficulty.report.stats; " \
           "print('matplotlib' in sys.modules)"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [-1])
def test_negative_max_examples(full_run, tmp_path, bad):
    with pytest.raises(ValueError, match="max_examples"):
        write_report(full_run, tmp_path, max_examples=bad)


def test_html_tags_are_balanced(report_of_full_run):
    """Every opened element is closed in order (a browser would otherwise nest sections inside each other)."""
    from html.parser import HTMLParser

    void = {"meta", "img", "br", "link", "hr", "input"}

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
            else:
                self.stack.pop()

    checker = Checker()
    checker.feed(report_of_full_run.read_text(encoding="utf-8"))
    assert checker.errors == [] and checker.stack == []
