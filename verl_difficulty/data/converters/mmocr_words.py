"""MMOCR text-recognition annotations (``labels.json`` + word crops) to verl OCR rows.

The input is MMOCR 1.x's ``TextRecogDataset`` file (``{"metainfo": ..., "data_list": [{"img_path": ...,
"instances": [{"text": ...}]}]}``) or a folder holding ``labels.json``. Image paths resolve against
``--images-dir``, else the annotation's folder, else its ``imgs/`` subfolder (MMOCR's usual ``data_prefix``).

Each entry becomes one task ``ocr`` row: "What is the text in the image?", ground truth the transcription
exactly as annotated (case kept; the OCR checker decides how strict to be). ``extra_info.index`` =
``mmocr_words/<image file stem>``. Skipped rows are numbered by their 0-based position in ``data_list``.

Skipped: an entry without ``img_path``, without exactly one instance, with an empty text (``missing answer``),
a missing/corrupt image.
"""

from __future__ import annotations

import json
from pathlib import Path

from verl_difficulty.data.convert import ConversionReport, check_and_collect
from verl_difficulty.data.converters.common import (
    ABILITY,
    INSTRUCTIONS,
    ConverterSpec,
    SkipRecord,
    limit_reached,
    load_image_or_skip,
    require_str,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT, IMAGE_PLACEHOLDER, make_row

DATA_SOURCE = "mmocr_words"
QUESTION = "What is the text in the image?"


def find_labels(input_path: str | Path) -> Path:
    path = Path(input_path)
    if path.is_file():
        return path
    if (path / "labels.json").is_file():
        return path / "labels.json"
    raise FileNotFoundError(f"{path}: expected an MMOCR labels.json (or a folder holding one)")


def _resolve(img_path: str, label_dir: Path, images_dir: Path | None) -> Path:
    if images_dir is not None:
        return images_dir / img_path
    p = Path(img_path)
    if p.is_absolute():
        return p
    for candidate in (label_dir / p, label_dir / "imgs" / p):
        if candidate.exists():
            return candidate
    return label_dir / p  # reported as missing with this path


def build_row(
    entry: dict,
    *,
    label_dir: Path,
    images_dir: Path | None,
    split: str,
    system_prompt: str | None,
    max_pixels: int | None,
) -> dict:
    if not isinstance(entry, dict):
        raise SkipRecord("malformed record", f"entry is a {type(entry).__name__}, not an object")
    img_path = require_str(entry, "img_path", "missing image")
    instances = entry.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        n = len(instances) if isinstance(instances, list) else 0
        raise SkipRecord("malformed record", f"{img_path}: expected exactly one instance, found {n}")
    text = instances[0].get("text")
    if text is None or not str(text).strip():
        raise SkipRecord("missing answer", f"{img_path}: empty transcription")
    text = str(text).strip()
    image = load_image_or_skip(_resolve(img_path, label_dir, images_dir), name=img_path, max_pixels=max_pixels)
    sid = Path(img_path).stem
    return make_row(
        data_source=DATA_SOURCE,
        sample_id=sid,
        task="ocr",
        question=QUESTION,
        user_content=f"{IMAGE_PLACEHOLDER}\n{QUESTION}\n{INSTRUCTIONS['ocr']}",
        images=[image.entry],
        ground_truth=text,
        ability=ABILITY["ocr"],
        split=split,
        meta={"source_id": sid, "image_file": img_path, **image.meta()},
        system_prompt=system_prompt,
    )


def convert(
    input_path: str | Path,
    *,
    report: ConversionReport,
    split: str | None = None,
    limit: int | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    max_pixels: int | None = None,
    images_dir: str | Path | None = None,
) -> list[dict]:
    """Convert an MMOCR recognition ``labels.json`` (or its folder)."""
    labels = find_labels(input_path)
    try:
        doc = json.loads(labels.read_text(encoding="utf-8-sig"))
    except ValueError as e:
        raise ValueError(f"{labels}: not valid JSON ({e})") from e
    data_list = doc.get("data_list") if isinstance(doc, dict) else None
    if not isinstance(data_list, list):
        raise ValueError(f"{labels}: no 'data_list' list (not an MMOCR 1.x annotation file)")
    split = split or "train"
    built = []
    for i, entry in enumerate(data_list):
        if limit_reached(report, limit):
            break
        report.read += 1
        try:
            row = build_row(
                entry,
                label_dir=labels.parent,
                images_dir=Path(images_dir) if images_dir else None,
                split=split,
                system_prompt=system_prompt,
                max_pixels=max_pixels,
            )
        except SkipRecord as e:
            report.skip(labels, i, str(e))
            continue
        built.append((labels, i, row))
    return check_and_collect(built, report)


def _add_arguments(p) -> None:
    p.add_argument("--images-dir", default=None, help="folder the entries' img_path are relative to")


SPEC = ConverterSpec(
    name="mmocr_words",
    data_source=DATA_SOURCE,
    summary="MMOCR recognition labels.json + word crops -> verl parquet (task 'ocr').",
    convert=convert,
    add_arguments=_add_arguments,
    option_names=("images_dir",),
    example="example:\n  mmocr_words --input ../shared/data/ocr_mmocr/rec_words/labels.json --out words.parquet",
)
