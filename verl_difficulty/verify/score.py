"""``compute_score`` for verl's ``reward.custom_reward_function``: one entry point for every task.

Use it from a verl 0.9.1 config (the path is this file; ``pkg://`` works too)::

    reward.custom_reward_function.path=pkg://verl_difficulty.verify.score
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.ocr_lenient=true

The task comes from ``extra_info["task"]`` when present, otherwise from ``data_source`` / ``ability``
(:func:`infer_task`). Every call returns a dict with the same numeric keys (:data:`RESULT_KEYS`), whatever
the task and whatever the response, because verl stacks ``reward_extra_info`` into arrays:

- ``score``: the reward, ``acc_weight * accuracy_term + format_weight * format``;
- ``acc``: 1.0 if the answer is judged correct, else 0.0 (the curriculum reads this);
- ``format``: 1.0 if the response has the ``<think>…</think><answer>…</answer>`` format;
- ``iou``: the area-weighted mean IoU for grounding, 0.0 for other tasks;
- ``extracted``: 1.0 if an answer could be found in the response;
- ``timeout``: 1.0 if the per-answer time limit cut the check short (the answer then counts as wrong);
- ``error``: 1.0 if checking raised an unexpected exception (logged; the answer counts as wrong).

Settings (:class:`VerifySettings`) come from the keyword arguments, i.e. verl's ``reward_kwargs``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # loaded by file path (verl's custom_reward_function.path=/.../score.py)
    try:
        import verl_difficulty.verify  # noqa: F401
    except ImportError:  # the package is not installed: use the copy this file belongs to
        sys.path.append(str(Path(__file__).resolve().parents[2]))

from verl_difficulty.verify.choice import LETTERS, check_choice, option_list  # noqa: E402
from verl_difficulty.verify.counting import check_counting  # noqa: E402
from verl_difficulty.verify.extract import as_text  # noqa: E402
from verl_difficulty.verify.format import format_ok  # noqa: E402
from verl_difficulty.verify.grounding import check_grounding  # noqa: E402
from verl_difficulty.verify.math_answer import check_math  # noqa: E402
from verl_difficulty.verify.ocr import check_ocr  # noqa: E402
from verl_difficulty.verify.settings import TASK_NAMES, CheckResult, VerifySettings  # noqa: E402

logger = logging.getLogger(__name__)

RESULT_KEYS = ("score", "acc", "format", "iou", "extracted", "timeout", "error")

_WORD_RE = re.compile(r"[a-z0-9]+")

#: Prefixes of the words of ``data_source`` (lower case, split at non-alphanumerics) that name a task, in order.
DATA_SOURCE_HINTS: tuple[tuple[str, str], ...] = (
    ("ground", "grounding"),
    ("refcoco", "grounding"),
    ("icdar", "grounding"),
    ("detect", "grounding"),
    ("bbox", "grounding"),
    ("ocr", "ocr"),
    ("textvqa", "ocr"),
    ("count", "counting"),
    ("choice", "choice"),
    ("mcq", "choice"),
    ("geo3k", "math"),
    ("geometry3k", "math"),
    ("mathv", "math"),
    ("math", "math"),
)
#: ``ability`` values (lower case) that name a task.
ABILITY_HINTS = {
    "math": "math",
    "choice": "choice",
    "multiple_choice": "choice",
    "ocr": "ocr",
    "counting": "counting",
    "count": "counting",
    "grounding": "grounding",
    "detection": "grounding",
}

_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


def infer_task(data_source: Any, extra_info: Mapping | None, settings: VerifySettings) -> str:
    """The task a sample belongs to: ``extra_info["task"]``, else a word of ``data_source`` starting with a
    hint (:data:`DATA_SOURCE_HINTS`: ``clevr_count`` -> counting, ``hiyouga/geometry3k`` -> math), else
    ``extra_info["ability"]``, else ``settings.default_task`` with a one-time warning per data source."""
    info = extra_info if isinstance(extra_info, Mapping) else {}
    task = info.get("task")
    if isinstance(task, str) and task.strip().lower() in TASK_NAMES:
        return task.strip().lower()
    source = as_text(data_source).lower()
    words = _WORD_RE.findall(source)
    for hint, name in DATA_SOURCE_HINTS:
        if any(w.startswith(hint) for w in words):
            return name
    ability = as_text(info.get("ability")).strip().lower()
    if ability in ABILITY_HINTS:
        return ABILITY_HINTS[ability]
    _warn_once(
        f"task:{source}",
        "verify: no task for data_source=%r (no extra_info.task, no hint); judging it as %r",
        source,
        settings.default_task,
    )
    return settings.default_task


def _ground_truth_text(ground_truth: Any) -> Any:
    if isinstance(ground_truth, (bytes, bytearray)):
        return ground_truth.decode("utf-8", errors="replace")
    if hasattr(ground_truth, "tolist") and not isinstance(ground_truth, str):
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, (list, tuple)) and len(ground_truth) == 1 and isinstance(ground_truth[0], str):
        return ground_truth[0]
    return ground_truth


def check(task: str, response: str, ground_truth: Any, extra_info: Mapping | None, settings: VerifySettings):
    """Run the checker for ``task`` and return its :class:`CheckResult` (may raise on a bug)."""
    info = extra_info if isinstance(extra_info, Mapping) else {}
    if task == "grounding":
        return check_grounding(response, ground_truth, settings)
    gt = as_text(ground_truth) if isinstance(ground_truth, (str, bytes, bytearray)) else str(ground_truth)
    options = option_list(info.get("options"))
    if task == "choice":
        return check_choice(response, gt, options, settings)
    if task == "math":
        stripped = gt.strip().strip("()").strip()
        if len(stripped) == 1 and stripped in LETTERS and (not options or LETTERS.index(stripped) < len(options)):
            return check_choice(response, stripped, options, settings)  # a lettered answer to a math question
        return check_math(response, gt, settings)
    if task == "ocr":
        return check_ocr(response, gt, settings)
    if task == "counting":
        return check_counting(response, gt, settings)
    raise ValueError(f"unknown task {task!r}")


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Mapping | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Judge one response and turn the verdict into a reward (verl's ``custom_reward_function`` signature).

    Args:
        data_source: the row's ``data_source`` (used to infer the task when ``extra_info`` has none).
        solution_str: the decoded response.
        ground_truth: ``reward_model.ground_truth`` (a string; grounding: JSON list of boxes).
        extra_info: the row's ``extra_info`` (``task``, ``options``, ...); may be ``None`` and may hold numpy
            arrays (parquet lists arrive that way).
        **kwargs: settings, see :class:`VerifySettings` (e.g. ``ocr_lenient=True``, ``format_weight=0.1``);
            other keyword arguments verl passes (``reward_router_address``, ...) are ignored.

    Returns:
        ``{key: float}`` for every key in :data:`RESULT_KEYS`.
    """
    settings = VerifySettings.from_kwargs(kwargs)
    return score_with(settings, data_source, solution_str, ground_truth, extra_info)


def score_with(
    settings: VerifySettings, data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Mapping | None
) -> dict[str, float]:
    """:func:`compute_score` with already-built settings (the reward manager builds them once)."""
    response = as_text(solution_str)
    fmt = False
    error = False
    try:
        fmt = format_ok(response)
        task = infer_task(data_source, extra_info, settings)
        result = check(task, response, _ground_truth_text(ground_truth), extra_info, settings)
    except Exception:  # a checker bug must not stop training: count the answer as wrong and say so
        logger.exception("verify: checking failed for data_source=%r", as_text(data_source)[:100])
        task, result, error = "math", CheckResult(correct=False, score=0.0), True
    acc = 1.0 if result.correct else 0.0
    if task == "grounding" and settings.grounding_reward == "iou":
        acc_term = float(result.score)
    else:
        acc_term = acc
    return {
        "score": settings.acc_weight * acc_term + settings.format_weight * (1.0 if fmt else 0.0),
        "acc": acc,
        "format": 1.0 if fmt else 0.0,
        "iou": float(result.score) if task == "grounding" else 0.0,
        "extracted": 1.0 if result.extracted else 0.0,
        "timeout": 1.0 if result.timed_out else 0.0,
        "error": 1.0 if error else 0.0,
    }
