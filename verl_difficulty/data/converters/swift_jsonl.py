"""The paper's ms-swift GRPO jsonl (``images``, ``messages``, ``solution``) to verl rows.

One JSON object per line, as the released code writes it::

    {"images": ["imgs/1.jpg"], "messages": [{"role": "user", "content": "<image>How many ...?"}], "solution": "3"}

- ``images``: paths relative to the jsonl's folder (or ``--images-dir``), absolute paths, ``file://`` paths,
  ``data:image/...;base64,`` URIs, or ``{"path": ...}`` / ``{"bytes": <base64>}`` objects; a single string is
  accepted too. Remote ``http(s)://`` images are refused (converters never download).
- ``messages``: ``system`` / ``user`` / ``assistant`` turns with string contents. A final ``assistant`` turn is the
  SFT target: it is dropped from the prompt and kept as ``meta.sft_response``. The record's own system message
  is kept; the converter's system prompt is added only when the record has none. Earlier turns stay in the
  prompt. With no ``<image>`` at all, one per image is put at the start of the first user turn
  (``meta.placeholders_added``); any other count that differs from the number of images is skipped.
- ``solution``: the reference answer; ``<answer>...</answer>`` wrapping (and any ``<think>`` before it) is
  removed. Lists/objects (boxes) are accepted as JSON values.
- Task: ``--task`` when it is not ``auto``; else the record's own ``task`` field; else inferred:
  boxes (``[x1,y1,x2,y2]``, a list of them, or Qwen-style ``[{"bbox_2d": [...]}]``) -> ``grounding``;
  one letter with option lines ``A. ...`` / ``(A) ...`` in the question (or an ``options`` field) -> ``choice``;
  a non-negative integer for a question asking "how many" / "count" / "number of" -> ``counting``;
  anything else -> ``math``. OCR rows need ``--task ocr`` or ``"task": "ocr"`` (a transcription looks like any
  short answer).
- Grounding truths are written as a JSON list of boxes (integers where the source's are integral) and scaled
  with the image under ``--max-pixels``.
- ``extra_info.index`` = ``<data source>/<id>`` with the record's ``id`` field, else ``line<N>``;
  ``data_source`` = ``--data-source`` (default: the jsonl's stem).

Skipped (file + line named): unparsable lines, missing fields, bad images, an empty solution, a placeholder
count that does not match the images, a choice letter outside the options, unparsable boxes for grounding.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from pathlib import Path

from verl_difficulty.data.convert import ConversionReport, check_and_collect
from verl_difficulty.data.converters.common import (
    ABILITY,
    LETTERS,
    ConverterSpec,
    PreparedImage,
    SkipRecord,
    answer_letter,
    iter_jsonl,
    limit_reached,
    load_image_or_skip,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT, IMAGE_PLACEHOLDER, TASKS, make_row

TASK_CHOICES = ("auto", *TASKS)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_OPTION_LINE_RE = re.compile(r"^\s*\(?([A-Z])\s*[\.\):：]\s*(\S.*?)\s*$")
_COUNT_QUESTION_RE = re.compile(r"\bhow many\b|\bcount\b|\bnumber of\b", re.IGNORECASE)


def unwrap_solution(solution) -> str:
    """The reference answer as a string: JSON for lists/objects, ``<answer>`` wrapping removed, stripped."""
    if isinstance(solution, (list, dict)):
        return json.dumps(solution)
    if isinstance(solution, bool) or solution is None:
        return ""
    text = str(solution).strip()
    m = _ANSWER_RE.search(text)
    return m.group(1).strip() if m else text


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def parse_boxes(text: str) -> list[list[float]] | None:
    """Boxes from ``[x1,y1,x2,y2]``, ``[[...], ...]``, ``{"bbox_2d": [...]}`` or a list of those; else ``None``."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    if len(value) == 4 and all(_number(v) is not None for v in value):
        value = [value]
    boxes = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("bbox_2d", item.get("bbox"))
        if not isinstance(item, list) or len(item) != 4 or any(_number(v) is None for v in item):
            return None
        boxes.append([int(v) if float(v).is_integer() else float(v) for v in item])
    return boxes


def parse_options(text: str) -> list[str]:
    """Option texts from consecutive lines ``A. ...`` / ``(A) ...`` / ``A) ...`` (starting at A); ``[]`` if none."""
    found: list[str] = []
    for line in text.splitlines():
        m = _OPTION_LINE_RE.match(line)
        expected = LETTERS[len(found)] if len(found) < len(LETTERS) else None
        if m and m.group(1) == expected:
            found.append(m.group(2))
        elif found:
            break
    return found if len(found) >= 2 else []


def infer_task(solution: str, question: str, options: list[str]) -> str:
    """The ``auto`` task rule (see the module docstring)."""
    if parse_boxes(solution) is not None:
        return "grounding"
    if options and re.fullmatch(r"\(?[A-Z][\).]?", solution):
        return "choice"
    if re.fullmatch(r"\d+", solution) and _COUNT_QUESTION_RE.search(question):
        return "counting"
    return "math"


def _load_image(item, base_dir: Path, max_pixels: int | None) -> tuple[PreparedImage, str]:
    if isinstance(item, dict):
        if item.get("bytes") is not None:
            raw = item["bytes"]
            try:
                data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else bytes(raw)
            except (binascii.Error, ValueError, TypeError) as e:
                raise SkipRecord("corrupt image", f"'bytes' is not base64 ({e})") from e
            name = str(item.get("path") or "<inline bytes>")
            return load_image_or_skip(data, name=name, max_pixels=max_pixels), name
        item = item.get("path") or item.get("image")
    if not isinstance(item, str) or not item.strip():
        raise SkipRecord("malformed record", f"image entry {item!r} is neither a path nor {{path|bytes}}")
    ref = item.strip()
    if ref.startswith(("http://", "https://")):
        raise SkipRecord("unsupported image", f"{ref}: remote images are not downloaded; fetch them first")
    if ref.startswith("data:image"):
        try:
            data = base64.b64decode(ref.split("base64,", 1)[1], validate=True)
        except (IndexError, binascii.Error, ValueError) as e:
            raise SkipRecord("corrupt image", f"unreadable data URI ({e})") from e
        return load_image_or_skip(data, name="<data URI>", max_pixels=max_pixels), "<data URI>"
    path = Path(ref[7:] if ref.startswith("file://") else ref)
    full = path if path.is_absolute() else base_dir / path
    return load_image_or_skip(full, name=ref, max_pixels=max_pixels), ref


def build_row(
    record: dict,
    *,
    line_no: int,
    source_file: Path,
    base_dir: Path,
    data_source: str,
    task_flag: str,
    split: str,
    system_prompt: str | None,
    max_pixels: int | None,
) -> dict:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SkipRecord("malformed record", "no 'messages' list")
    msgs = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise SkipRecord("malformed record", f"messages[{i}] is not a system/user/assistant message")
        if not isinstance(m.get("content"), str):
            raise SkipRecord("malformed record", f"messages[{i}].content must be a string")
        msgs.append({"role": m["role"], "content": m["content"]})
    sft_response = None
    if msgs[-1]["role"] == "assistant":
        sft_response = msgs.pop()["content"]
    if not msgs or msgs[-1]["role"] != "user":
        raise SkipRecord("missing question", "the prompt does not end with a user turn")
    if not any(m["role"] == "system" for m in msgs) and system_prompt:
        msgs.insert(0, {"role": "system", "content": system_prompt})

    solution = unwrap_solution(record.get("solution"))
    if not solution:
        raise SkipRecord("missing answer", "no or empty 'solution'")

    raw_images = record.get("images") or []
    if isinstance(raw_images, (str, dict)):
        raw_images = [raw_images]
    if not isinstance(raw_images, list):
        raise SkipRecord("malformed record", "'images' must be a list")
    n_ph = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in msgs)
    added = False
    if n_ph == 0 and raw_images:
        first_user = next(m for m in msgs if m["role"] == "user")
        first_user["content"] = IMAGE_PLACEHOLDER * len(raw_images) + "\n" + first_user["content"]
        added = True
    elif n_ph != len(raw_images):
        raise SkipRecord(
            "placeholder mismatch", f"{n_ph} '<image>' placeholder(s) in the messages for {len(raw_images)} image(s)"
        )
    loaded = [_load_image(item, base_dir, max_pixels) for item in raw_images]

    user_text = msgs[-1]["content"]
    question = user_text.replace(IMAGE_PLACEHOLDER, "").strip()
    raw_options = record.get("options")
    if raw_options is not None and not isinstance(raw_options, list):
        raise SkipRecord("malformed record", "'options' must be a list")
    options = [str(o) for o in raw_options] if raw_options else parse_options(user_text)

    record_task = record.get("task")
    if task_flag != "auto":
        task, task_from = task_flag, "flag"
    elif record_task in TASKS:
        task, task_from = record_task, "record"
    elif record_task is not None:
        raise SkipRecord("malformed record", f"'task' {record_task!r} is not one of {TASKS}")
    else:
        task, task_from = infer_task(solution, question, options), "inferred"

    truth = solution
    if task == "choice":
        if not options:
            raise SkipRecord("missing options", "choice task but no options field or 'A. ...' option lines")
        truth = answer_letter(solution, options)
    else:
        options = []
    if task == "grounding":
        boxes = parse_boxes(solution)
        if boxes is None:
            raise SkipRecord("bad answer", f"grounding solution {solution[:80]!r} is not a box list")
        if any(b[2] < b[0] or b[3] < b[1] for b in boxes):
            raise SkipRecord("bad box", f"a box has x2 < x1 or y2 < y1: {boxes}")
        resized = [img for img, _ in loaded if img.resized]
        if resized:
            if len(loaded) != 1:
                raise SkipRecord("bad box", "cannot rescale boxes for a row with several images")
            img = loaded[0][0]
            boxes = [
                [
                    round(b[0] * img.scale_x),
                    round(b[1] * img.scale_y),
                    round(b[2] * img.scale_x),
                    round(b[3] * img.scale_y),
                ]
                for b in boxes
            ]
        truth = json.dumps(boxes)
    if task == "counting" and not re.fullmatch(r"-?\d+", solution):
        raise SkipRecord("bad answer", f"counting solution {solution!r} is not an integer")

    sid = str(record["id"]).strip() if record.get("id") not in (None, "") else f"line{line_no}"
    extra = {k: v for k, v in record.items() if k not in ("images", "messages", "solution", "id", "task", "options")}
    meta = {
        "source_id": sid,
        "source_file": source_file.name,
        "line": line_no,
        "images": [name for _, name in loaded],
        "image_sizes": [img.meta() for img, _ in loaded],
        "task_from": task_from,
        "placeholders_added": added,
        "sft_response": sft_response,
        "solution_raw": record.get("solution"),
    }
    if extra:
        meta["record_fields"] = extra
    row = make_row(
        data_source=data_source,
        sample_id=sid,
        task=task,
        question=question,
        user_content=user_text,
        images=[img.entry for img, _ in loaded],
        ground_truth=truth,
        ability=ABILITY[task],
        split=split,
        options=options,
        meta=meta,
        system_prompt=None,
    )
    row["prompt"] = msgs
    return row


def convert(
    input_path: str | Path,
    *,
    report: ConversionReport,
    split: str | None = None,
    limit: int | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    max_pixels: int | None = None,
    task: str = "auto",
    data_source: str | None = None,
    images_dir: str | Path | None = None,
) -> list[dict]:
    """Convert one ms-swift jsonl file."""
    path = Path(input_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected an ms-swift .jsonl file")
    if task not in TASK_CHOICES:
        raise ValueError(f"task must be one of {TASK_CHOICES}, got {task!r}")
    base_dir = Path(images_dir) if images_dir else path.parent
    source = data_source or path.stem
    built = []
    for line_no, record, error in iter_jsonl(path):
        if limit_reached(report, limit):
            break
        report.read += 1
        if error:
            report.skip(path, line_no, f"malformed record: {error}")
            continue
        try:
            row = build_row(
                record,
                line_no=line_no,
                source_file=path,
                base_dir=base_dir,
                data_source=source,
                task_flag=task,
                split=split or "train",
                system_prompt=system_prompt,
                max_pixels=max_pixels,
            )
        except SkipRecord as e:
            report.skip(path, line_no, str(e))
            continue
        built.append((path, line_no, row))
    return check_and_collect(built, report)


def _add_arguments(p) -> None:
    p.add_argument("--task", choices=TASK_CHOICES, default="auto", help="task of every row (default: auto)")
    p.add_argument("--data-source", default=None, help="data_source column and id prefix (default: file stem)")
    p.add_argument("--images-dir", default=None, help="folder relative image paths resolve against")


SPEC = ConverterSpec(
    name="swift_jsonl",
    data_source="<file stem>",
    summary="ms-swift GRPO jsonl (images, messages, solution) -> verl parquet.",
    convert=convert,
    add_arguments=_add_arguments,
    option_names=("task", "data_source", "images_dir"),
    example="example:\n  swift_jsonl --input train.jsonl --out data/train.parquet --task auto --data-source vpt",
)
