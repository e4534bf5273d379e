"""What every converter shares: the registry entry, image preparation, prompt wording, JSON-lines reading, the CLI.

A converter is a module with a ``SPEC`` (:class:`ConverterSpec`) whose ``convert`` function turns one source
(a file or a folder) into validated rows of the schema in :mod:`verl_difficulty.data.schema`::

    rows = spec.convert(input_path, report=report, split=None, limit=None,
                        system_prompt=DEFAULT_SYSTEM_PROMPT, max_pixels=None, **source_options)

Every source record it cannot convert is reported with :meth:`ConversionReport.skip` (file, row, reason);
reasons read ``"<category>: <details>"`` with the categories in :data:`SKIP_CATEGORIES`, so the summary counts
them per category. :func:`run_cli` is the uniform command line of ``examples/data_preprocess/*.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_difficulty.data.convert import ConversionReport, write_parquet
from verl_difficulty.data.images import (
    ImageLoadError,
    downscale_to_max_pixels,
    encode_image,
    image_entry,
    open_image,
    read_image_bytes,
)
from verl_difficulty.data.schema import DEFAULT_SYSTEM_PROMPT

LETTERS = string.ascii_uppercase

#: Skip categories (the text before the first ``:`` of a skip reason).
SKIP_CATEGORIES = (
    "malformed record",  # unparsable line, missing or mistyped field
    "missing image",  # image file absent
    "corrupt image",  # truncated / undecodable image data
    "oversized image",  # over the byte or pixel limit (decompression bombs included)
    "unsupported image",  # e.g. a remote URL: converters never download
    "missing question",
    "missing answer",  # no or empty answer
    "bad answer",  # e.g. a choice letter outside the options
    "missing options",  # a multiple-choice record without options
    "placeholder mismatch",  # number of <image> placeholders != number of images
    "bad box",  # a grounding box outside the image or empty
    "invalid row",  # the built row failed validate_row, or its id is a duplicate
)

_IMAGE_ERROR_CATEGORY = {
    "missing": "missing image",
    "corrupt": "corrupt image",
    "too_large": "oversized image",
    "unsupported": "unsupported image",
}

#: One line appended to a converter's prompt telling the model the answer format. It matches the
#: ``<answer> </answer>`` format of :data:`DEFAULT_SYSTEM_PROMPT`, and keeps rows usable without a system prompt.
INSTRUCTIONS = {
    "math": "Put only the final answer inside <answer> </answer>.",
    "choice": "Put only the letter of the correct option inside <answer> </answer>.",
    "ocr": "Put only the text, exactly as it is written, inside <answer> </answer>.",
    "counting": "Put only the number inside <answer> </answer>.",
    "grounding": (
        "Put the boxes inside <answer> </answer> as a JSON list [[x1, y1, x2, y2], ...] "
        "in pixel coordinates of the image."
    ),
}

#: ``ability`` column per task (informational in verl; rewards dispatch on ``extra_info.task``).
ABILITY = {"math": "math", "choice": "math", "ocr": "perception", "counting": "perception", "grounding": "perception"}


class SkipRecord(Exception):
    """Raised while building a row: the record is skipped with this reason (``"<category>: <details>"``)."""

    def __init__(self, category: str, detail: str = ""):
        assert category in SKIP_CATEGORIES, category
        super().__init__(f"{category}: {detail}" if detail else category)
        self.category = category


def image_skip(err: ImageLoadError) -> SkipRecord:
    """The :class:`SkipRecord` for an image that failed to load (category from ``err.kind``)."""
    return SkipRecord(_IMAGE_ERROR_CATEGORY.get(getattr(err, "kind", "corrupt"), "corrupt image"), str(err))


@dataclass
class PreparedImage:
    """An image ready for a row: its entry (``{"bytes", "path"}``), stored size, and the resize applied."""

    entry: dict
    width: int
    height: int
    orig_width: int
    orig_height: int

    @property
    def scale_x(self) -> float:
        return self.width / self.orig_width

    @property
    def scale_y(self) -> float:
        return self.height / self.orig_height

    @property
    def resized(self) -> bool:
        return (self.width, self.height) != (self.orig_width, self.orig_height)

    def meta(self) -> dict:
        """What goes into ``extra_info.meta`` about this image."""
        out: dict[str, Any] = {"width": self.width, "height": self.height}
        if self.resized:
            out.update(orig_width=self.orig_width, orig_height=self.orig_height)
        return out


def prepare_image(
    src: str | os.PathLike | bytes, *, name: str | None = None, max_pixels: int | None = None
) -> PreparedImage:
    """Read and fully decode an image (a path or encoded bytes); optionally downscale it to ``max_pixels``.

    The original bytes are kept untouched unless the image has more than ``max_pixels`` pixels; then it is
    resized with Lanczos and re-encoded (JPEG sources as JPEG quality 95, everything else as PNG, alpha kept).
    Raises :class:`ImageLoadError` for a missing, truncated, corrupt or oversized image.
    """
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
        where = name or f"<{len(data)} bytes>"
    else:
        data = read_image_bytes(src)
        where = os.fspath(src)
    label = name or (Path(where).name if not isinstance(src, (bytes, bytearray)) else None)
    img = open_image({"bytes": data, "path": where})  # full decode; errors name ``where``
    w, h = img.size
    if max_pixels is not None and w * h > max_pixels:
        fmt = "JPEG" if (img.format or "").upper() == "JPEG" else "PNG"
        small = downscale_to_max_pixels(img, max_pixels)
        data = encode_image(small, fmt)
        nw, nh = small.size
    else:
        nw, nh = w, h
    return PreparedImage(image_entry(data, label), nw, nh, w, h)


def load_image_or_skip(src, *, name: str | None = None, max_pixels: int | None = None) -> PreparedImage:
    """:func:`prepare_image`, turning an :class:`ImageLoadError` into the matching :class:`SkipRecord`."""
    try:
        return prepare_image(src, name=name, max_pixels=max_pixels)
    except ImageLoadError as e:
        raise image_skip(e) from e


def format_options(options: list[str]) -> str:
    """``"A. first\\nB. second ..."``: options listed one per line with their letters."""
    return "\n".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options))


_LABEL_RE = re.compile(r"^\(?\s*([A-Z])\s*[\).:]?$")


def options_are_letter_labels(options: list[str]) -> bool:
    """True when every option is only its own letter (``A``, ``(B)``, ``C)``): the choices are drawn in the image."""
    for i, opt in enumerate(options):
        m = _LABEL_RE.match(str(opt).strip())
        if not m or m.group(1) != LETTERS[i]:
            return False
    return bool(options)


def answer_letter(answer: str, options: list[str]) -> str:
    """Normalise a multiple-choice answer to its letter; raise :class:`SkipRecord` when it names no option.

    Accepts ``"B"``, ``"(B)"``, ``"B."`` or the exact text of an option.
    """
    if len(options) > len(LETTERS):
        raise SkipRecord("malformed record", f"{len(options)} options: more than {len(LETTERS)} letters")
    a = answer.strip()
    m = _LABEL_RE.match(a)
    if m:
        letter = m.group(1)
        if LETTERS.index(letter) < len(options):
            return letter
        raise SkipRecord("bad answer", f"answer {answer!r} is outside the {len(options)} options")
    matches = [i for i, opt in enumerate(options) if str(opt).strip() == a]
    if len(matches) == 1:
        return LETTERS[matches[0]]
    raise SkipRecord("bad answer", f"answer {answer!r} is neither an option letter nor an option's text")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield ``(line_number, record, error)`` for each non-blank line (1-based numbers; ``error`` when unparsable).

    A UTF-8 BOM is accepted. A line that is not a JSON object yields ``record=None`` and the parse error.
    """
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as e:
                yield line_no, None, f"invalid JSON ({e})"
                continue
            if not isinstance(value, dict):
                yield line_no, None, f"expected a JSON object, got {type(value).__name__}"
                continue
            yield line_no, value, None


def require_str(record: dict, key: str, category: str = "malformed record") -> str:
    """``record[key]`` as a non-empty stripped string, else :class:`SkipRecord` (``category``)."""
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SkipRecord(category, f"no {key!r}")
    if isinstance(value, (dict, list)):
        raise SkipRecord("malformed record", f"{key!r} must be a string, got {type(value).__name__}")
    return str(value).strip()


def limit_reached(report: ConversionReport, limit: int | None) -> bool:
    """True once ``limit`` source records have been read (``None``: no limit)."""
    return limit is not None and report.read >= limit


# --------------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ConverterSpec:
    """A registered converter: its name, what it reads, its ``convert`` function and its extra CLI options."""

    name: str
    data_source: str
    summary: str
    convert: Callable[..., list[dict]]
    #: Adds the converter's own options to the CLI parser; their ``dest`` names are ``convert`` keywords.
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    option_names: tuple[str, ...] = field(default=())
    example: str = ""


def convert_to_parquet(
    spec: ConverterSpec,
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    quiet: bool = False,
    **kwargs: Any,
) -> ConversionReport:
    """Run ``spec.convert`` on ``input_path``, write ``out`` (+ ``<out>.skipped.jsonl``) and return the report."""
    report = ConversionReport(spec.name, quiet=quiet)
    rows = spec.convert(input_path, report=report, **kwargs)
    write_parquet(rows, out, report)
    return report


def build_parser(spec: ConverterSpec, prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog or spec.name,
        description=spec.summary,
        epilog=spec.example or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, help="source file or folder")
    p.add_argument("--out", required=True, help="output parquet file")
    p.add_argument("--split", default=None, help="extra_info.split (default: the source's own split)")
    p.add_argument("--limit", type=int, default=None, help="convert only the first N source records")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any record was skipped")
    p.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, help="system message (default: R1-style)")
    p.add_argument("--no-system-prompt", action="store_true", help="write rows without a system message")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="downscale images above N pixels (Lanczos) and re-encode them; boxes are scaled alike "
        "(default: keep the original bytes)",
    )
    p.add_argument("--quiet", action="store_true", help="do not print each skipped record (summary only)")
    if spec.add_arguments is not None:
        spec.add_arguments(p)
    return p


def run_cli(spec: ConverterSpec, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv``, convert, write, print the summary; return the exit status (1: ``--strict`` and skips)."""
    args = build_parser(spec, prog).parse_args(argv)
    if args.limit is not None and args.limit < 0:
        print(f"{spec.name}: --limit must be >= 0", file=sys.stderr)
        return 2
    if args.max_pixels is not None and args.max_pixels <= 0:
        print(f"{spec.name}: --max-pixels must be positive", file=sys.stderr)
        return 2
    if not Path(args.input).exists():
        print(f"{spec.name}: input not found: {args.input}", file=sys.stderr)
        return 2
    options = {k: getattr(args, k) for k in spec.option_names}
    try:
        report = convert_to_parquet(
            spec,
            args.input,
            args.out,
            quiet=args.quiet,
            split=args.split,
            limit=args.limit,
            system_prompt=None if args.no_system_prompt else args.system_prompt,
            max_pixels=args.max_pixels,
            **options,
        )
    except (FileNotFoundError, NotADirectoryError, ValueError) as e:
        print(f"{spec.name}: {e}", file=sys.stderr)
        return 2
    print(f"[{spec.name}] wrote {report.written} rows to {args.out}")
    if report.skipped:
        print(f"[{spec.name}] skipped records listed in {args.out}.skipped.jsonl")
    return report.finish(strict=args.strict)
