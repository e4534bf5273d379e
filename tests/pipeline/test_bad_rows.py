"""Rows that cannot be scored stay in the output with an error, are counted, and never stop the run."""

from __future__ import annotations

import copy
import json

import pytest
from pipeline_testutil import read_difficulty, run_cli

ORACLE = {"default": {"breaking_ratio": 0.5, "p_correct": 1.0}}


@pytest.fixture
def bad_input(bundled_rows, write_input):
    rows = copy.deepcopy(bundled_rows["mathv"][:4] + bundled_rows["mmocr_words"][:4])
    rows[1]["images"] = [{"bytes": b"this is not an image", "path": "broken.png"}]  # corrupt image
    rows[4]["reward_model"]["ground_truth"] = ""  # no answer
    rows[6]["images"] = []  # the prompt still has its <image> placeholder
    return rows, write_input(rows)


def test_bad_rows_are_kept_with_an_error_and_counted(bad_input, tmp_path):
    rows, data = bad_input
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(ORACLE))
    out = tmp_path / "run"
    res = run_cli(
        "score", "--metric", "pism", "--engine", "oracle", "--model", oracle, "--data", data, "--out", out,
        "--shard-size", "3", "--set", "pism.k=2", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    ids, values = read_difficulty(out / "scored.parquet")
    assert ids == [r["extra_info"]["index"] for r in rows]
    records = [v["pism"] for v in values]
    failed = {i: r["error"] for i, r in enumerate(records) if r["tier"] is None}
    assert sorted(failed) == [1, 4, 6], failed
    assert "images[0]" in failed[1] and "broken.png" in failed[1]
    assert "ground_truth" in failed[4]
    assert "placeholder" in failed[6] or "image" in failed[6]
    # the good rows were scored by the oracle: breaking ratio 0.5 -> λ* = 0.5 -> mid
    for i, rec in enumerate(records):
        if i not in failed:
            assert rec["tier"] == "mid" and rec["score"] == pytest.approx(0.5), (i, rec)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["pism"]["failed"] == 3
    assert summary["metrics"]["pism"]["tiers"]["mid"] == 5
    assert "failed 3" in res.stdout  # the printed summary says so too

    split = run_cli("split", out, "--metric", "pism", "--out", tmp_path / "tiers")
    assert split.returncode == 0, split.stderr
    counts = json.loads((tmp_path / "tiers" / "counts.json").read_text())
    assert counts["failed"] == 3 and counts["mid"] == 5


def test_dry_run_prints_the_plan_and_scores_nothing(bundled_rows, write_input, tmp_path):
    data = write_input(bundled_rows["mathv"][:10])
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(ORACLE))
    out = tmp_path / "run"
    res = run_cli(
        "score", "--metric", "pism,passrate", "--engine", "oracle", "--model", oracle, "--data", data,
        "--out", out, "--shard-size", "4", "--dry-run",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "scoring 10 row(s)" in res.stdout
    assert "pism: 3 shard(s), 0 done, 10 row(s) to score" in res.stdout
    assert "passrate: 3 shard(s), 0 done, 10 row(s) to score" in res.stdout
    assert "cost " in res.stdout and "unavailable" not in res.stdout
    assert not (out / "shards").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "pism,difficulty"], "metrics: unknown metric(s) ['difficulty']"),
        (["--metric", "pism", "--set", "pism.kk=3"], "kk"),
        (["--metric", "pism", "--set", "tiers.pism.lambda_hard=0.9"], "lambda_hard"),
        (["--metric", "pism", "--shard-size", "0"], "shard_size"),
    ],
)
def test_bad_settings_fail_fast_naming_the_field(bundled_rows, write_input, tmp_path, args, message):
    data = write_input(bundled_rows["mathv"][:2])
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps(ORACLE))
    res = run_cli("score", "--engine", "oracle", "--model", oracle, "--data", data, "--out", tmp_path / "o", *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_input_file_is_named(tmp_path):
    res = run_cli("score", "--metric", "pism", "--engine", "oracle", "--data", tmp_path / "nope.parquet", "--out",
                  tmp_path / "o")  # fmt: skip
    assert res.returncode == 2
    assert "nope.parquet: input file not found" in res.stderr


def test_yaml_config_with_command_line_overrides(bundled_rows, write_input, tmp_path):
    data = write_input(bundled_rows["mmocr_words"][:3])
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({"default": {"breaking_ratio": 0.25}}))
    config = tmp_path / "score.yaml"
    config.write_text(
        f"metrics: [pism]\nengine: oracle\nmodel: {oracle}\ndata: [{data}]\nout: {tmp_path / 'run'}\n"
        "settings:\n  pism: {k: 4, strategy: full}\n"
    )
    res = run_cli("score", "--config", config, "--set", "pism.k=2", "--no-progress")
    assert res.returncode == 0, res.stderr
    _, values = read_difficulty(tmp_path / "run" / "scored.parquet")
    # breaking ratio 0.25 -> the first failing tested ratio is 0.3 -> hard; k=2 from the command line wins
    assert [v["pism"]["tier"] for v in values] == ["hard"] * 3
    assert [v["pism"]["score"] for v in values] == [pytest.approx(0.3)] * 3
    ratios = values[0]["pism"]["ratios"]
    assert ratios[-1] == {"ratio": pytest.approx(0.3), "attempts": 2, "correct": 0}
