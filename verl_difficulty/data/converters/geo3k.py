"""Geometry3K raw annotations (InterGPS layout: ``<id>/data.json`` + ``<id>/img_diagram.png``) to verl rows.

The input is a folder searched recursively for ``data.json`` (so both a flat folder of problems and the
original ``train/ val/ test/`` tree work). Each problem folder holds ``data.json`` (``problem_text``,
``choices``, ``answer`` letter, ``precise_value``, ``data_type`` = split, ...) and ``img_diagram.png``.

- Default: task ``choice``; the choices become the options (``A. 5 \\sqrt { 3 }`` lines, spaced LaTeX kept as
  written), ground truth the answer letter.
- ``--free-form``: task ``math``; the options are not shown and the ground truth is the text of the correct
  choice (e.g. ``5 \\sqrt { 3 }``; the math verifier normalises the spacing), its ``precise_value`` in meta,
  ``extra_info.index`` = ``geo3k/<id>/free`` so both variants can be trained on together.
- Diagrams are RGBA PNGs; their bytes are kept (verl / qwen-vl-utils composite alpha on white) after a full
  decode check. ``extra_info.index`` = ``geo3k/<id>``; ``split`` = ``data_type`` unless ``--split`` is given.

Skipped: unreadable ``data.json``, a missing/corrupt diagram, no problem text, no choices, an answer letter
outside the choices.
"""

from __future__ import annotations

import json
from pathlib import Path

from verl_difficulty.data.convert import ConversionReport, check_and_collect
from verl_difficulty.data.converters.common import (
    ABILITY,
    INSTRUCTIONS,
    LETTERS,
    ConverterSpec,
    SkipRecord,
    answer_letter,
    format_options,
    limit_reached,
    load_image_or_skip,
    require_str,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT, IMAGE_PLACEHOLDER, make_row

DATA_SOURCE = "geo3k"
DIAGRAM = "img_diagram.png"


def _sort_key(p: Path):
    name = p.parent.name
    return (str(p.parent.parent), 0, int(name), "") if name.isdigit() else (str(p.parent.parent), 1, 0, name)


def find_problems(input_path: str | Path) -> list[Path]:
    """Every ``data.json`` under ``input_path`` (numeric problem folders in numeric order)."""
    root = Path(input_path)
    if root.is_file() and root.name == "data.json":
        return [root]
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: expected a folder of Geometry3K problem folders")
    found = sorted(root.rglob("data.json"), key=_sort_key)
    if not found:
        raise FileNotFoundError(f"{root}: no */data.json found")
    return found


def build_row(
    data_file: Path,
    *,
    split: str | None,
    free_form: bool,
    system_prompt: str | None,
    max_pixels: int | None,
) -> dict:
    """One problem folder to one row; raises :class:`SkipRecord` when it cannot be converted."""
    try:
        record = json.loads(data_file.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:
        raise SkipRecord("malformed record", f"cannot read data.json ({e})") from e
    if not isinstance(record, dict):
        raise SkipRecord("malformed record", "data.json is not a JSON object")
    sid = str(record.get("id", data_file.parent.name)).strip()
    problem = require_str(record, "problem_text", "missing question")
    choices = record.get("choices")
    if not isinstance(choices, list) or not choices:
        raise SkipRecord("missing options", "no 'choices' list")
    choices = [str(c).strip() for c in choices]
    answer = require_str(record, "answer", "missing answer")
    letter = answer_letter(answer, choices)
    if IMAGE_PLACEHOLDER in problem:
        raise SkipRecord("placeholder mismatch", "problem_text contains a literal '<image>'")
    image = load_image_or_skip(
        data_file.parent / DIAGRAM, name=f"{data_file.parent.name}/{DIAGRAM}", max_pixels=max_pixels
    )
    idx = LETTERS.index(letter)
    meta = {
        "source_id": sid,
        "answer_letter": letter,
        "choices": choices,
        "precise_value": record.get("precise_value"),
        "problem_type_graph": record.get("problem_type_graph"),
        "problem_type_goal": record.get("problem_type_goal"),
        "source": record.get("source"),
        "image_file": f"{data_file.parent.name}/{DIAGRAM}",
        **image.meta(),
    }
    if free_form:
        task, truth, options = "math", choices[idx], []
        user = f"{IMAGE_PLACEHOLDER}\n{problem}\n\n{INSTRUCTIONS['math']}"
        pv = record.get("precise_value")
        if isinstance(pv, list) and len(pv) == len(choices):
            meta["answer_value"] = pv[idx]
    else:
        task, truth, options = "choice", letter, choices
        user = f"{IMAGE_PLACEHOLDER}\n{problem}\n\nOptions:\n{format_options(choices)}\n{INSTRUCTIONS['choice']}"
    return make_row(
        data_source=DATA_SOURCE,
        sample_id=f"{sid}/free" if free_form else sid,
        task=task,
        question=problem,
        user_content=user,
        images=[image.entry],
        ground_truth=truth,
        ability=ABILITY[task],
        split=split or str(record.get("data_type") or "train"),
        options=options,
        meta=meta,
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
    free_form: bool = False,
) -> list[dict]:
    """Convert every Geometry3K problem folder under ``input_path``."""
    built = []
    for data_file in find_problems(input_path):
        if limit_reached(report, limit):
            break
        report.read += 1
        try:
            row = build_row(
                data_file, split=split, free_form=free_form, system_prompt=system_prompt, max_pixels=max_pixels
            )
        except SkipRecord as e:
            report.skip(data_file, data_file.parent.name, str(e))
            continue
        built.append((data_file, data_file.parent.name, row))
    return check_and_collect(built, report)


def _add_arguments(p) -> None:
    p.add_argument(
        "--free-form",
        action="store_true",
        help="task 'math' with the correct choice's text as ground truth (options not shown)",
    )


SPEC = ConverterSpec(
    name="geo3k",
    data_source=DATA_SOURCE,
    summary="Geometry3K raw problem folders -> verl parquet (multiple choice, or free-form with --free-form).",
    convert=convert,
    add_arguments=_add_arguments,
    option_names=("free_form",),
    example="example:\n  geo3k --input ../shared/data/geo3k_examples --out data/geo3k.parquet [--free-form]",
)
