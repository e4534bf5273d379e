"""PISM: exact λ* and tiers against an oracle with known breaking ratios, strategy agreement with the released
code's protocol, mask plumbing, batch invariance, bad rows, settings errors, the tiny model end to end."""

from __future__ import annotations

import numpy as np
import pytest
from pism_testdata import SMALL_IMAGES, RecordingEngine, bundled, clones, mixed_rows, record_view, shrink

from verl_difficulty.engines import build_engine
from verl_difficulty.scorers import ScorerConfigError, build_scorer
from verl_difficulty.scorers.masks import masked_fraction
from verl_difficulty.tiers import TIERS, TierConfig

RATIOS = [round(0.1 * i, 1) for i in range(10)]


def _oracle(rows, breaking, p=None, **extra):
    samples = {}
    for i, (row, b) in enumerate(zip(rows, breaking)):
        samples[row["extra_info"]["index"]] = {"breaking_ratio": b, **({"p_correct": p[i]} if p else {})}
    return build_engine("oracle", None, config={"samples": samples, **extra})


def _expected_lambda(b):
    """λ* of a sample that is always right below ``b`` and always wrong from ``b`` on."""
    return next((r for r in RATIOS if b is not None and r >= b - 1e-9), 1.0)


@pytest.fixture(scope="module")
def rows16():
    return shrink(mixed_rows(4))


@pytest.mark.parametrize("easy_inclusive", [True, False])
def test_oracle_breaking_ratios_give_exact_lambda_and_tiers(rows16, easy_inclusive):
    breaking = [0.0, 0.05, 0.1, 0.25, 0.4, 0.45, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 0.95, None, 3.0]
    tiers = TierConfig.from_dict({"pism": {"easy_inclusive": easy_inclusive}})
    records = build_scorer("pism", _oracle(rows16, breaking), {}, tiers=tiers).score_rows(rows16)
    got = [(r.score, r.tier) for r in records]
    lams = [_expected_lambda(b) for b in breaking]
    assert [g[0] for g in got] == lams
    expected_tiers = ["unsolved", "hard", "hard", "hard", "hard", "mid", "mid", "mid", "easy", "easy"]
    expected_tiers += ["easy"] * 6
    if not easy_inclusive:  # the paper's Table A: λ* = 0.7 is mid
        expected_tiers = [("mid" if lam == 0.7 else t) for lam, t in zip(lams, expected_tiers)]
    assert [g[1] for g in got] == expected_tiers
    for rec, lam in zip(records, lams):
        # every ratio below λ* passed on its first attempt; λ* itself took all k = 10 attempts
        assert [o.ratio for o in rec.ratios] == [r for r in RATIOS if r <= lam]
        assert all((o.attempts, o.correct) == (1, 1) for o in rec.ratios if o.ratio < lam)
        if lam < 1.0:
            assert (rec.ratios[-1].attempts, rec.ratios[-1].correct) == (10, 0)
        assert rec.attempts == sum(o.attempts for o in rec.ratios)
        assert rec.correct == sum(o.correct for o in rec.ratios)
        assert rec.details["strategy"] == "exact" and rec.details["lambda_star_bounds"] == [lam, lam]
        assert rec.details["mask"] == "rectangle" and rec.provenance["settings"]["k"] == 10


@pytest.mark.parametrize("easy_inclusive", [True, False])
def test_tiers_strategy_stops_once_the_tier_is_certain(rows16, easy_inclusive):
    breaking = [0.0, 0.25, 0.5, 0.65, 0.75, None]
    rows = rows16[: len(breaking)]
    tiers = TierConfig.from_dict({"pism": {"easy_inclusive": easy_inclusive}})
    records = build_scorer("pism", _oracle(rows, breaking), {"strategy": "tiers"}, tiers=tiers).score_rows(rows)
    if easy_inclusive:  # surviving 0.0..0.6 decides easy: 0.7 is never tested
        assert [r.score for r in records] == [0.0, 0.3, 0.5, None, None, None]
        assert [r.tier for r in records] == ["unsolved", "hard", "mid", "easy", "easy", "easy"]
        assert [len(r.ratios) for r in records] == [1, 4, 6, 7, 7, 7]
        assert all(r.details["lambda_star_bounds"] == [0.7, None] for r in records[3:])
    else:  # λ* = 0.7 is mid (Table A), so 0.7 must be tested; surviving it decides easy
        assert [r.score for r in records] == [0.0, 0.3, 0.5, 0.7, None, None]
        assert [r.tier for r in records] == ["unsolved", "hard", "mid", "mid", "easy", "easy"]
        assert all(r.details["lambda_star_bounds"] == [0.8, None] for r in records[4:])
    assert all(r.details["strategy"] == ("exact" if r.score is not None else "tiers") for r in records)


@pytest.mark.parametrize(
    "settings",
    [{"k": 10, "tau": 0.1}, {"k": 5, "tau": 0.3}, {"k": 4, "tau": 0.1, "attempts_per_round": 3}],
    ids=["paper", "tau0.3", "speculative"],
)
def test_full_and_tiers_match_the_reference_sweep_with_fewer_generations(rows16, settings):
    rows = clones(rows16, 4)  # 64 samples
    rng = np.random.default_rng(7)
    breaking = [None if b > 0.95 else round(float(b), 2) for b in rng.uniform(0, 1.1, len(rows))]
    p = [round(float(x), 2) for x in rng.uniform(0.2, 1.0, len(rows))]
    results, generations = {}, {}
    for strategy in ("reference", "full", "tiers"):
        engine = _oracle(rows, breaking, p)
        results[strategy] = build_scorer("pism", engine, {**settings, "strategy": strategy}).score_rows(rows)
        generations[strategy] = engine.completions
        assert sum(r.attempts for r in results[strategy]) == engine.completions
    ref, full, tiers = results["reference"], results["full"], results["tiers"]
    assert [r.tier for r in full] == [r.tier for r in ref]
    assert [r.score for r in full] == [r.score for r in ref]
    assert [r.tier for r in tiers] == [r.tier for r in ref]
    assert len({r.tier for r in ref}) == 4  # every tier occurs
    for t, r in zip(tiers, ref):
        if t.score is not None:
            assert t.score == r.score
        else:  # stopped once the tier was certain: the reference λ* lies within the bounds
            lo, hi = t.details["lambda_star_bounds"]
            assert hi is None and r.score >= lo and t.tier == "easy"
        # tested ratios agree attempt for attempt with the reference where both tested them
        ref_by_ratio = {o.ratio: o for o in r.ratios}
        for o in t.ratios:
            assert (o.attempts, o.correct) == (ref_by_ratio[o.ratio].attempts, ref_by_ratio[o.ratio].correct)
    assert generations["tiers"] < generations["full"] < generations["reference"]
    if settings.get("attempts_per_round", 1) == 1:
        assert generations["full"] < 0.6 * generations["reference"]
    else:
        assert any("generations_past_decision" in r.details for r in full)


def test_masks_reach_the_engine_and_are_seeded_per_attempt(rows16):
    rows = rows16[:3]
    # a row with two images: both are masked, each with its own placement
    two = dict(rows[0])
    two["images"] = [rows[0]["images"][0], rows[1]["images"][0]]
    two["prompt"] = [dict(m) for m in rows[0]["prompt"]]
    two["prompt"][-1]["content"] = "<image>\n" + two["prompt"][-1]["content"]
    two["extra_info"] = {**rows[0]["extra_info"], "index": "two-images"}
    rows = rows + [two]
    settings = {"ratios": [0.0, 0.3, 0.6], "k": 3}
    runs = []
    for _ in range(2):
        rec = RecordingEngine(_oracle(rows, [None] * len(rows), [0.0] * len(rows)))  # always wrong: k at 0.0
        build_scorer("pism", rec, {**settings, "strategy": "reference"}).score_rows(rows)
        runs.append(rec.requests)
    from verl_difficulty.scorers.base import row_images

    originals = {r["extra_info"]["index"]: row_images(r) for r in rows}
    seen = {}
    for req in runs[0]:
        ratio, attempt = req.meta["ratio"], req.meta["attempt"]
        assert req.meta["ground_truth"]
        for i, img in enumerate(req.images):
            frac = masked_fraction(originals[req.sample_id][i], img)
            assert abs(frac - ratio) < 0.08, (req.sample_id, ratio, frac)
            seen[(req.sample_id, ratio, attempt, i)] = np.asarray(img)
    # three attempts at 0.3 of one sample: three different placements; 0.0 is the original image
    masks = [seen[(rows[0]["extra_info"]["index"], 0.3, a, 0)] for a in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    assert np.array_equal(
        seen[(rows[0]["extra_info"]["index"], 0.0, 1, 0)], np.asarray(originals[rows[0]["extra_info"]["index"]][0])
    )
    # both images of the two-image row are masked (checked above) at every ratio
    assert ("two-images", 0.6, 0, 1) in seen
    # a second run sends the very same masks and seeds
    assert [(r.sample_id, r.seed) for r in runs[0]] == [(r.sample_id, r.seed) for r in runs[1]]
    for a, b in zip(runs[0], runs[1]):
        assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a.images, b.images))


def test_results_do_not_depend_on_batch_composition_or_order(rows16):
    rows = clones(rows16, 2)
    rng = np.random.default_rng(3)
    breaking = [round(float(b), 2) for b in rng.uniform(0, 1, len(rows))]
    p = [round(float(x), 2) for x in rng.uniform(0.3, 1.0, len(rows))]

    def run(batch, **settings):
        return build_scorer("pism", _oracle(rows, breaking, p), {"k": 6, **settings}).score_rows(batch)

    together = [record_view(r) for r in run(rows)]
    assert [record_view(r) for r in run(rows[::-1])][::-1] == together
    assert [record_view(run([row])[0]) for row in rows[:6]] == together[:6]
    assert [record_view(r) for r in run(rows, requests_per_call=5)] == together
    shuffled = list(np.random.default_rng(0).permutation(len(rows)))
    out = run([rows[i] for i in shuffled])
    assert [record_view(out[shuffled.index(i)]) for i in range(len(rows))] == together


def test_bad_rows_fail_alone_and_keep_their_place(rows16):
    good = rows16[:3]
    corrupt = dict(rows16[3])
    corrupt["images"] = [{"bytes": b"\x89PNG\r\n\x1a\n not really", "path": "broken.png"}]
    no_image = dict(rows16[4])
    no_image["images"] = []
    no_image["prompt"] = [{"role": "user", "content": "What is 2 + 2? Put it in <answer> </answer>."}]
    no_gt = dict(rows16[5])
    no_gt["reward_model"] = {"style": "rule", "ground_truth": ""}
    mismatch = dict(rows16[6])
    mismatch["prompt"] = [{"role": "user", "content": "no placeholder here"}]
    engine_fails = dict(rows16[7])
    rows = [good[0], corrupt, good[1], no_image, no_gt, mismatch, engine_fails, good[2]]
    engine = RecordingEngine(_oracle(rows, [0.5] * len(rows)), fail_ids={engine_fails["extra_info"]["index"]})
    records = build_scorer("pism", engine, {"k": 2}).score_rows(rows)
    assert [r.tier for r in records] == ["mid", None, "mid", None, None, None, None, "mid"]
    assert "ImageLoadError" in records[1].error and "images[0]" in records[1].error
    assert "no image" in records[3].error
    assert "ground_truth" in records[4].error
    assert "placeholder" in records[5].error
    assert records[6].error.startswith("engine error") and "simulated" in records[6].error
    assert all(r.provenance["metric"] == "pism" for r in records)


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"kk": 3}, "pism.kk"),
        ({"k": 0}, "pism.k"),
        ({"tau": 0}, "pism.tau"),
        ({"ratios": [0.1, 0.2]}, "pism.ratios"),
        ({"ratios": [0.0, 0.5, 0.3]}, "pism.ratios"),
        ({"ratios": [0.0, 1.0]}, "pism.ratios"),
        ({"mask": "blur"}, "pism.mask"),
        ({"strategy": "fast"}, "pism.strategy"),
        ({"temperature": -1}, "pism.temperature"),
        ({"verify": {"iou": 0.5}}, "pism.verify.iou"),
        ({"verify": {"iou_threshold": 2}}, "pism.verify"),
    ],
)
def test_settings_errors_name_the_field(settings, field):
    with pytest.raises(ScorerConfigError, match=field.replace(".", r"\.")):
        build_scorer("pism", None, settings)


def test_estimate_without_engine():
    est = build_scorer("pism", None, {"k": 4}).estimate(10)
    assert est["generations_max"] == 10 * 10 * 4
    assert build_scorer("pism", None, {"strategy": "reference"}).estimate(3)["requests_per_round_max"] == 30


def test_tiny_model_end_to_end_on_real_rows(tiny_model_dir):
    rows = bundled("mathv", 2) + bundled("mmocr_words", 2)
    engine = build_engine(
        "transformers", str(tiny_model_dir), device="cpu", batch_size=8, processor_kwargs=SMALL_IMAGES, cpu_threads=1
    )
    settings = {"ratios": [0.0, 0.5], "k": 2, "max_new_tokens": 4}
    scorer = build_scorer("pism", engine, settings)
    records = scorer.score_rows(rows)
    assert len(records) == 4
    for rec in records:
        assert rec.error is None and rec.tier in TIERS
        assert rec.ratios and rec.ratios[0].ratio == 0.0 and rec.attempts == sum(o.attempts for o in rec.ratios)
        assert rec.score in (0.0, 0.5, 1.0)
        assert rec.tier == TierConfig().pism.tier(rec.score)
        assert rec.provenance["model"] == str(tiny_model_dir)
        assert rec.provenance["engine"]["device"] == "cpu" and rec.provenance["settings"]["k"] == 2
        rec.to_arrow_dict()  # serialisable into the difficulty column
    again = build_scorer("pism", engine, settings).score_rows(rows[::-1])[::-1]
    assert [record_view(r) for r in again] == [record_view(r) for r in records]
    engine.close()


def test_score_cli_with_the_oracle_engine(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from verl_difficulty.cli import main
    from verl_difficulty.difficulty import get_record

    rows = shrink(bundled("mathv", 6))
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)
    breaking = [0.0, 0.3, 0.5, 0.7, None, 0.2]
    oracle = tmp_path / "oracle.yaml"
    oracle.write_text(
        yaml.safe_dump({"samples": {r["extra_info"]["index"]: b for r, b in zip(rows, breaking)}}), encoding="utf-8"
    )
    out = tmp_path / "run"
    argv = ["score", "--metric", "pism", "--engine", "oracle", "--model", str(oracle), "--data", str(data)]
    argv += [
        "--out",
        str(out),
        "--set",
        "pism.k=3",
        "--set",
        "pism.strategy=tiers",
        "--shard-size",
        "4",
        "--no-progress",
    ]
    assert main(argv) == 0
    scored = pq.read_table(out / "scored.parquet").to_pylist()
    recs = [get_record(r, "pism") for r in scored]
    assert [r.tier for r in recs] == ["unsolved", "hard", "mid", "easy", "easy", "hard"]
    # tiers mode: rows surviving every ratio below λ_easy = 0.7 stop there, easy with λ* ≥ 0.7 unknown
    assert [r.score for r in recs] == [0.0, 0.3, 0.5, None, None, 0.2]
    assert recs[3].details["lambda_star_bounds"] == recs[4].details["lambda_star_bounds"] == [0.7, None]
    assert recs[3].attempts == 7  # ratios 0.0 ... 0.6 once each
