"""``verl-difficulty report`` through the package's command-line dispatcher."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_difficulty.cli import main


def test_report_command_writes_the_report(full_run, tmp_path, capsys, check_png):
    out = tmp_path / "rep"
    rc = main(["report", str(full_run), "--out", str(out), "--title", "VPT 7B", "--max-examples", "2", "--no-progress"])
    assert rc == 0
    assert f"report written: {out / 'report.html'}" in capsys.readouterr().out
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<title>VPT 7B</title>" in html and "Up to 2 rows per tier" in html
    check_png(out / "tier_counts.png")


def test_missing_input_is_named(tmp_path, capsys):
    rc = main(["report", str(tmp_path / "missing_run")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "verl-difficulty report: error:" in err and str(tmp_path / "missing_run") in err


def test_parquet_without_difficulty_column(tmp_path, capsys):
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"data_source": ["x"], "extra_info": [{"index": "x/1"}]}), path)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "no 'difficulty' column" in err


def test_missing_compare_run_is_named(full_run, tmp_path, capsys):
    assert main(["report", str(full_run), "--compare", str(tmp_path / "other"), "--out", str(tmp_path / "o")]) == 2
    assert str(tmp_path / "other") in capsys.readouterr().err


def test_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", "--help"])
    assert e.value.code == 0
    assert "--compare" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["report", "run", "--max-examples", "-3"])
    assert e.value.code == 2
