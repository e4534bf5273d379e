"""OCR answers: normalised exact match, or the paper's lenient rule as a setting.

Normalisation: Unicode NFKC, case folding, and removal of whitespace, control characters and punctuation
(Unicode categories ``Z*``, ``C*``, ``P*``: spaces, quotes, ``. , : ; / - ( )`` …). Symbols such as ``$ + = °``
and all letters and digits are kept, so ``"Grand Hotel."`` equals ``grandhotel`` and ``03/09/2009`` equals
``03.09.2009``.

Lenient mode (``settings.ocr_lenient``; what the paper's released code rewards): after normalisation the
prediction contains the truth or the truth contains the prediction, or their ``difflib.SequenceMatcher`` ratio
reaches ``settings.ocr_similarity`` (0.5). An empty prediction is never correct.
"""

from __future__ import annotations

import difflib
import unicodedata

from verl_difficulty.verify.extract import extract_answer
from verl_difficulty.verify.settings import CheckResult, VerifySettings

#: Longest normalised string the similarity ratio is computed on (it is quadratic in the worst case).
MAX_RATIO_CHARS = 2_048


def normalize_ocr(text: str) -> str:
    """``text`` in the canonical form OCR answers are compared in (see the module docstring)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in s if unicodedata.category(ch)[0] not in "ZCP")


def similarity(a: str, b: str) -> float:
    """``difflib.SequenceMatcher`` ratio of two normalised strings, with cheap upper bounds checked first."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if len(a) > MAX_RATIO_CHARS or len(b) > MAX_RATIO_CHARS:
        return 2.0 * min(len(a), len(b)) / (len(a) + len(b)) if (a in b or b in a) else 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def ocr_match(pred: str, truth: str, lenient: bool = False, min_similarity: float = 0.5) -> tuple[bool, float]:
    """``(correct, similarity)`` of a predicted text against the true text.

    Args:
        pred: the predicted text (raw).
        truth: the true text (raw).
        lenient: use the paper's lenient rule instead of exact match after normalisation.
        min_similarity: the ratio the lenient rule needs.
    """
    p, t = normalize_ocr(pred), normalize_ocr(truth)
    if not p or not t:
        return False, 0.0
    if p == t:
        return True, 1.0
    if not lenient:
        return False, similarity(p, t)
    if p in t or t in p:
        return True, similarity(p, t)
    ratio = similarity(p, t)
    return ratio >= min_similarity, ratio


def check_ocr(response: str, ground_truth: str, settings: VerifySettings) -> CheckResult:
    """Judge an OCR response. ``score`` is the similarity ratio, ``correct`` follows the exact/lenient rule.

    Args:
        response: the decoded model output.
        ground_truth: the true text.
        settings: ``ocr_lenient``, ``ocr_similarity`` and the tail length.
    """
    ext = extract_answer(response, settings.max_response_chars)
    if not ext.found:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    correct, ratio = ocr_match(ext.text, str(ground_truth), settings.ocr_lenient, settings.ocr_similarity)
    return CheckResult(correct=correct, score=ratio, pred=ext.text, extracted=True)
