"""Pass-rate: accuracy over N answers with the oracle and the tiny model on real rows; the two-stage split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pism_testdata import SMALL_IMAGES, RecordingEngine, bundled, clones, mixed_rows, record_view, shrink

from verl_difficulty.engines import GenerationRequest, SamplingSettings, build_engine, request_seed
from verl_difficulty.scorers import ScorerConfigError, build_scorer
from verl_difficulty.tiers import TIERS, TierConfig


def _oracle(rows, p, breaking=None):
    samples = {}
    for i, row in enumerate(rows):
        samples[row["extra_info"]["index"]] = {
            "p_correct": p[i],
            **({"breaking_ratio": breaking[i]} if breaking else {}),
        }
    return build_engine("oracle", None, config={"samples": samples})


@pytest.fixture(scope="module")
def rows16():
    return shrink(mixed_rows(4))


def test_accuracy_tiers_and_band_with_the_oracle(rows16):
    rows = clones(rows16, 4)  # 64 samples of every task
    p = [1.0, 0.0] + [0.5] * (len(rows) - 2)
    engine = _oracle(rows, p)
    records = build_scorer("passrate", engine, {"n": 8}).score_rows(rows)
    tiers = TierConfig().passrate
    assert (records[0].score, records[0].tier, records[0].details) == (1.0, "easy", {"in_band": False, "rollouts": 8})
    assert (records[1].score, records[1].tier, records[1].details) == (
        0.0,
        "unsolved",
        {"in_band": False, "rollouts": 8},
    )
    for rec in records:
        assert rec.attempts == 8 and rec.score == rec.correct / 8
        assert rec.tier == tiers.tier(rec.score) and rec.details["in_band"] == tiers.in_band(rec.score)
    # the judged correctness is the oracle's: one completion per seeded draw
    for rec, row in zip(records[2:10], rows[2:10]):
        sid = row["extra_info"]["index"]
        req = GenerationRequest(sid, [], [], SamplingSettings(), n=8, seed=request_seed(0, "passrate", sid))
        assert rec.correct == sum(engine.is_correct(req, j) for j in range(8))
    mean = np.mean([r.score for r in records[2:]])
    assert 0.4 < mean < 0.6  # p = 0.5 over 496 judged answers
    assert engine.completions == 8 * len(rows)


def test_batching_does_not_change_results(rows16):
    rows = clones(rows16, 2)
    p = [round(float(x), 2) for x in np.random.default_rng(1).uniform(0, 1, len(rows))]

    def run(batch, **settings):
        return build_scorer("passrate", _oracle(rows, p), {"n": 6, **settings}).score_rows(batch)

    together = [record_view(r) for r in run(rows)]
    assert [record_view(r) for r in run(rows[::-1])][::-1] == together
    assert [record_view(r) for r in run(rows, rows_per_call=3)] == together
    assert record_view(run([rows[5]])[0]) == together[5]


def test_bad_rows_fail_alone(rows16):
    corrupt = dict(rows16[1])
    corrupt["images"] = [{"bytes": b"GIF89a broken", "path": "x.gif"}]
    text_only = dict(rows16[2])
    text_only["images"] = []
    text_only["prompt"] = [{"role": "user", "content": "What is 2 + 2? Put it in <answer> </answer>."}]
    text_only["extra_info"] = {**rows16[2]["extra_info"], "task": "math"}
    text_only["reward_model"] = {"style": "rule", "ground_truth": "4"}
    failing = rows16[3]
    rows = [rows16[0], corrupt, text_only, failing]
    engine = RecordingEngine(_oracle(rows, [1.0] * 4), fail_ids={failing["extra_info"]["index"]})
    records = build_scorer("passrate", engine, {"n": 2}).score_rows(rows)
    assert [r.tier for r in records] == ["easy", None, "easy", None]  # text-only rows are fine for pass-rate
    assert "ImageLoadError" in records[1].error
    assert records[3].error.startswith("engine error")


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"rollouts": 8}, "passrate.rollouts"),
        ({"n": 0}, "passrate.n"),
        ({"top_p": 0}, "passrate.top_p"),
        ({"verify": {"nope": 1}}, "passrate.verify.nope"),
    ],
)
def test_settings_errors_name_the_field(settings, field):
    with pytest.raises(ScorerConfigError, match=field.replace(".", r"\.")):
        build_scorer("passrate", None, settings)


def test_tiny_model_end_to_end_on_real_rows(tiny_model_dir):
    rows = bundled("mathv", 2) + bundled("mmocr_words", 2)
    engine = build_engine(
        "transformers", str(tiny_model_dir), device="cpu", batch_size=8, processor_kwargs=SMALL_IMAGES, cpu_threads=1
    )
    settings = {"n": 3, "max_new_tokens": 4}
    records = build_scorer("passrate", engine, settings).score_rows(rows)
    for rec in records:
        assert rec.error is None and rec.tier in TIERS and rec.attempts == 3
        assert rec.score == rec.correct / 3 and rec.details["rollouts"] == 3
        assert rec.provenance["model"] == str(tiny_model_dir) and rec.provenance["settings"]["n"] == 3
    again = build_scorer("passrate", engine, settings).score_rows(rows[::-1])[::-1]
    assert [record_view(r) for r in again] == [record_view(r) for r in records]
    engine.close()


def test_two_stage_split_cli(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.cli import main
    from verl_difficulty.difficulty import get_record

    rows = clones(shrink(bundled("mathv", 5)), 4)  # 20 samples
    rows[0]["images"] = [{"bytes": b"not an image", "path": "bad.png"}]  # one failed row
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)
    p = [round(float(x), 2) for x in np.linspace(0, 1, len(rows))]
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({"samples": {r["extra_info"]["index"]: {"p_correct": q} for r, q in zip(rows, p)}}))
    run = tmp_path / "run"
    argv = ["score", "--metric", "passrate", "--engine", "oracle", "--model", str(oracle), "--data", str(data)]
    assert main(argv + ["--out", str(run), "--set", "passrate.n=8", "--no-progress"]) == 0
    acc = [get_record(r, "passrate") for r in pq.read_table(run / "scored.parquet").to_pylist()]
    assert acc[0].error and all(a.tier for a in acc[1:])
    scores = np.array([np.nan if a.score is None else a.score for a in acc])
    assert main(["split", str(run), "--metric", "passrate", "--two-stage", "--out", str(tmp_path / "st")]) == 0
    ids = [r["extra_info"]["index"] for r in rows]
    stage1 = [r["extra_info"]["index"] for r in pq.read_table(tmp_path / "st" / "stage1.parquet").to_pylist()]
    stage2 = [r["extra_info"]["index"] for r in pq.read_table(tmp_path / "st" / "stage2.parquet").to_pylist()]
    with np.errstate(invalid="ignore"):
        assert stage1 == [i for i, s in zip(ids, scores) if 0.1 <= s <= 0.87]
        assert stage2 == [i for i, s in zip(ids, scores) if 0.1 <= s < 0.5]
    assert 0 < len(stage2) < len(stage1) < len(rows) - 1
    counts = json.loads((tmp_path / "st" / "counts.json").read_text())
    assert counts["failed"] == 1 and counts["stage1"] + counts["too_easy"] + counts["too_hard"] + 1 == len(rows)
    # custom bands, and the errors
    assert (
        main(
            [
                "split",
                str(run),
                "--metric",
                "passrate",
                "--two-stage",
                "--out",
                str(tmp_path / "s2"),
                "--stage2-low",
                "0.0",
                "--stage2-high",
                "0.3",
            ]
        )
        == 0
    )
    n2 = pq.read_metadata(tmp_path / "s2" / "stage2.parquet").num_rows
    assert n2 == int(np.sum(scores[1:] < 0.3))
    assert main(["split", str(run), "--metric", "pism", "--two-stage", "--out", str(tmp_path / "x")]) == 2
    assert (
        main(
            [
                "split",
                str(run),
                "--metric",
                "passrate",
                "--two-stage",
                "--out",
                str(tmp_path / "x"),
                "--stage1-low",
                "0.9",
                "--stage1-high",
                "0.5",
            ]
        )
        == 2
    )
