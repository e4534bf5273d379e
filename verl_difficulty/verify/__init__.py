"""Answer checkers for the paper's tasks and ``compute_score`` for verl.

- :func:`compute_score` (``score.py``): verl's ``custom_reward_function`` entry point, dispatching on the task.
- :class:`VerifySettings`: weights, thresholds, modes and the per-answer time limit.
- One checker per task, each returning a :class:`CheckResult`: :func:`check_math`, :func:`check_choice`,
  :func:`check_ocr`, :func:`check_counting`, :func:`check_grounding`; :func:`format_ok` for the R1 format.
- :func:`extract_answer`: ``<answer>`` tags, ``\\boxed{}`` (nested braces), final-line fallback.
- :func:`run_guarded` (``timeout.py``): the time limit that works in threads and Ray actors.

Importing this package is cheap: math-verify, mathruler and sympy are loaded only in the helper processes.
"""

from verl_difficulty.verify.choice import check_choice
from verl_difficulty.verify.counting import check_counting
from verl_difficulty.verify.extract import Extraction, extract_answer
from verl_difficulty.verify.format import format_ok
from verl_difficulty.verify.grounding import check_grounding
from verl_difficulty.verify.math_answer import check_math, math_equal
from verl_difficulty.verify.ocr import check_ocr
from verl_difficulty.verify.score import RESULT_KEYS, compute_score, infer_task
from verl_difficulty.verify.settings import CheckResult, VerifySettings
from verl_difficulty.verify.timeout import GuardResult, run_guarded

__all__ = [
    "RESULT_KEYS",
    "CheckResult",
    "Extraction",
    "GuardResult",
    "VerifySettings",
    "check_choice",
    "check_counting",
    "check_grounding",
    "check_math",
    "check_ocr",
    "compute_score",
    "extract_answer",
    "format_ok",
    "infer_task",
    "math_equal",
    "run_guarded",
]
