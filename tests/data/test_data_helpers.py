"""The helpers the converters added to ``verl_difficulty.data``: error kinds, downscaling, report notes, writing."""

from __future__ import annotations

import io
import os
import stat

import pytest
from PIL import Image

from verl_difficulty.data import ImageLoadError, downscale_to_max_pixels, open_image, read_image_bytes
from verl_difficulty.data.convert import ConversionReport, write_parquet
from verl_difficulty.data.converters.common import answer_letter, options_are_letter_labels, prepare_image


def _png(size=(40, 30), mode="RGBA") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 0) if mode == "RGBA" else 0).save(buf, "PNG")
    return buf.getvalue()


def test_image_error_kinds(tmp_path):
    with pytest.raises(ImageLoadError) as e:
        read_image_bytes(tmp_path / "nope.png")
    assert e.value.kind == "missing" and "file not found" in str(e.value)
    with pytest.raises(ImageLoadError) as e:
        read_image_bytes(tmp_path)
    assert e.value.kind == "missing"
    (tmp_path / "big.png").write_bytes(_png())
    with pytest.raises(ImageLoadError) as e:
        read_image_bytes(tmp_path / "big.png", max_bytes=10)
    assert e.value.kind == "too_large"
    with pytest.raises(ImageLoadError) as e:
        open_image(_png()[:-30])
    assert e.value.kind == "corrupt"
    with pytest.raises(ImageLoadError) as e:
        open_image(_png((100, 100)), max_pixels=50)
    assert e.value.kind == "too_large"
    with pytest.raises(ImageLoadError) as e:
        open_image(12)
    assert e.value.kind == "unsupported"


def test_downscale_keeps_aspect_and_bound():
    img = Image.new("RGB", (2520, 2761))
    small = downscale_to_max_pixels(img, 1_254_400)
    assert small.width * small.height <= 1_254_400
    assert abs(small.width / small.height - 2520 / 2761) < 0.005
    assert downscale_to_max_pixels(img, 10**8) is img
    assert downscale_to_max_pixels(Image.new("RGB", (1000, 1)), 10).size[1] == 1


def test_prepare_image_keeps_bytes_or_reencodes_with_alpha():
    data = _png((400, 300))
    kept = prepare_image(data, name="a.png")
    assert kept.entry == {"bytes": data, "path": "a.png"} and not kept.resized
    small = prepare_image(data, name="a.png", max_pixels=100 * 75)
    assert (small.width, small.height, small.orig_width, small.orig_height) == (100, 75, 400, 300)
    reopened = open_image(small.entry)
    assert reopened.format == "PNG" and reopened.mode == "RGBA" and reopened.size == (100, 75)
    assert small.meta() == {"width": 100, "height": 75, "orig_width": 400, "orig_height": 300}


def test_choice_helpers():
    assert options_are_letter_labels(["A", "(B)", "C)", "D."])
    assert not options_are_letter_labels(["A", "B", "D", "F", "G"])
    assert not options_are_letter_labels(["A", "B", "C", "D", "C or D"])
    assert answer_letter("(C)", ["x", "y", "z"]) == "C" and answer_letter("y", ["x", "y", "z"]) == "B"


def test_report_notes_do_not_count_as_skips(capsys):
    report = ConversionReport("t", quiet=True)
    report.note("illegible boxes", 3)
    report.note("never", 0)
    assert report.finish(strict=True) == 0
    assert "notes: illegible boxes: 3" in capsys.readouterr().out
    report.skip("f.jsonl", 2, "missing answer: empty")
    assert report.finish(strict=True) == 1


def test_written_parquet_is_readable_by_others(tmp_path):
    out = write_parquet([], tmp_path / "empty.parquet", ConversionReport("t"))
    mode = stat.S_IMODE(os.stat(out).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
