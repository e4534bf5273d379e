"""The numbers behind the plots, on small constructed runs whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from report_testdata import PISM_RATIOS, simple, write_records

from verl_difficulty.difficulty import MetricRecord
from verl_difficulty.report import load_run, stats


def _pism(tier, score, ratios, details=None):
    ratios = [{"ratio": r, "attempts": a, "correct": c} for r, a, c in ratios]
    return MetricRecord(tier, score, None, sum(r["attempts"] for r in ratios), sum(r["correct"] for r in ratios),
                        ratios, details or {}, {"settings": {"tau": 0.1}})  # fmt: skip


@pytest.fixture(scope="module")
def pism_run(shared_data, tmp_path_factory):
    passing = [(r, 1, 1) for r in PISM_RATIOS]
    records = {
        "r/unsolved": {"pism": _pism("unsolved", 0.0, [(0.0, 10, 0)])},
        "r/hard": {"pism": _pism("hard", 0.2, [(0.0, 1, 1), (0.1, 2, 1), (0.2, 10, 0)])},
        "r/mid": {"pism": _pism("mid", 0.5, passing[:5] + [(0.5, 10, 0)])},
        "r/never": {"pism": _pism("easy", 1.0, passing)},
        # tiers-only: survived every ratio below λ_easy, not tested further, no exact λ*
        "r/tiers-only": {"pism": _pism("easy", None, passing[:7])},
        "r/failed": {"pism": MetricRecord.failed("ImageLoadError: truncated")},
    }
    return load_run(write_records(tmp_path_factory.mktemp("pism"), shared_data, records))


def test_pism_survival_counts_every_row_and_brackets_censored_ones(pism_run):
    c = stats.pism_curves(pism_run)
    np.testing.assert_allclose(c.grid, PISM_RATIOS)
    assert c.rows == 5 and c.censored == 1  # the failed row is not a tiered row
    #                  λ=  0    .1   .2   .3   .4   .5   .6   .7   .8   .9
    np.testing.assert_allclose(c.survival_low, [0.8, 0.8, 0.6, 0.6, 0.6, 0.4, 0.4, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(c.survival_high, [0.8, 0.8, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4])


def test_pism_measured_pc_per_tier(pism_run):
    c = stats.pism_curves(pism_run)
    assert c.tau == 0.1
    # λ = 0: unsolved 0/10, the other four 1/1 and 1/1 ... -> mean 0.8 over 5 rows
    assert c.pc_mean.loc[0.0, "all"] == pytest.approx(0.8) and c.pc_rows.loc[0.0, "all"] == 5
    # λ = 0.1: hard 1/2, mid/never/tiers-only 1/1 -> (0.5 + 3) / 4
    assert c.pc_mean.loc[0.1, "all"] == pytest.approx(3.5 / 4)
    assert c.pc_mean.loc[0.2, "hard"] == 0.0 and c.pc_rows.loc[0.2, "hard"] == 1
    assert c.pc_rows.loc[0.7, "all"] == 1  # only the never-failing row was tested at 0.7
    assert np.isnan(c.pc_mean.loc[0.3, "hard"])  # the hard row stopped at 0.2


def test_lambda_star_histogram(pism_run):
    h = stats.lambda_star_histogram(pism_run)
    assert h.loc["0.0", "unsolved"] == 1 and h.loc["0.2", "hard"] == 1 and h.loc["0.5", "mid"] == 1
    assert h.loc["never failed", "easy"] == 1 and h.loc["not measured", "easy"] == 1
    assert h.to_numpy().sum() == 5


def test_lambda_star_from_outcomes_when_score_is_missing(shared_data, tmp_path):
    # tiers-only row that did fail: λ* comes from the first ratio with correct/attempts < τ
    rec = _pism("hard", None, [(0.0, 1, 1), (0.1, 3, 1), (0.2, 10, 0)])
    run = load_run(write_records(tmp_path, shared_data, {"a": {"pism": rec}}))
    lam = stats.lambda_stars(run)
    assert lam["lam"].tolist() == [0.2] and np.isnan(lam["censor"].iat[0])


@pytest.fixture(scope="module")
def two_runs(shared_data, tmp_path_factory):
    a = {
        "a": {"pism": simple("pism", "easy")},
        "b": {"pism": simple("pism", "easy"), "cmab": simple("cmab", "hard", 1.0)},
        "c": {"pism": simple("pism", "mid")},
        "d": {"pism": simple("pism", "hard")},
        "e": {"pism": simple("pism", "unsolved")},
        "f": {"pism": simple("pism", None)},
    }
    b = {
        "b": {"pism": simple("pism", "mid"), "cmab": simple("cmab", "hard", 0.8)},
        "c": {"pism": simple("pism", "mid"), "cmab": simple("cmab", "easy", 2.5)},
        "d": {"pism": simple("pism", "easy")},
        "e": {"pism": simple("pism", "unsolved")},
        "f": {"pism": simple("pism", "hard")},
        "g": {"pism": simple("pism", "easy")},
    }
    root = tmp_path_factory.mktemp("compare")
    return load_run(write_records(root / "A", shared_data, a)), load_run(write_records(root / "B", shared_data, b))


def test_transition_matrix_exact(two_runs):
    a, b = two_runs
    join = stats.join_runs(a, b)
    assert len(join.frame) == 5 and join.only_a == 1 and join.only_b == 1
    m = stats.transition_matrix(a, b, "pism", join)
    expected = {("easy", "mid"): 1, ("mid", "mid"): 1, ("hard", "easy"): 1, ("unsolved", "unsolved"): 1,
                ("failed", "hard"): 1}  # fmt: skip
    for (ra, cb), n in expected.items():
        assert m.loc[ra, cb] == n, (ra, cb)
    assert m.to_numpy().sum() == 5
    c = stats.transition_matrix(a, b, "cmab", join)
    assert c.loc["hard", "hard"] == 1 and c.loc["not scored", "easy"] == 1
    assert c.loc["not scored", "not scored"] == 3 and c.to_numpy().sum() == 5
    pairs = stats.score_pairs(join, "cmab")
    assert pairs[["a", "b"]].to_numpy().tolist() == [[1.0, 0.8]]


def test_runs_without_shared_ids(two_runs, shared_data, tmp_path):
    a, _ = two_runs
    other = load_run(write_records(tmp_path, shared_data, {"x": {"pism": simple("pism", "easy")}}))
    join = stats.join_runs(a, other)
    assert len(join.frame) == 0 and join.only_a == 6 and join.only_b == 1
    assert stats.transition_matrix(a, other, "pism", join).to_numpy().sum() == 0


def test_spearman():
    assert stats.spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 45.0])) == pytest.approx(1.0)
    assert stats.spearman(np.array([1, 2, 3.0]), np.array([3, 2, 1.0])) == pytest.approx(-1.0)
    assert np.isnan(stats.spearman(np.array([1, 2.0]), np.array([1, 2.0])))


@pytest.mark.parametrize(
    "value, shape",
    [
        ({"grid": [2, 3], "values": [1, 2, 3, 4, 5, 6], "image": 0}, (2, 3)),
        ({"grid": [2, 3], "values": [[1, 2, 3], [4, 5, 6]]}, (2, 3)),
        ({"values": [[1, 2], [3, 4], [5, 6]]}, (3, 2)),
    ],
)
def test_parse_heatmap_layouts(value, shape):
    arr, image = stats.parse_heatmap(value)
    assert arr.shape == shape and image == 0
    assert arr.ravel().tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "value, message",
    [
        ({"grid": [2, 3], "values": [1, 2, 3]}, "grid \\[2, 3\\] needs 6 values, got 3"),
        ({"grid": [2, 2], "values": [[1, 2, 3], [4, 5, 6]]}, "grid \\[2, 2\\] but values are 2 x 3"),
        ({"values": [1, 2, 3]}, "no 'grid'"),
        ({"grid": [1, 2], "values": [1, float("nan")]}, "NaN"),
        ({"grid": [1, 2], "values": [1, 2], "image": -1}, "image must be a non-negative integer"),
        ({"grid": "2x2", "values": [1, 2, 3, 4]}, "grid must be \\[h, w\\]"),
        ({"values": [[1, 2], [3]]}, "not a numeric"),
        ([1, 2], "must be an object"),
    ],
)
def test_parse_heatmap_errors_name_the_field(value, message):
    with pytest.raises(ValueError, match=message):
        stats.parse_heatmap(value)
