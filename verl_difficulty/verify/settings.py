"""The verifier's settings (weights, thresholds, modes, limits) and the result every checker returns."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

GROUNDING_REWARDS = ("iou", "acc")
TASK_NAMES = ("math", "choice", "ocr", "counting", "grounding")


@dataclass(frozen=True)
class VerifySettings:
    """How answers are judged and turned into a reward. Defaults follow the main paper.

    Attributes:
        acc_weight: weight of the accuracy term in ``score`` (paper: accuracy only, 1.0).
        format_weight: weight of the ``<think>…</think><answer>…</answer>`` format term (paper: 0.0).
        grounding_reward: accuracy term for grounding: ``"iou"`` = the continuous area-weighted IoU (what the
            paper's code rewards), ``"acc"`` = 1/0 at ``iou_threshold``. ``acc`` is thresholded either way.
        iou_threshold: a grounding answer is correct when its area-weighted mean IoU reaches this value.
        grounding_match_all: also require every true box to be matched at ``iou_threshold`` (every listed box
            is an instance to find); with ``False`` only the mean counts.
        ocr_lenient: the paper's lenient OCR rule (substring either way, or similarity >= ``ocr_similarity``)
            instead of normalised exact match.
        ocr_similarity: the ``difflib.SequenceMatcher`` ratio the lenient rule needs (paper: 0.5).
        timeout_s: wall-clock limit for the expensive part of checking one answer (math-verify / mathruler).
        max_response_chars: only the last this many characters of a response are searched for the answer.
        use_mathruler: after math-verify says "different", ask mathruler (verl's geo3k grader) too.
        default_task: task used when neither ``extra_info.task`` nor ``data_source``/``ability`` names one.
    """

    acc_weight: float = 1.0
    format_weight: float = 0.0
    grounding_reward: str = "iou"
    iou_threshold: float = 0.5
    grounding_match_all: bool = True
    ocr_lenient: bool = False
    ocr_similarity: float = 0.5
    timeout_s: float = 5.0
    max_response_chars: int = 32_768
    use_mathruler: bool = True
    default_task: str = "math"

    def __post_init__(self):
        if self.grounding_reward not in GROUNDING_REWARDS:
            raise ValueError(f"grounding_reward must be one of {GROUNDING_REWARDS}, got {self.grounding_reward!r}")
        if self.default_task not in TASK_NAMES:
            raise ValueError(f"default_task must be one of {TASK_NAMES}, got {self.default_task!r}")
        if not 0.0 <= float(self.iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {self.iou_threshold}")
        if not 0.0 <= float(self.ocr_similarity) <= 1.0:
            raise ValueError(f"ocr_similarity must be in [0, 1], got {self.ocr_similarity}")
        if not float(self.timeout_s) > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any] | None, base: VerifySettings | None = None) -> VerifySettings:
        """Settings from ``kwargs`` (e.g. verl's ``reward_kwargs``); keys that are not settings are ignored.

        Values are converted to the field's type (Hydra may hand over strings such as ``"0.7"``).
        """
        base = base or _DEFAULT
        if not kwargs:
            return base
        updates: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in kwargs and kwargs[f.name] is not None:
                updates[f.name] = _coerce(f.name, kwargs[f.name], getattr(base, f.name))
        return dataclasses.replace(base, **updates) if updates else base


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{name}: expected a boolean, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


_DEFAULT = VerifySettings()


@dataclass(frozen=True)
class CheckResult:
    """What a task checker found.

    Attributes:
        correct: the answer is judged right.
        score: continuous quality in [0, 1] (IoU for grounding, similarity for OCR, else ``float(correct)``).
        pred: the prediction as the checker understood it (letter, number, text or boxes as JSON).
        extracted: an answer could be found in the response.
        timed_out: the time limit cut the check short (the answer then counts as wrong).
    """

    correct: bool
    score: float
    pred: str = ""
    extracted: bool = False
    timed_out: bool = False
