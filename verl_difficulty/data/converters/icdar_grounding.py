"""ICDAR 2015 word annotations (``imgs/img_N.jpg`` + ``gt/gt_img_N.txt``) to verl text-grounding rows.

Each ``gt_img_N.txt`` line is ``x1,y1,x2,y2,x3,y3,x4,y4,transcript`` (a quadrilateral, clockwise; the
transcript may itself contain commas; files may start with a UTF-8 BOM); ``###`` marks an illegible word.

One task ``grounding`` row per distinct legible word per image: "Where is the text 'X' in the image? ...",
ground truth the JSON list of the axis-aligned bounds ``[x1, y1, x2, y2]`` of *every* quadrilateral of that
word (integers, pixels of the stored image, clipped to ``[0, W-1] x [0, H-1]``), in annotation order. A word
written twice (image 3: "fusionopolis") is one row with two boxes.

Choices (settings):
- Words are grouped case-insensitively by default ("EXIT" and "Exit" are one query whose truth lists both
  boxes; the question quotes the first spelling); ``--case-sensitive`` groups by exact text.
- ``--min-chars N`` (default 3): words shorter than N characters are not asked about (one- and two-letter
  queries are ambiguous); their boxes are counted in the summary notes, not skipped.
- Illegible ``###`` boxes are never asked about and do not enter any ground truth: a grounding question names
  a readable text, so an unreadable region is not an instance of it. Their count is in ``meta``.
- ``--counting`` adds one task ``counting`` row per word: "How many times does the text 'X' appear in the
  image?", truth the number of its boxes (index ``.../count``). Off by default: with this data most answers
  are 1.
- With ``--max-pixels`` the boxes are scaled by the image's resize factors.

``extra_info.index`` = ``icdar2015/<image stem>/<url-quoted word>``. Images with no askable word (only
illegible or short words) or without an annotation file produce no row and are counted in the notes.
Skipped (file + line named): malformed lines, a box that is empty after clipping (the whole word is skipped,
since its truth would be incomplete), a missing/corrupt image, an annotation file that cannot be read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from verl_difficulty.data.convert import ConversionReport, check_and_collect
from verl_difficulty.data.converters.common import (
    ABILITY,
    INSTRUCTIONS,
    ConverterSpec,
    SkipRecord,
    limit_reached,
    load_image_or_skip,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT, IMAGE_PLACEHOLDER, make_row

DATA_SOURCE = "icdar2015"
ILLEGIBLE = "###"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def parse_gt_line(line: str) -> tuple[list[float], str]:
    """``"x1,y1,...,x4,y4,text"`` -> (8 coordinates, text). Raises ``ValueError`` when malformed."""
    parts = line.split(",", 8)
    if len(parts) != 9:
        raise ValueError(f"expected 8 coordinates and a transcript, found {len(parts)} fields")
    coords = [float(v) for v in parts[:8]]
    return coords, parts[8].strip()


def quad_to_box(coords: list[float], width: int, height: int) -> list[int] | None:
    """Axis-aligned bounds of a quadrilateral, rounded and clipped to the image; ``None`` when empty after clipping."""
    xs, ys = coords[0::2], coords[1::2]
    x1 = min(max(round(min(xs)), 0), width - 1)
    x2 = min(max(round(max(xs)), 0), width - 1)
    y1 = min(max(round(min(ys)), 0), height - 1)
    y2 = min(max(round(max(ys)), 0), height - 1)
    if x2 <= x1 or y2 <= y1:
        return None
    return [x1, y1, x2, y2]


def scale_box(box: list[int], sx: float, sy: float, width: int, height: int) -> list[int]:
    """Scale a pixel box by ``(sx, sy)`` into an image of ``width x height`` (rounded, clipped)."""
    x1, y1, x2, y2 = box
    return [
        min(max(round(x1 * sx), 0), width - 1),
        min(max(round(y1 * sy), 0), height - 1),
        min(max(round(x2 * sx), 0), width - 1),
        min(max(round(y2 * sy), 0), height - 1),
    ]


def _quote_text(text: str) -> str:
    return f'"{text}"' if "'" in text else f"'{text}'"


def find_pairs(input_path: str | Path, images_dir=None, gt_dir=None) -> list[tuple[Path, Path]]:
    """``(gt file, image file)`` pairs: ``gt/gt_<stem>.txt`` <-> ``imgs/<stem>.<ext>`` (natural order)."""
    root = Path(input_path)
    gt_root = Path(gt_dir) if gt_dir else root / "gt"
    img_root = Path(images_dir) if images_dir else root / "imgs"
    if not gt_root.is_dir():
        raise NotADirectoryError(f"{gt_root}: no annotation folder (expected <input>/gt/gt_<image>.txt)")
    pairs = []
    for gt in sorted(gt_root.glob("gt_*.txt"), key=_natural_key):
        stem = gt.stem[3:]
        image = next((img_root / f"{stem}{s}" for s in IMAGE_SUFFIXES if (img_root / f"{stem}{s}").exists()), None)
        pairs.append((gt, image if image is not None else img_root / f"{stem}.jpg"))
    if not pairs:
        raise FileNotFoundError(f"{gt_root}: no gt_*.txt files")
    return pairs


def convert_image(
    gt_file: Path,
    image_file: Path,
    *,
    report: ConversionReport,
    split: str,
    system_prompt: str | None,
    max_pixels: int | None,
    min_chars: int,
    case_sensitive: bool,
    counting: bool,
) -> list[tuple[Path, object, dict]]:
    """Rows for one annotated image, as ``(file, row, row_dict)`` triples for :func:`check_and_collect`."""
    try:
        lines = gt_file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        report.skip(gt_file, None, f"malformed record: cannot read annotation ({e})")
        return []
    try:
        image = load_image_or_skip(image_file, name=f"imgs/{image_file.name}", max_pixels=max_pixels)
    except SkipRecord as e:
        report.skip(gt_file, None, f"{e} (image of {gt_file.name})")
        return []
    W, H = image.orig_width, image.orig_height

    words: dict[str, dict] = {}  # group key -> {"text", "spellings", "boxes", "quads", "lines", "bad"}
    n_illegible = 0
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            coords, text = parse_gt_line(line)
        except ValueError as e:
            report.skip(gt_file, line_no, f"malformed record: {e}")
            continue
        if text == ILLEGIBLE:
            n_illegible += 1
            continue
        if not text:
            report.skip(gt_file, line_no, "missing answer: empty transcript (use ### for illegible words)")
            continue
        if len(text) < min_chars:
            report.note(f"words shorter than --min-chars {min_chars}")
            continue
        key = text if case_sensitive else text.casefold()
        w = words.setdefault(key, {"text": text, "spellings": [], "boxes": [], "quads": [], "lines": [], "bad": []})
        if text not in w["spellings"]:
            w["spellings"].append(text)
        box = quad_to_box(coords, W, H)
        w["quads"].append([round(c) if float(c).is_integer() else c for c in coords])
        w["lines"].append(line_no)
        if box is None:
            w["bad"].append(line_no)
        else:
            w["boxes"].append(box)
    report.note("illegible boxes (###)", n_illegible)
    if not words:
        report.note("images without an askable word")
        return []

    out = []
    for key, w in words.items():
        first_line = w["lines"][0]
        if w["bad"]:
            report.skip(
                gt_file,
                w["bad"][0],
                f"bad box: a box of {w['text']!r} is empty inside the {W}x{H} image (word skipped: its truth "
                "would be incomplete)",
            )
            continue
        boxes = w["boxes"]
        if image.resized:
            boxes = [scale_box(b, image.scale_x, image.scale_y, image.width, image.height) for b in boxes]
        stem = image_file.stem
        meta = {
            "source_id": f"{stem}/{w['text']}",
            "image_file": f"imgs/{image_file.name}",
            "annotation_file": gt_file.name,
            "annotation_lines": w["lines"],
            "quads": w["quads"],
            "spellings": w["spellings"],
            "case_sensitive": case_sensitive,
            "illegible_boxes_in_image": n_illegible,
            **image.meta(),
        }
        q = _quote_text(w["text"])
        question = f"Where is the text {q} in the image?"
        user = (
            f"{IMAGE_PLACEHOLDER}\n{question} Output the bounding box of every occurrence as [x1, y1, x2, y2].\n"
            f"{INSTRUCTIONS['grounding']}"
        )
        sid = f"{stem}/{quote(key, safe='')}"
        row = make_row(
            data_source=DATA_SOURCE,
            sample_id=sid,
            task="grounding",
            question=question,
            user_content=user,
            images=[image.entry],
            ground_truth=json.dumps(boxes),
            ability=ABILITY["grounding"],
            split=split,
            meta=meta,
            system_prompt=system_prompt,
        )
        out.append((gt_file, first_line, row))
        if counting:
            cq = f"How many times does the text {q} appear in the image?"
            out.append(
                (
                    gt_file,
                    first_line,
                    make_row(
                        data_source=DATA_SOURCE,
                        sample_id=f"{sid}/count",
                        task="counting",
                        question=cq,
                        user_content=f"{IMAGE_PLACEHOLDER}\n{cq}\n{INSTRUCTIONS['counting']}",
                        images=[image.entry],
                        ground_truth=str(len(boxes)),
                        ability=ABILITY["counting"],
                        split=split,
                        meta={**meta, "boxes": boxes},
                        system_prompt=system_prompt,
                    ),
                )
            )
    return out


def convert(
    input_path: str | Path,
    *,
    report: ConversionReport,
    split: str | None = None,
    limit: int | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    max_pixels: int | None = None,
    min_chars: int = 3,
    case_sensitive: bool = False,
    counting: bool = False,
    images_dir: str | Path | None = None,
    gt_dir: str | Path | None = None,
) -> list[dict]:
    """Convert an ICDAR 2015-style folder (``imgs/`` + ``gt/``); ``limit`` counts annotated images."""
    if min_chars < 1:
        raise ValueError(f"min_chars must be >= 1, got {min_chars}")
    built = []
    pairs = find_pairs(input_path, images_dir, gt_dir)
    img_root = Path(images_dir) if images_dir else Path(input_path) / "imgs"
    paired = {img.name for _, img in pairs}
    unannotated = [p for p in img_root.glob("*") if p.suffix in IMAGE_SUFFIXES and p.name not in paired]
    report.note("images without an annotation file", len(unannotated))
    for gt_file, image_file in pairs:
        if limit_reached(report, limit):
            break
        report.read += 1
        built.extend(
            convert_image(
                gt_file,
                image_file,
                report=report,
                split=split or "train",
                system_prompt=system_prompt,
                max_pixels=max_pixels,
                min_chars=min_chars,
                case_sensitive=case_sensitive,
                counting=counting,
            )
        )
    return check_and_collect(built, report)


def _add_arguments(p) -> None:
    p.add_argument("--min-chars", type=int, default=3, help="ask only about words of at least N characters")
    p.add_argument("--case-sensitive", action="store_true", help="group words by exact text (default: casefold)")
    p.add_argument("--counting", action="store_true", help="also write 'how many times does X appear' rows")
    p.add_argument("--images-dir", default=None, help="image folder (default: <input>/imgs)")
    p.add_argument("--gt-dir", default=None, help="annotation folder (default: <input>/gt)")


SPEC = ConverterSpec(
    name="icdar_grounding",
    data_source=DATA_SOURCE,
    summary="ICDAR 2015 word quadrilaterals -> verl parquet (task 'grounding': where is the text 'X').",
    convert=convert,
    add_arguments=_add_arguments,
    option_names=("min_chars", "case_sensitive", "counting", "images_dir", "gt_dir"),
    example="example:\n  icdar_grounding --input ../shared/data/ocr_mmocr/icdar2015_toy --out icdar.parquet",
)
