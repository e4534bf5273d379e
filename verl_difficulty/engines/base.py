"""The one small interface every generation backend implements.

A scorer asks an engine for completions with a list of :class:`GenerationRequest` (chat messages in verl's row
format, the already-decoded and possibly masked images, sampling settings, ``n``, and a seed) and gets back,
for each request, ``n`` completion strings::

    engine = build_engine("transformers", "/models/Qwen2.5-VL-7B-Instruct", dtype="bfloat16")
    outs = engine.generate([GenerationRequest(sample_id="mathv/6", messages=row["prompt"], images=[img],
                                              sampling=SamplingSettings(temperature=0.7), n=4, seed=123)])
    outs[0]  # -> four strings

Determinism contract: a completion depends only on (model, messages, images, sampling, seed, its position
``j < n``), never on which other requests share the batch, the batch order or the process it runs in. Engines
that cannot honour this (an external server without a ``seed`` parameter) say so in :meth:`Engine.describe`
(``"deterministic": False``). Seeds come from :func:`request_seed`, i.e. from the sample id, so scores do
not depend on sharding.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from verl_difficulty.utils import stable_seed

IMAGE_PLACEHOLDER = "<image>"


class EngineError(RuntimeError):
    """An engine cannot be built or cannot serve a request; the message says which setting or input."""


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample. ``temperature == 0`` means greedy decoding (then ``top_p`` / ``top_k`` are ignored)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # -1: no top-k cut
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0 or math.isnan(self.temperature):
            raise EngineError(f"sampling.temperature: expected a number >= 0, got {self.temperature!r}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise EngineError(f"sampling.top_p: expected a number in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or (self.top_k < 1 and self.top_k != -1):
            raise EngineError(f"sampling.top_k: expected -1 or a positive integer, got {self.top_k!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise EngineError(f"sampling.max_new_tokens: expected a positive integer, got {self.max_new_tokens!r}")
        object.__setattr__(self, "stop", tuple(self.stop or ()))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass
class GenerationRequest:
    """One prompt to complete ``n`` times.

    Attributes:
        sample_id: the row's ``extra_info.index`` (replay looks completions up by it; seeds derive from it).
        messages: chat messages as in verl's ``prompt`` column: ``[{"role", "content"}]`` where ``content`` is a
            string holding one ``<image>`` placeholder per image (or already a list of typed parts).
        images: decoded RGB PIL images, one per placeholder, in order (masked ones for PISM).
        sampling: sampling settings.
        n: completions wanted.
        seed: the request's seed (:func:`request_seed`); completion ``j`` uses ``completion_seed(seed, j)``.
        meta: what the scorer wants to remember about the request (metric, mask ratio, attempt, ground truth);
            engines other than the test oracle ignore it.
    """

    sample_id: str
    messages: list[dict]
    images: list[Any] = field(default_factory=list)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    n: int = 1
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 1:
            raise EngineError(f"request {self.sample_id}: n must be a positive integer, got {self.n!r}")
        placeholders = count_image_placeholders(self.messages)
        if placeholders != len(self.images):
            raise EngineError(
                f"request {self.sample_id}: {placeholders} '<image>' placeholder(s) in the prompt but "
                f"{len(self.images)} image(s)"
            )


def request_seed(*parts: Any) -> int:
    """A request seed from (base seed, metric, sample id, ...): the same on every worker and shard."""
    return stable_seed("request", *parts) & 0x7FFFFFFF


def completion_seed(seed: int, j: int) -> int:
    """The seed of completion ``j`` of a request with ``seed`` (fits every backend's 32-bit seed field)."""
    return stable_seed("completion", int(seed), int(j)) & 0x7FFFFFFF


def count_image_placeholders(messages: Sequence[Mapping[str, Any]]) -> int:
    total = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += content.count(IMAGE_PLACEHOLDER)
        elif isinstance(content, Sequence):
            total += sum(1 for part in content if isinstance(part, Mapping) and part.get("type") == "image")
    return total


def to_chat_parts(messages: Sequence[Mapping[str, Any]]) -> list[dict]:
    """verl's string messages → typed parts: ``"<image>What?"`` → ``[{"type": "image"}, {"type": "text", ...}]``.

    The same split verl's ``RLHFDataset`` does before applying the processor's chat template; images stay in
    placeholder order. Messages whose content is already a list are returned as they are.
    """
    out = []
    for m in messages:
        content = m.get("content")
        if not isinstance(content, str):
            out.append({"role": m["role"], "content": list(content or [])})
            continue
        parts: list[dict] = []
        for i, piece in enumerate(content.split(IMAGE_PLACEHOLDER)):
            if i > 0:
                parts.append({"type": "image"})
            if piece:
                parts.append({"type": "text", "text": piece})
        out.append({"role": m["role"], "content": parts})
    return out


class Engine(abc.ABC):
    """A generation backend. Subclasses set :attr:`name` and implement :meth:`generate`."""

    name: str = "engine"
    #: whether completions depend only on each request's seed (see the module docstring)
    deterministic: bool = True

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        """``n`` completions (decoded text, special tokens removed) for each request, in request order."""

    def describe(self) -> dict:
        """What produced the completions, for the ``provenance`` of every record."""
        return {"engine": self.name, "deterministic": self.deterministic}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model / connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
