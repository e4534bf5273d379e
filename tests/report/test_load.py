"""Reading scored runs: counts match the parquet, bad input is named, nothing is dropped."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from report_testdata import simple, write_records

from verl_difficulty.difficulty import COLUMN, MetricRecord, read_tiers
from verl_difficulty.report import ReportInputError, load_run, stats
from verl_difficulty.tiers import METRICS, TIERS


def test_counts_match_the_parquet(full_run):
    run = load_run(full_run)
    parquet = full_run / "scored.parquet"
    assert run.num_rows == pq.ParquetFile(parquet).metadata.num_rows
    assert run.run_dir == full_run and run.path == parquet
    assert run.meta["summary.json"]["engine"] == "vllm"
    counts = stats.tier_counts(run)
    for m in METRICS:
        tiers = read_tiers(parquet, m)
        for t in TIERS:
            assert counts.loc[m, t] == int((tiers == t).sum()), (m, t)
    # failed rows: 3 PISM (2 bad images, 1 OOM), 1 CMAB, 0 pass-rate; none lost
    assert counts.loc["pism", "failed"] == 3 and counts.loc["cmab", "failed"] == 1
    assert counts.loc["passrate", "failed"] == 0
    assert (counts.sum(axis=1) == run.num_rows).all()
    assert run.metrics["pism"].tiers_source == "provenance"
    assert run.problems == [], run.problems


def test_the_parquet_file_itself_is_accepted(full_run):
    run = load_run(full_run / "scored.parquet")
    assert run.run_dir is None and run.name == full_run.name and run.meta == {}


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReportInputError, match="nope.parquet: no such file"):
        load_run(tmp_path / "nope.parquet")


def test_parquet_without_difficulty_column_names_file_and_column(tmp_path):
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"prompt": ["x"], "extra_info": [{"index": "a"}]}), path)
    with pytest.raises(ReportInputError) as err:
        load_run(path)
    assert str(path) in str(err.value) and "'difficulty' column" in str(err.value)
    assert "verl-difficulty score" in str(err.value)


def test_not_a_parquet_and_folder_without_scored_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ReportInputError, match="bad.parquet: not a readable parquet file"):
        load_run(bad)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(ReportInputError, match="no scored.parquet"):
        load_run(empty)


def test_json_string_difficulty_column_reads_the_same(full_run, tmp_path):
    table = pq.read_table(full_run / "scored.parquet")
    col = table.column(COLUMN).to_pylist()
    as_json = pa.array([json.dumps(v) if v is not None else None for v in col], pa.string())
    table = table.set_column(table.column_names.index(COLUMN), COLUMN, as_json)
    pq.write_table(table, tmp_path / "scored.parquet")
    a, b = load_run(full_run), load_run(tmp_path)
    assert stats.tier_counts(a).equals(stats.tier_counts(b))
    np.testing.assert_allclose(a.frame["cmab_score"], b.frame["cmab_score"])


def test_bad_values_are_kept_and_reported(shared_data, tmp_path):
    bad_tier = simple("pism", "easy")
    bad_tier.tier = "trivial"  # not a tier: counted as failed, named in problems
    wrong = simple("cmab", "hard", score=2.5)  # recorded hard but ρ̄ 2.5 is easy under the thresholds
    records = {"s/1": {"pism": bad_tier}, "s/2": {"pism": simple("pism", "hard")}, "s/3": {"cmab": wrong}}
    write_records(tmp_path, shared_data, records)
    table = pq.read_table(tmp_path / "scored.parquet")
    rows = table.to_pylist()
    rows[1]["difficulty"]["pism"]["provenance"] = "{not json"
    rows[1]["extra_info"]["index"] = "s/1"  # duplicate id
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "scored.parquet")

    run = load_run(tmp_path)
    assert run.num_rows == 3
    assert run.frame["pism_status"].tolist() == ["failed", "hard", "not scored"]
    assert "unknown tier value 'trivial'" in run.frame["pism_error"].iat[0]
    text = "\n".join(run.problems)
    assert "unknown tier value" in text and "s/1 ('trivial')" in text
    assert "malformed provenance JSON" in text
    assert "duplicate sample id" in text
    assert "s/3 (hard but score 2.5 gives easy)" in text
    assert run.metrics["pism"].tiers_source == "defaults"


def test_thresholds_come_from_provenance(shared_data, tmp_path):
    rec = simple("pism", "hard", score=0.3)
    rec.provenance = {"settings": {"tiers": {"pism": {"lambda_hard": 0.3, "lambda_easy": 0.6}}}}
    write_records(tmp_path, shared_data, {"a": {"pism": rec}})
    run = load_run(tmp_path)
    assert run.metrics["pism"].tiers.lambda_hard == 0.3 and run.metrics["pism"].tiers.lambda_easy == 0.6
    assert run.metrics["pism"].tiers_source == "provenance"
    assert "cmab" not in run.metrics and (run.frame["cmab_status"] == "not scored").all()


def test_failed_records_without_tier(shared_data, tmp_path):
    write_records(tmp_path, shared_data, {"a": {"cmab": MetricRecord.failed("ImageLoadError: truncated")}})
    run = load_run(tmp_path)
    assert run.frame["cmab_status"].tolist() == ["failed"]
    assert stats.error_reasons(run, "cmab") == [("ImageLoadError: truncated", 1, "a")]


def test_json_string_column_with_bad_rows(shared_data, tmp_path):
    write_records(tmp_path / "src", shared_data, {"a": {"pism": simple("pism", "easy")}, "b": {}, "c": {}})
    table = pq.read_table(tmp_path / "src" / "scored.parquet")
    good = json.dumps(table.column(COLUMN).to_pylist()[0])
    values = pa.array([good, "{oops", json.dumps({"cmab": {"tier": "hard", "score": "not a number"}})])
    table = table.set_column(table.column_names.index(COLUMN), COLUMN, values)
    pq.write_table(table, tmp_path / "scored.parquet")
    run = load_run(tmp_path)
    assert run.num_rows == 3
    assert run.frame["pism_status"].tolist() == ["easy", "not scored", "not scored"]
    text = "\n".join(run.problems)
    assert "2 row(s) with an unreadable 'difficulty' JSON value" in text and "b (JSONDecodeError)" in text
