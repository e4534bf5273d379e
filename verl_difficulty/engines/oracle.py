"""A scripted "model" with known behaviour under masking: for tests, benchmarks and demos.

Each sample has a *breaking ratio* b and a per-attempt success probability p. A completion for a request
whose mask ratio (``request.meta["ratio"]``, 0 when absent, e.g. pass-rate) is below b answers the ground
truth (``request.meta["ground_truth"]``, which the scorers pass) in ``<answer>`` tags with probability p,
else a wrong answer. At b or above it is always wrong. The draw is a pure function of the completion seed,
so outcomes are the same whatever the batching, order or strategy. With p = 1 a PISM run must find
λ* = b exactly (the smallest tested ratio ≥ b; 1.0 when b is above every tested ratio).

Configuration: a dict, or a JSON / YAML file path (the pipeline passes ``--model``)::

    default: {breaking_ratio: 1.0, p_correct: 1.0}   # samples not listed (this is the default default)
    samples:
      mathv/4: {breaking_ratio: 0.4}                 # hard
      mathv/5: 0.0                                   # a bare number is the breaking ratio: unsolved
      geo3k/11: {breaking_ratio: 0.8, p_correct: 0.3}
    wrong_answer: "I cannot tell."                   # what a wrong completion puts in <answer>

``build_engine("oracle", "oracle.yaml")`` or ``build_engine("oracle", None, config={...})``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verl_difficulty.engines.base import Engine, EngineError, GenerationRequest, completion_seed
from verl_difficulty.utils import stable_seed

SAMPLE_KEYS = ("breaking_ratio", "p_correct")
TOP_KEYS = ("default", "samples", "wrong_answer")


def _load_config(source: str | os.PathLike | Mapping | None) -> dict:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise EngineError(f"oracle: config file {path} not found")
    text = path.read_text(encoding="utf-8")
    import yaml

    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise EngineError(
            f"oracle: {path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} ({e})"
        ) from e
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise EngineError(f"oracle: {path}: expected a mapping at the top level, got {type(data).__name__}")
    return dict(data)


def _behaviour(where: str, value: Any, base: tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"breaking_ratio": value}
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise EngineError(f"oracle: {where}: expected a breaking ratio or a mapping, got {value!r}")
    unknown = sorted(set(value) - set(SAMPLE_KEYS))
    if unknown:
        raise EngineError(f"oracle: {where}: unknown key(s) {unknown}; expected some of {list(SAMPLE_KEYS)}")
    b = value.get("breaking_ratio", base[0])
    p = value.get("p_correct", base[1])
    if b is None:
        b = math.inf
    if isinstance(b, bool) or not isinstance(b, (int, float)) or math.isnan(b) or b < 0:
        raise EngineError(f"oracle: {where}.breaking_ratio: expected a number >= 0, got {b!r}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise EngineError(f"oracle: {where}.p_correct: expected a number in [0, 1], got {p!r}")
    return float(b), float(p)


class OracleEngine(Engine):
    """The scripted model (see the module docstring).

    Args:
        model: a JSON / YAML config file, a mapping, or ``None`` (every sample never breaks, p = 1).
        config: the configuration as a mapping (instead of ``model``).
    """

    name = "oracle"
    deterministic = True

    def __init__(self, model: str | os.PathLike | Mapping | None = None, config: Mapping | None = None):
        if model is not None and config is not None:
            raise EngineError("oracle: give the configuration either as the model path or as config, not both")
        self.source = None if isinstance(model, Mapping) or model is None else str(model)
        data = _load_config(config if config is not None else model)
        unknown = sorted(set(data) - set(TOP_KEYS))
        if unknown:
            raise EngineError(f"oracle: unknown key(s) {unknown}; expected some of {list(TOP_KEYS)}")
        self.default = _behaviour("default", data.get("default"), (math.inf, 1.0))
        samples = data.get("samples") or {}
        if not isinstance(samples, Mapping):
            raise EngineError(f"oracle: samples: expected a mapping of sample id -> behaviour, got {samples!r}")
        self.samples = {str(k): _behaviour(f"samples[{k!r}]", v, self.default) for k, v in samples.items()}
        wrong = data.get("wrong_answer", "I cannot tell.")
        if not isinstance(wrong, str):
            raise EngineError(f"oracle: wrong_answer: expected a string, got {wrong!r}")
        self.wrong_answer = wrong
        #: completions produced so far (benchmarks read it)
        self.completions = 0

    def behaviour(self, sample_id: str) -> tuple[float, float]:
        """``(breaking_ratio, p_correct)`` of ``sample_id`` (the default when it is not listed)."""
        return self.samples.get(str(sample_id), self.default)

    def is_correct(self, request: GenerationRequest, j: int) -> bool:
        """Whether completion ``j`` of ``request`` answers correctly."""
        breaking, p = self.behaviour(request.sample_id)
        ratio = float(request.meta.get("ratio", 0.0))
        if ratio >= breaking - 1e-9:
            return False
        draw = stable_seed("oracle", completion_seed(request.seed, j)) / float(1 << 63)
        return draw < p

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        out = []
        for req in requests:
            if "ground_truth" not in req.meta:
                raise EngineError(f"oracle: request {req.sample_id} has no meta['ground_truth'] to answer with")
            gt = str(req.meta["ground_truth"])
            texts = []
            for j in range(req.n):
                answer = gt if self.is_correct(req, j) else self.wrong_answer
                texts.append(f"<think>scripted oracle</think><answer>{answer}</answer>")
            self.completions += req.n
            out.append(texts)
        return out

    def describe(self) -> dict:
        b, p = self.default
        return {
            "engine": self.name,
            "model": self.source or "oracle:inline",
            "samples": len(self.samples),
            "default": {"breaking_ratio": None if math.isinf(b) else b, "p_correct": p},
            "deterministic": self.deterministic,
        }
