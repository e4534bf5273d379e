"""Replay completions that earlier runs already paid for, instead of generating: pass-rate from logged rollouts.

Two inputs (``model`` = a ``.jsonl`` file or a folder of them; verl writes one ``<step>.jsonl`` per step):

**verl dumps** (``format: verl``): what verl 0.9.1 writes with ``trainer.rollout_data_dir`` (rollouts of every
training step) or ``trainer.validation_data_dir`` (every validation; step 0 = before training when
``trainer.val_before_train``), one JSON object per completion::

    {"input": <prompt decoded with special tokens removed>, "output": <response>, "gts": <ground truth>,
     "score": <reward>, "step": <global step>, ... reward_extra_info keys (acc, ...), "uid" (v1 trainer)}

The dump holds no dataset id: verl's ``uid`` is a fresh ``uuid4`` per batch. A line is therefore tied to a
row by its prompt and answer: the row's message texts (``<image>`` placeholders removed, whitespace collapsed,
Unicode NFC) must all occur in the line's decoded ``input``, and the line's ``gts`` must equal the row's
ground truth. When several logged prompts match, the one with the least extra text wins; a tie is an error.
Rows that differ only in their images (same text, same answer) cannot be told apart by text: the v1 trainer's
``uid`` shows when one step logged several such prompts, and those samples get an error instead of pooled
completions; the legacy trainer's dumps have no ``uid``, so there such rows would share their completions. If a
reward function or dataset column of yours puts the sample id into the dump, name that key with ``id_key`` to
match exactly.

**any JSONL** (``format: jsonl``): ``{"<id_key>": sample id, "<response_key>": "text" or ["text", ...]}`` per
line (default keys ``sample_id`` and ``response``); several lines per sample add up.

Settings:

``format``        ``auto`` (default: ``verl`` when the first line has ``input``, ``output`` and ``step``), ``verl``
                  or ``jsonl``
``id_key``        key holding the sample id (jsonl default ``sample_id``; verl default none: match by prompt)
``response_key``  key holding the completion (verl default ``output``, jsonl default ``response``)
``prompt_key`` / ``gt_key``  verl dumps: keys of the decoded prompt and the ground truth (``input`` / ``gts``)
``steps``         which logged steps to use per sample: ``first`` (default: the earliest step it appears in,
                  closest to the starting model; step 0 of a validation dump is the base model), ``last``,
                  ``all``, a step number or a list of them
``allow_fewer``   a sample with fewer logged completions than ``n`` is an error unless this is true (then its
                  completions are all returned; pass-rate scores over those and records how many)

Completions come back in log order (step, file, line); requests' sampling settings are ignored (the logged
run's sampling produced them). A sample with no logged completion is always an error naming it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verl_difficulty.engines.base import IMAGE_PLACEHOLDER, Engine, EngineError, GenerationRequest

FORMATS = ("auto", "verl", "jsonl")
_WS = re.compile(r"\s+")


def normalize_text(text: Any) -> str:
    """NFC, whitespace runs collapsed to one space, stripped (non-strings as compact JSON)."""
    if not isinstance(text, str):
        text = json.dumps(text, separators=(",", ":"), default=str)
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def prompt_pieces(messages: Sequence[dict]) -> list[str]:
    """The normalized text pieces of a chat (per message, split at ``<image>``) that a decoded prompt contains."""
    pieces = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts = content.split(IMAGE_PLACEHOLDER)
        else:
            parts = [p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"]
        pieces.extend(p for p in (normalize_text(x) for x in parts) if p)
    return pieces


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and p.name.endswith(".jsonl")]
        # verl names them <step>.jsonl: numeric order, then by name
        return sorted(files, key=lambda p: (0, int(p.stem), "") if p.stem.isdigit() else (1, 0, p.name))
    raise EngineError(f"replay: {path} is neither a .jsonl file nor a folder of them")


class ReplayEngine(Engine):
    """Logged completions looked up per request (see the module docstring for the settings)."""

    name = "replay"
    deterministic = True

    def __init__(
        self,
        model: str | os.PathLike | None,
        format: str = "auto",
        id_key: str | None = None,
        response_key: str | None = None,
        prompt_key: str = "input",
        gt_key: str = "gts",
        steps: str | int | Sequence[int] = "first",
        allow_fewer: bool = False,
    ):
        if not model:
            raise EngineError("model: the replay engine needs the logged completions (a .jsonl file or folder)")
        if format not in FORMATS:
            raise EngineError(f"engine.format: expected one of {FORMATS}, got {format!r}")
        if not isinstance(allow_fewer, bool):
            raise EngineError(f"engine.allow_fewer: expected true/false, got {allow_fewer!r}")
        self.path = Path(model)
        if not self.path.exists():
            raise EngineError(f"replay: {self.path} not found")
        self.files = _files(self.path)
        if not self.files:
            raise EngineError(f"replay: no .jsonl files in {self.path}")
        self.steps = self._parse_steps(steps)
        self.allow_fewer = allow_fewer
        self.prompt_key, self.gt_key = prompt_key, gt_key
        self.format = self._detect() if format == "auto" else format
        if self.format == "verl":
            self.id_key = id_key
            self.response_key = response_key or "output"
        else:
            self.id_key = id_key or "sample_id"
            self.response_key = response_key or "response"
        # id -> [(step, file, offset)]; prompt mode: (gt, input) -> [...] and gt -> {inputs}
        self._by_id: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        self._by_prompt: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        self._inputs_by_gt: dict[str, set[str]] = defaultdict(set)
        # prompt mode, v1 dumps: (gt, input) -> step -> the prompt uids logged under it
        self._uids: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.lines = 0
        self._index()

    @staticmethod
    def _parse_steps(steps) -> str | frozenset[int]:
        if steps in ("first", "last", "all"):
            return steps
        if isinstance(steps, int) and not isinstance(steps, bool):
            return frozenset([steps])
        if isinstance(steps, Sequence) and not isinstance(steps, str) and steps:
            if all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
                return frozenset(steps)
        raise EngineError(f"engine.steps: expected first, last, all, a step number or a list of them, got {steps!r}")

    def _detect(self) -> str:
        with open(self.files[0], encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise EngineError(f"replay: {self.files[0]} line 1: not JSON ({e})") from e
                    is_verl = isinstance(first, dict) and {"input", "output", "step"} <= set(first)
                    return "verl" if is_verl else "jsonl"
        raise EngineError(f"replay: {self.files[0]} is empty")

    def _index(self) -> None:
        for fi, path in enumerate(self.files):
            with open(path, "rb") as f:
                lineno = 0
                while True:
                    offset = f.tell()
                    raw = f.readline()
                    if not raw:
                        break
                    lineno += 1
                    if not raw.strip():
                        continue
                    try:
                        obj = json.loads(raw)
                    except json.JSONDecodeError as e:
                        raise EngineError(f"replay: {path} line {lineno}: not JSON ({e})") from e
                    if not isinstance(obj, dict):
                        raise EngineError(f"replay: {path} line {lineno}: expected a JSON object")
                    if self.response_key not in obj:
                        raise EngineError(
                            f"replay: {path} line {lineno}: no {self.response_key!r} (engine.response_key)"
                        )
                    step = obj.get("step", 0)
                    step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else 0
                    entry = (step, fi, offset)
                    if self.id_key is not None:
                        if obj.get(self.id_key) in (None, ""):
                            raise EngineError(f"replay: {path} line {lineno}: no {self.id_key!r} (engine.id_key)")
                        self._by_id[str(obj[self.id_key])].append(entry)
                    else:
                        if self.prompt_key not in obj:
                            raise EngineError(
                                f"replay: {path} line {lineno}: no {self.prompt_key!r} to match prompts by "
                                "(engine.prompt_key), and no engine.id_key"
                            )
                        gt = normalize_text(obj.get(self.gt_key)) if obj.get(self.gt_key) is not None else ""
                        text = normalize_text(obj[self.prompt_key])
                        self._by_prompt[(gt, text)].append(entry)
                        self._inputs_by_gt[gt].add(text)
                        uid = obj.get("uid")
                        if isinstance(uid, str) and uid:
                            parts = uid.rsplit("_", 2)  # verl v1: {prompt uid}_{session}_{output index}
                            self._uids[(gt, text)][step].add(parts[0] if len(parts) == 3 else uid)
                    self.lines += 1

    # -- lookup --------------------------------------------------------------------------------------------------

    def _entries(self, req: GenerationRequest) -> list[tuple[int, int, int]]:
        if self.id_key is not None:
            return self._by_id.get(str(req.sample_id), [])
        pieces = prompt_pieces(req.messages)
        gt = req.meta.get("ground_truth")
        gts = [normalize_text(gt)] if gt is not None else list(self._inputs_by_gt)
        candidates = []
        for g in gts:
            for text in self._inputs_by_gt.get(g, ()):
                if all(p in text for p in pieces):
                    candidates.append((len(text) - sum(len(p) for p in pieces), g, text))
        if not candidates:
            return []
        candidates.sort(key=lambda c: c[0])
        if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
            raise EngineError(
                f"replay: sample {req.sample_id}: {len(candidates)} logged prompts match its text and answer "
                "equally well; log a sample id in the dump and set engine.id_key"
            )
        key = (candidates[0][1], candidates[0][2])
        entries = self._by_prompt[key]
        steps = {e[0] for e in self._select_steps(entries)}
        shared = {step: len(uids) for step, uids in self._uids.get(key, {}).items() if step in steps and len(uids) > 1}
        if shared:
            step, count = min(shared.items())
            raise EngineError(
                f"replay: sample {req.sample_id}: {count} different prompts with its exact text and answer were "
                f"logged in step {step} (rows that differ only in their images?); their completions cannot be told "
                "apart: log a sample id in the dump and set engine.id_key"
            )
        return entries

    def _select_steps(self, entries: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        entries = sorted(entries)
        if not entries or self.steps == "all":
            return entries
        if self.steps == "first":
            return [e for e in entries if e[0] == entries[0][0]]
        if self.steps == "last":
            return [e for e in entries if e[0] == entries[-1][0]]
        return [e for e in entries if e[0] in self.steps]

    def _read(self, entries: list[tuple[int, int, int]]) -> list[str]:
        out: list[str] = []
        handles: dict[int, Any] = {}
        try:
            for _, fi, offset in entries:
                f = handles.get(fi) or handles.setdefault(fi, open(self.files[fi], "rb"))  # noqa: SIM115
                f.seek(offset)
                value = json.loads(f.readline())[self.response_key]
                if isinstance(value, list):
                    out.extend(str(v) for v in value)
                else:
                    out.append("" if value is None else str(value))
        finally:
            for f in handles.values():
                f.close()
        return out

    def completions(self, req: GenerationRequest) -> list[str]:
        """Every logged completion of the request's sample (after the ``steps`` choice), in log order."""
        return self._read(self._select_steps(self._entries(req)))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        out = []
        for req in requests:
            texts = self.completions(req)
            how = f"id_key {self.id_key!r}" if self.id_key else "prompt text and ground truth"
            if not texts:
                raise EngineError(
                    f"replay: no logged completion for sample {req.sample_id} in {self.path} "
                    f"(matched by {how}, steps={self._steps_text()})"
                )
            if len(texts) < req.n and not self.allow_fewer:
                raise EngineError(
                    f"replay: sample {req.sample_id} has {len(texts)} logged completion(s) "
                    f"(steps={self._steps_text()}), {req.n} wanted; lower n, use steps=all, or set "
                    "engine.allow_fewer=true to score over the logged ones"
                )
            out.append(texts[: req.n])
        return out

    def _steps_text(self) -> str:
        return self.steps if isinstance(self.steps, str) else str(sorted(self.steps))

    def describe(self) -> dict:
        return {
            "engine": self.name,
            "model": str(self.path),
            "format": self.format,
            "match": f"id_key:{self.id_key}" if self.id_key else "prompt+ground_truth",
            "steps": self._steps_text(),
            "files": len(self.files),
            "lines": self.lines,
            "allow_fewer": self.allow_fewer,
            "deterministic": self.deterministic,
        }
