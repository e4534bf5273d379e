"""MATH-Vision (``testmini.jsonl`` / ``test.jsonl`` + ``images/<id>.jpg``) to verl rows.

Source fields: ``id, question, options, answer, solution, level, subject, image``. What the rows hold:

- One image per row. MATH-V questions name sub-figures ``<image1>``, ``<image2>``, ... but every record has a
  single image file; when a question names several, that file is a composite whose panels are labelled
  ``<image1>:``, ``<image2>:`` ... (options can name panels too, e.g. ids 2659 and 2673). So:
  a question with exactly one tag (``<image1>`` once) gets ``<image>`` in its place (layout ``inline``);
  several tags, a repeated tag or tags in the options put ``<image>`` first and keep the tags as text, since
  they match the panel labels the model sees (layout ``composite``); no tag puts ``<image>`` first
  (layout ``prepended``).
- Options present: task ``choice``, ground truth the answer letter, options listed as ``A. ...`` lines. When
  every option is only its own letter (``A``, ``(A)``, ``A)``: the choices are drawn in the image) the prompt
  says ``Options: A, B, C, D, E (labelled in the image)`` instead of ``A. A`` lines.
- No options but a single-letter answer A-E (id 59: the options are drawn in the image): task ``choice`` with
  options ``A``-``E`` (MATH-V multiple choice always has five), ``meta.options_inferred = true``.
- Otherwise task ``math``, ground truth the answer as written (``61``, ``4.8``, ``(3,-4)``).
- ``extra_info.index`` = ``mathv/<id>`` (testmini ids are test ids, so both splits share ids);
  ``extra_info.split`` = the file's stem (``testmini``) unless ``--split`` is given; ``meta`` holds level,
  subject, the image file and size, the layout and the tags.

Skipped: malformed lines, missing/corrupt/oversized images, empty questions or answers, a choice answer that
names no option, a literal ``<image>`` in the source text (it would become a second placeholder).
"""

from __future__ import annotations

import re
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
    iter_jsonl,
    limit_reached,
    load_image_or_skip,
    options_are_letter_labels,
    require_str,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT, IMAGE_PLACEHOLDER, make_row

DATA_SOURCE = "mathv"
_TAG_RE = re.compile(r"<image(\d+)>")


def find_jsonl(input_path: str | Path) -> Path:
    """The jsonl to read: ``input_path`` itself, or in a folder ``testmini.jsonl`` / ``test.jsonl`` / the only one."""
    path = Path(input_path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    for name in ("testmini.jsonl", "test.jsonl"):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*.jsonl"))
    if len(found) != 1:
        raise FileNotFoundError(f"{path}: expected testmini.jsonl, test.jsonl or exactly one *.jsonl, found {found}")
    return found[0]


def _layout(question: str, options: list[str]) -> tuple[str, str, list[str]]:
    """Return ``(user_text_without_instruction, layout, tags)`` with exactly one ``<image>`` placeholder."""
    q_tags = _TAG_RE.findall(question)
    o_tags = [t for opt in options for t in _TAG_RE.findall(opt)]
    tags = [f"<image{n}>" for n in q_tags + o_tags]
    if len(q_tags) == 1 and not o_tags:
        return _TAG_RE.sub(IMAGE_PLACEHOLDER, question, count=1), "inline", tags
    layout = "composite" if tags else "prepended"
    return f"{IMAGE_PLACEHOLDER}\n{question}", layout, tags


def build_row(
    record: dict,
    *,
    base_dir: Path,
    split: str,
    system_prompt: str | None,
    max_pixels: int | None,
) -> dict:
    """One MATH-V record to one row; raises :class:`SkipRecord` when it cannot be converted."""
    sid = require_str(record, "id")
    question = require_str(record, "question", "missing question")
    raw_options = record.get("options") or []
    if not isinstance(raw_options, list):
        raise SkipRecord("malformed record", f"'options' must be a list, got {type(raw_options).__name__}")
    options = [str(o).strip() for o in raw_options]
    if any(not o for o in options):
        raise SkipRecord("malformed record", "an option is empty")
    answer = require_str(record, "answer", "missing answer")
    n_literal = question.count(IMAGE_PLACEHOLDER) + sum(o.count(IMAGE_PLACEHOLDER) for o in options)
    if n_literal:
        raise SkipRecord(
            "placeholder mismatch", f"source text has {n_literal} literal '<image>' besides the record's 1 image"
        )
    image_rel = require_str(record, "image", "missing image")
    image = load_image_or_skip(base_dir / image_rel, name=image_rel, max_pixels=max_pixels)

    body, layout, tags = _layout(question, options)
    meta = {
        "source_id": sid,
        "level": record.get("level"),
        "subject": record.get("subject"),
        "image_file": image_rel,
        "layout": layout,
        "image_tags": tags,
        **image.meta(),
    }
    if record.get("solution"):
        meta["solution"] = record["solution"]

    if options:
        task, truth = "choice", answer_letter(answer, options)
        if options_are_letter_labels(options):
            listing = f"Options: {', '.join(LETTERS[: len(options)])} (labelled in the image)."
        else:
            listing = "Options:\n" + format_options(options)
        user = f"{body}\n\n{listing}\n{INSTRUCTIONS['choice']}"
    elif re.fullmatch(r"[A-E]", answer):
        task, truth = "choice", answer
        options = list(LETTERS[:5])
        meta["options_inferred"] = True
        user = f"{body}\n\nOptions: A, B, C, D, E (labelled in the image).\n{INSTRUCTIONS['choice']}"
    else:
        task, truth = "math", answer
        user = f"{body}\n\n{INSTRUCTIONS['math']}"

    return make_row(
        data_source=DATA_SOURCE,
        sample_id=sid,
        task=task,
        question=question,
        user_content=user,
        images=[image.entry],
        ground_truth=truth,
        ability=ABILITY[task],
        split=split,
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
    images_dir: str | Path | None = None,
) -> list[dict]:
    """Convert a MATH-V jsonl (or its folder). Images resolve against ``images_dir`` or the jsonl's folder."""
    path = find_jsonl(input_path)
    base_dir = Path(images_dir) if images_dir else path.parent
    split = split or path.stem
    built = []
    for line_no, record, error in iter_jsonl(path):
        if limit_reached(report, limit):
            break
        report.read += 1
        if error:
            report.skip(path, line_no, f"malformed record: {error}")
            continue
        try:
            row = build_row(record, base_dir=base_dir, split=split, system_prompt=system_prompt, max_pixels=max_pixels)
        except SkipRecord as e:
            sid = record.get("id")
            report.skip(path, line_no, f"{e} (id {sid})" if sid is not None else str(e))
            continue
        built.append((path, line_no, row))
    return check_and_collect(built, report)


def _add_arguments(p) -> None:
    p.add_argument("--images-dir", default=None, help="folder the records' 'image' paths are relative to")


SPEC = ConverterSpec(
    name="mathv",
    data_source=DATA_SOURCE,
    summary="MATH-Vision jsonl + images -> verl parquet (choice rows for options, math rows otherwise).",
    convert=convert,
    add_arguments=_add_arguments,
    option_names=("images_dir",),
    example="example:\n  mathv --input ../shared/data/mathv_testmini/testmini.jsonl --out data/mathv_testmini.parquet",
)
