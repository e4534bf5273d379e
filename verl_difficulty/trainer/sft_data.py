"""Turn verl RL rows (scored or not) into the ``messages`` + ``images`` parquet verl's SFT trainer reads.

The SFT stage of the paper's SFT→GRPO baselines trains on one difficulty tier before GRPO trains on another.
Its targets differ by metric (see ``PAPERS.md``):

- ``answer`` (PISM, the default for ``pism`` and ``passrate``): the assistant turn is the bare reference answer
  (``reward_model.ground_truth``: ``"D"``, ``"4.8"``, a grounding box list); ``--answer-format tagged`` wraps it
  as ``<answer>…</answer>`` instead;
- ``chain`` (CMAB, the default for ``cmab``): the assistant turn is a reasoning chain that solved the problem.
  The chain is taken from the row's column ``--chain-key`` or from ``difficulty.<metric>.details[<key>]`` (the
  scorer's record), trying :data:`CHAIN_KEYS` in order when no key is given, and is re-checked with the package's
  verifier (a chain whose answer does not verify is skipped, never trained on).

Output (one row per kept input row; verl 0.9.1 ``MultiTurnSFTDataset`` layout)::

    messages    [{role, content}, ...]  the row's prompt (system turn per --system-prompt) + the assistant target;
                                        "<image>" placeholders stay where they were
    images      [{bytes, path, max_pixels}, ...]  the row's images, unchanged, with the pixel cap verl's SFT dataset
                                        applies (``--max-pixels``, default the paper's 1,254,400; 0: none)
    data_source, ability, extra_info     passed through for traceability (verl's SFT dataset ignores them)

System prompt: ``auto`` (default) drops it for ``answer`` targets (the R1 prompt asks for ``<think>`` /
``<answer>`` tags a bare answer does not have) and keeps it for ``chain`` targets (chains were sampled with it);
``keep`` / ``drop`` force either.

Rows can be selected by tier here (``--metric M --keep mid``) or beforehand with ``verl-difficulty split``
(e.g. its ``--random-matched`` subset). Every skipped row is counted by reason and listed in
``OUT.skipped.jsonl``; nothing is dropped silently. Command line::

    verl-difficulty sft-data runs/pism/scored.parquet --metric pism --keep mid --out sft_mid.parquet
    verl-difficulty sft-data runs/cmab/scored.parquet --metric cmab --keep mid --target chain --out sft.parquet
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_difficulty.difficulty import COLUMN
from verl_difficulty.tiers import METRICS, TIERS

TARGETS = ("answer", "chain")
SYSTEM_PROMPT_MODES = ("auto", "keep", "drop")
ANSWER_FORMATS = ("bare", "tagged")
#: where a solved reasoning chain is looked for, in order, when ``chain_key`` is not given
CHAIN_KEYS = ("solved_response", "solution", "response", "chain")
#: the target each metric's SFT stage uses in the paper
DEFAULT_TARGET = {"pism": "answer", "cmab": "chain", "passrate": "answer"}

__all__ = [
    "ANSWER_FORMATS",
    "CHAIN_KEYS",
    "DEFAULT_TARGET",
    "SYSTEM_PROMPT_MODES",
    "TARGETS",
    "SFTDataError",
    "SFTReport",
    "convert_to_sft",
    "main",
    "sft_arrow_schema",
    "sft_row",
]


class SFTDataError(ValueError):
    """The input or a setting is unusable; the message names the file or the setting."""


class _SkipRow(Exception):
    """This row cannot become an SFT example; the message is the reason (counted and listed)."""


@dataclass
class SFTReport:
    """What :func:`convert_to_sft` read, wrote and skipped (with reasons)."""

    read: int = 0
    selected: int = 0
    written: int = 0
    skipped: list[dict] = field(default_factory=list)

    def reasons(self) -> dict[str, int]:
        return dict(Counter(s["reason"].split(":")[0] for s in self.skipped))

    def summary(self) -> str:
        line = f"[sft-data] read {self.read}, selected {self.selected}, wrote {self.written}"
        if self.skipped:
            line += f", skipped {len(self.skipped)} (" + ", ".join(f"{k}: {v}" for k, v in self.reasons().items()) + ")"
        return line

    def to_dict(self) -> dict:
        return {
            "read": self.read,
            "selected": self.selected,
            "written": self.written,
            "skipped": len(self.skipped),
            "reasons": self.reasons(),
        }


def sft_arrow_schema(with_max_pixels: bool = False):
    """The output parquet schema (messages + images + pass-through columns).

    With ``with_max_pixels`` every image carries ``max_pixels``: verl's SFT dataset hands the image dict to
    ``qwen_vl_utils.fetch_image``, which resizes the image to at most that many pixels (verl 0.9.1's SFT
    trainer has no processor-kwargs setting, so this is how the paper's 1,254,400-pixel cap reaches it).
    """
    import pyarrow as pa

    image_fields = [("bytes", pa.binary()), ("path", pa.string())]
    if with_max_pixels:
        image_fields.append(("max_pixels", pa.int64()))
    return pa.schema(
        [
            ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(pa.struct(image_fields))),
            ("data_source", pa.string()),
            ("ability", pa.string()),
            ("extra_info", pa.string()),
        ]
    )


def _check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise SFTDataError(f"{name}: expected one of {allowed}, got {value!r}")
    return value


def _details(row: Mapping[str, Any], metric: str | None) -> dict:
    value = row.get(COLUMN)
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, Mapping):
        return {}
    metrics = [metric] if metric else list(METRICS)
    for m in metrics:
        rec = value.get(m)
        if isinstance(rec, Mapping):
            raw = rec.get("details")
            if isinstance(raw, str) and raw:
                try:
                    d = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(d, dict):
                    return d
            elif isinstance(raw, Mapping):
                return dict(raw)
    return {}


def _find_chain(row: Mapping[str, Any], metric: str | None, chain_key: str | None) -> str:
    keys = (chain_key,) if chain_key else CHAIN_KEYS
    details = _details(row, metric)
    for key in keys:
        for source in (row, details):
            value = source.get(key) if isinstance(source, Mapping) else None
            if isinstance(value, str) and value.strip():
                return value
    where = f"column or difficulty.{metric or '<metric>'}.details"
    raise _SkipRow(f"no solved chain: none of {list(keys)} in the row's {where}")


def _images(row: Mapping[str, Any]) -> list[dict]:
    out = []
    for i, img in enumerate(list(row.get("images") or [])):
        if isinstance(img, Mapping) and img.get("bytes") is not None:
            out.append({"bytes": bytes(img["bytes"]), "path": img.get("path")})
        elif isinstance(img, Mapping) and img.get("path"):
            out.append({"bytes": Path(img["path"]).read_bytes(), "path": str(img["path"])})
        elif isinstance(img, (str, os.PathLike)):
            out.append({"bytes": Path(img).read_bytes(), "path": str(img)})
        else:
            raise _SkipRow(f"images[{i}]: unsupported image value of type {type(img).__name__}")
    return out


def sft_row(
    row: Mapping[str, Any],
    *,
    target: str = "answer",
    system_prompt: str = "auto",
    answer_format: str = "bare",
    metric: str | None = None,
    chain_key: str | None = None,
    verify: bool = True,
    verify_settings=None,
    max_pixels: int | None = None,
) -> dict:
    """One SFT example from one verl RL row (raises ``_SkipRow`` with the reason when it cannot be built)."""
    from verl_difficulty.data.schema import count_placeholders

    prompt = [dict(m) for m in (row.get("prompt") or [])]
    if not prompt:
        raise _SkipRow("no prompt messages")
    rm = row.get("reward_model")
    gt = rm.get("ground_truth") if isinstance(rm, Mapping) else None
    if gt is None or str(gt).strip() == "":
        raise _SkipRow("no reward_model.ground_truth")
    images = _images(row)
    if max_pixels is not None:
        images = [{**img, "max_pixels": int(max_pixels)} for img in images]
    if count_placeholders(prompt) != len(images):
        raise _SkipRow(f"placeholders: prompt has {count_placeholders(prompt)} '<image>' but {len(images)} image(s)")

    if target == "answer":
        content = str(gt) if answer_format == "bare" else f"<answer>{gt}</answer>"
    else:
        content = _find_chain(row, metric, chain_key)
        if verify:
            from verl_difficulty.verify.score import score_with
            from verl_difficulty.verify.settings import VerifySettings

            info = dict(row.get("extra_info") or {})
            if "ability" in row and "ability" not in info:
                info["ability"] = row["ability"]
            verdict = score_with(verify_settings or VerifySettings(), row.get("data_source", ""), content, gt, info)
            if verdict.get("acc", 0.0) < 1.0:
                raise _SkipRow("chain does not verify: its answer is judged wrong")

    keep_system = system_prompt == "keep" or (system_prompt == "auto" and target == "chain")
    messages = [
        {"role": str(m["role"]), "content": str(m.get("content") or "")}
        for m in prompt
        if keep_system or m.get("role") != "system"
    ]
    messages.append({"role": "assistant", "content": content})
    info = row.get("extra_info")
    return {
        "messages": messages,
        "images": images,
        "data_source": str(row.get("data_source") or ""),
        "ability": str(row.get("ability") or ""),
        "extra_info": json.dumps(info if isinstance(info, Mapping) else {}, sort_keys=True, default=str),
    }


def _iter_rows(path: Path, columns: list[str], selected) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    offset = 0
    for batch in pf.iter_batches(batch_size=256, columns=columns):
        for j, row in enumerate(batch.to_pylist()):
            i = offset + j
            if selected is None or selected[i]:
                yield i, row
        offset += batch.num_rows


def convert_to_sft(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    metric: str | None = None,
    keep: list[str] | None = None,
    target: str | None = None,
    system_prompt: str = "auto",
    answer_format: str = "bare",
    chain_key: str | None = None,
    verify: bool = True,
    verify_settings=None,
    max_pixels: int | None = 1254400,
    limit: int | None = None,
) -> SFTReport:
    """Write the SFT parquet ``out`` from the RL parquet ``src`` (a file or a run folder with ``scored.parquet``).

    Args:
        src: verl RL parquet, scored (has a ``difficulty`` column) or not.
        out: output parquet (written atomically); skipped rows go to ``out + ".skipped.jsonl"``.
        metric: whose tiers ``keep`` refers to and whose details hold chains (required with ``keep``).
        keep: tiers to keep (None: every row).
        target: ``answer`` or ``chain`` (None: the metric's paper default, else ``answer``).
        system_prompt: ``auto``, ``keep`` or ``drop`` (see the module docstring).
        answer_format: ``bare`` or ``tagged`` (``answer`` targets).
        chain_key: where the chain is (a column or a details key); None tries :data:`CHAIN_KEYS`.
        verify: re-check chains with the verifier and skip those judged wrong.
        verify_settings: :class:`~verl_difficulty.verify.settings.VerifySettings` for that check.
        max_pixels: stored with every image: verl's SFT dataset resizes images to at most this many pixels
            (default: the paper's 1,254,400; None: no cap beyond the processor's own).
        limit: convert only the first ``limit`` selected rows.

    Raises:
        SFTDataError: a missing / unreadable input, a bad setting, or no row could be converted.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_difficulty.utils import atomic_write_bytes, atomic_write_text

    if metric is not None:
        _check_choice("metric", metric, METRICS)
    target = target or DEFAULT_TARGET.get(metric or "", "answer")
    _check_choice("target", target, TARGETS)
    _check_choice("system_prompt", system_prompt, SYSTEM_PROMPT_MODES)
    _check_choice("answer_format", answer_format, ANSWER_FORMATS)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 784):
        raise SFTDataError(f"max_pixels: expected a whole number of pixels >= 784 (28 x 28), got {max_pixels!r}")
    path = Path(src)
    if path.is_dir():
        path = path / "scored.parquet"
    if not path.is_file():
        raise SFTDataError(f"{path}: input parquet not found")
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as e:
        raise SFTDataError(f"{path}: not a readable parquet file ({e})") from e
    for col in ("prompt", "reward_model"):
        if col not in names:
            raise SFTDataError(f"{path}: no '{col}' column; expected verl's RL parquet (docs/data.md)")

    selected = None
    if keep is not None:
        if metric is None:
            raise SFTDataError("keep: selecting tiers needs metric (pism, cmab or passrate)")
        bad = [t for t in keep if t not in TIERS]
        if bad or not keep:
            raise SFTDataError(f"keep: unknown or no tier(s) {bad or keep}; expected some of {list(TIERS)}")
        if COLUMN not in names:
            raise SFTDataError(f"{path}: no '{COLUMN}' column; score it first (verl-difficulty score)")
        from verl_difficulty.difficulty import read_tiers

        tiers = read_tiers(path, metric)
        selected = np.array([t in keep for t in tiers], dtype=bool)

    report = SFTReport(read=pq.ParquetFile(path).metadata.num_rows)
    columns = [
        c for c in ("prompt", "images", "reward_model", "data_source", "ability", "extra_info", COLUMN) if c in names
    ]
    if chain_key and chain_key in names and chain_key not in columns:
        columns.append(chain_key)
    rows: list[dict] = []
    for i, row in _iter_rows(path, columns, selected):
        if limit is not None and report.selected >= limit:
            break
        report.selected += 1
        try:
            rows.append(
                sft_row(
                    row,
                    target=target,
                    system_prompt=system_prompt,
                    answer_format=answer_format,
                    metric=metric,
                    chain_key=chain_key,
                    verify=verify,
                    verify_settings=verify_settings,
                    max_pixels=max_pixels,
                )
            )
        except (_SkipRow, OSError) as e:
            info = row.get("extra_info") if isinstance(row.get("extra_info"), Mapping) else {}
            report.skipped.append({"row": i, "index": info.get("index"), "reason": str(e)})

    skipped_path = Path(str(out) + ".skipped.jsonl")
    if report.skipped:
        atomic_write_text(skipped_path, "".join(json.dumps(s) + "\n" for s in report.skipped))
    elif skipped_path.exists():
        skipped_path.unlink()
    if not rows:
        detail = f"; first reason: {report.skipped[0]['reason']}" if report.skipped else ""
        hint = (
            " (chain targets need the solved response stored with each row, see docs/recipes.md)"
            if target == "chain" and report.skipped
            else ""
        )
        raise SFTDataError(f"{path}: no SFT example written from {report.selected} selected row(s){detail}{hint}")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=sft_arrow_schema(max_pixels is not None)), buf, row_group_size=256)
    atomic_write_bytes(out, buf.getvalue())
    report.written = len(rows)
    return report


def main(argv: list[str] | None = None) -> int:
    """``verl-difficulty sft-data``: see the module docstring."""
    p = argparse.ArgumentParser(
        prog="verl-difficulty sft-data",
        description="verl RL rows (scored or not) -> verl SFT parquet (messages + images).",
        epilog="Example: verl-difficulty sft-data runs/pism --metric pism --keep mid --out sft_mid.parquet",
    )
    p.add_argument("src", help="RL parquet, or a run folder holding scored.parquet")
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--metric", choices=METRICS, help="whose tiers --keep names (and whose details hold chains)")
    p.add_argument("--keep", help=f"comma-separated tiers, from {', '.join(TIERS)} (default: every row)")
    p.add_argument("--target", choices=TARGETS, help="answer (PISM) or chain (CMAB); default: the metric's")
    p.add_argument("--system-prompt", choices=SYSTEM_PROMPT_MODES, default="auto")
    p.add_argument("--answer-format", choices=ANSWER_FORMATS, default="bare")
    p.add_argument("--chain-key", help=f"column or details key holding the chain (default: try {list(CHAIN_KEYS)})")
    p.add_argument("--no-verify", action="store_true", help="keep chains without re-checking their answer")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=1254400,
        help="image pixel cap stored with each image for verl's SFT dataset (default: the paper's 1254400; 0: none)",
    )
    p.add_argument("--limit", type=int, help="convert only the first N selected rows")
    args = p.parse_args(argv)
    keep = [t.strip() for t in args.keep.split(",") if t.strip()] if args.keep else None
    try:
        report = convert_to_sft(
            args.src,
            args.out,
            metric=args.metric,
            keep=keep,
            target=args.target,
            system_prompt=args.system_prompt,
            answer_format=args.answer_format,
            chain_key=args.chain_key,
            verify=not args.no_verify,
            max_pixels=args.max_pixels or None,
            limit=args.limit,
        )
    except SFTDataError as e:
        print(f"verl-difficulty sft-data: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(json.dumps(report.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
