"""Broken copies of the real data: every bad record is skipped with its file and row, counted, and fails --strict."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from verl_difficulty.data.convert import ConversionReport, read_rows
from verl_difficulty.data.converters import geo3k, icdar_grounding, mathv, mmocr_words, swift_jsonl


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid 1x1 PNG whose header claims ``width x height`` pixels (CRC fixed, so only the size is wrong)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8  # after the signature: length(4) 'IHDR'(4) data(13) crc(4)
    assert data[ihdr + 4 : ihdr + 8] == b"IHDR"
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])))
    return bytes(data)


@pytest.fixture
def broken_mathv(shared_data, tmp_path) -> Path:
    """The first 10 MATH-V testmini rows, with rows 1-7 broken in seven different ways (lines 1-based)."""
    src = shared_data / "mathv_testmini"
    lines = (src / "testmini.jsonl").read_text(encoding="utf-8").splitlines()[:10]
    records = [json.loads(x) for x in lines]
    (tmp_path / "images").mkdir()
    for r in records:
        shutil.copyfile(src / r["image"], tmp_path / r["image"])
    (tmp_path / records[0]["image"]).unlink()  # line 1: missing image
    jpg = (tmp_path / records[1]["image"]).read_bytes()
    (tmp_path / records[1]["image"]).write_bytes(jpg[: len(jpg) // 2])  # line 2: truncated JPEG
    records[2]["answer"] = "Z"  # line 3: a choice letter outside the options
    assert records[2]["options"], "row 3 of testmini must be multiple choice"
    records[3]["answer"] = ""  # line 4: no answer
    records[4]["question"] += "\n<image>"  # line 5: a second placeholder for one image
    (tmp_path / records[6]["image"]).write_bytes(bomb_png())  # line 7: decompression bomb
    out = [json.dumps(r) for r in records]
    out[5] = out[5][:-10]  # line 6: malformed JSON
    (tmp_path / "testmini.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    return tmp_path / "testmini.jsonl"


EXPECTED_MATHV = {
    1: "missing image",
    2: "corrupt image",
    3: "bad answer",
    4: "missing answer",
    5: "placeholder mismatch",
    6: "malformed record",
    7: "oversized image",
}


def test_mathv_skips_are_named_and_counted(broken_mathv):
    report = ConversionReport("mathv", quiet=True)
    rows = mathv.convert(broken_mathv, report=report)
    assert report.read == 10 and len(rows) == 3
    got = {s.row: s.reason.split(":")[0] for s in report.skipped}
    assert got == EXPECTED_MATHV
    assert all(s.file == str(broken_mathv) for s in report.skipped)
    assert report.reasons == {v: 1 for v in EXPECTED_MATHV.values()}
    by_row = {s.row: s.reason for s in report.skipped}
    assert "file not found" in by_row[1] and "images/" in by_row[1]
    assert "decompression bomb" in by_row[7] or "pixel limit" in by_row[7]
    assert "'Z'" in by_row[3]


def test_mathv_cli_lists_skips_and_strict_fails(broken_mathv, tmp_path, run_example):
    out = tmp_path / "out" / "mathv.parquet"
    res = run_example("mathv", "--input", broken_mathv, "--out", out)
    assert res.returncode == 0, res.stderr
    assert "read 10, wrote 3, skipped 7" in res.stdout
    for line_no in EXPECTED_MATHV:  # every skip printed with file and row
        assert f"{broken_mathv} [row {line_no}]" in res.stderr
    assert len(read_rows(out)) == 3
    listed = [json.loads(x) for x in Path(f"{out}.skipped.jsonl").read_text().splitlines()]
    assert {(d["file"], d["row"]) for d in listed} == {(str(broken_mathv), n) for n in EXPECTED_MATHV}

    res = run_example("mathv", "--input", broken_mathv, "--out", out, "--strict", "--quiet")
    assert res.returncode == 1
    assert "--strict: 7 record(s) skipped" in res.stderr and "[row" not in res.stderr

    good = tmp_path / "good.jsonl"
    good.write_text("".join(x + "\n" for x in broken_mathv.read_text().splitlines()[7:]))
    res = run_example(
        "mathv", "--input", good, "--out", tmp_path / "good.parquet", "--strict", "--images-dir", broken_mathv.parent
    )
    assert res.returncode == 0, res.stderr
    assert not Path(f"{tmp_path / 'good.parquet'}.skipped.jsonl").exists()


def test_cli_usage_errors(tmp_path, run_example):
    res = run_example("geo3k", "--input", tmp_path / "nope", "--out", tmp_path / "x.parquet")
    assert res.returncode == 2 and "input not found" in res.stderr
    res = run_example("geo3k", "--out", tmp_path / "x.parquet")
    assert res.returncode == 2


def test_geo3k_bad_problems(shared_data, tmp_path):
    shutil.copytree(shared_data / "geo3k_examples", tmp_path / "g", copy_function=shutil.copyfile)
    (tmp_path / "g/12/img_diagram.png").unlink()
    data = json.loads((tmp_path / "g/13/data.json").read_text())
    data["answer"] = "F"
    (tmp_path / "g/13/data.json").write_text(json.dumps(data))
    (tmp_path / "g/14/data.json").write_text("{broken")
    report = ConversionReport("geo3k", quiet=True)
    rows = geo3k.convert(tmp_path / "g", report=report)
    assert len(rows) == 7 and report.read == 10
    got = {(Path(s.file).parent.name, s.row, s.reason.split(":")[0]) for s in report.skipped}
    assert got == {("12", "12", "missing image"), ("13", "13", "bad answer"), ("14", "14", "malformed record")}


def test_word_crops_bad_entries(shared_data, tmp_path):
    shutil.copytree(shared_data / "ocr_mmocr/rec_words", tmp_path / "w", copy_function=shutil.copyfile)
    doc = json.loads((tmp_path / "w/labels.json").read_text())
    doc["data_list"][0]["instances"][0]["text"] = "  "
    (tmp_path / "w/imgs" / doc["data_list"][1]["img_path"]).unlink()
    (tmp_path / "w/imgs" / doc["data_list"][2]["img_path"]).write_bytes(b"not an image")
    doc["data_list"][3]["instances"] = []
    (tmp_path / "w/labels.json").write_text(json.dumps(doc))
    report = ConversionReport("w", quiet=True)
    rows = mmocr_words.convert(tmp_path / "w", report=report)
    assert len(rows) == 6
    assert {s.row: s.reason.split(":")[0] for s in report.skipped} == {
        0: "missing answer",
        1: "missing image",
        2: "corrupt image",
        3: "malformed record",
    }


def test_icdar_bad_lines_and_images(shared_data, tmp_path):
    shutil.copytree(shared_data / "ocr_mmocr/icdar2015_toy", tmp_path / "t", copy_function=shutil.copyfile)
    (tmp_path / "t/imgs/img_2.jpg").unlink()
    gt9 = tmp_path / "t/gt/gt_img_9.txt"
    gt9.write_text(gt9.read_text() + "1,2,3,EXIT\n5000,10,5100,10,5100,20,5000,20,STAGE\n")
    report = ConversionReport("t", quiet=True)
    rows = {r["extra_info"]["index"] for r in icdar_grounding.convert(tmp_path / "t", report=report)}
    got = {(Path(s.file).name, s.row, s.reason.split(":")[0]) for s in report.skipped}
    assert got == {
        ("gt_img_2.txt", None, "missing image"),
        ("gt_img_9.txt", 5, "malformed record"),
        ("gt_img_9.txt", 6, "bad box"),  # a second STAGE box outside the image: the whole word is skipped
    }
    assert "icdar2015/img_9/stage" not in rows and "icdar2015/img_9/exit" in rows
    assert len(rows) == 20 - 2 - 1


def test_swift_bad_lines(shared_data, tmp_path):
    shutil.copyfile(shared_data / "mathv_testmini/images/4.jpg", tmp_path / "4.jpg")
    ok = {"images": ["4.jpg"], "messages": [{"role": "user", "content": "<image>How many digits?"}], "solution": "6"}
    lines = [
        json.dumps(ok),
        "{not json",
        json.dumps({**ok, "messages": [{"role": "user", "content": "<image><image>How many digits?"}]}),
        json.dumps({**ok, "solution": "<answer></answer>"}),
        json.dumps({**ok, "images": ["missing.jpg"]}),
        json.dumps({**ok, "images": ["https://example.com/a.jpg"]}),
        json.dumps({**ok, "task": "choice"}),
        json.dumps({**ok, "solution": "[1, 2]", "task": "grounding"}),
        "[1, 2, 3]",
        json.dumps({**ok, "id": "dup"}),
        json.dumps({**ok, "id": "dup"}),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    report = ConversionReport("s", quiet=True)
    rows = swift_jsonl.convert(path, report=report)
    assert report.read == 11 and len(rows) == 2
    assert {s.row: s.reason.split(":")[0] for s in report.skipped} == {
        2: "malformed record",
        3: "placeholder mismatch",
        4: "missing answer",
        5: "missing image",
        6: "unsupported image",
        7: "missing options",
        8: "bad answer",
        9: "malformed record",
        11: "invalid row",  # duplicate id
    }


def test_verl_difficulty_convert_command(shared_data, tmp_path, capsys):
    from verl_difficulty.cli import main

    out = tmp_path / "g.parquet"
    assert (
        main(["convert", "geo3k", "--input", str(shared_data / "geo3k_examples"), "--out", str(out), "--strict"]) == 0
    )
    assert len(read_rows(out)) == 10 and "[geo3k] read 10, wrote 10, skipped 0" in capsys.readouterr().out
    assert main(["convert", "--list"]) == 0 and "icdar_grounding" in capsys.readouterr().out
    assert main(["convert", "nope"]) == 2
    assert main(["convert"]) == 2
