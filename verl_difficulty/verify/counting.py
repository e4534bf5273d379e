"""Counting answers: the first number in the answer, written in digits or in English words.

Like the paper's code, the *first* number of the extracted answer is the prediction ("There are 3 cats" -> 3).
Digits may use thousands separators (``1,200``); a decimal that is not a whole number (``3.5``) is a wrong
count. Words cover zero to 999,999 (``twelve``, ``twenty-one``, ``one hundred and five``), plus ``none`` = 0
and ``dozen`` = 12 (``a dozen``, ``two dozen``). The ground truth is read the same way.
"""

from __future__ import annotations

import re
from fractions import Fraction

from verl_difficulty.verify.extract import extract_answer
from verl_difficulty.verify.settings import CheckResult, VerifySettings

_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"hundred": 100, "thousand": 1000, "dozen": 12}
_TOKEN_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[A-Za-z]+")
_MAX_DIGITS = 18


def _word_value(words: list[str], i: int) -> tuple[int | None, int]:
    """Parse a number phrase starting at ``words[i]``; returns ``(value or None, index after it)``."""
    total, current, seen = 0, 0, False
    j = i
    while j < len(words):
        w = words[j]
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SCALES and (seen or w == "dozen"):
            scale = _SCALES[w]
            if scale == 1000:
                total += (current or 1) * 1000
                current = 0
            else:
                current = (current or 1) * scale
        elif w == "a" and j + 1 < len(words) and words[j + 1] in _SCALES and not seen:
            current = 1
        elif w == "and" and seen and j + 1 < len(words) and (words[j + 1] in _UNITS or words[j + 1] in _TENS):
            pass
        elif w == "none" and not seen:
            return 0, j + 1
        else:
            break
        seen = True
        j += 1
    return (total + current, j) if seen else (None, i)


def parse_count(text: str) -> Fraction | None:
    """The first number in ``text`` (digits or English words), or ``None``."""
    tokens = _TOKEN_RE.findall(text[:4096])
    words = [t.lower() for t in tokens]
    for i, tok in enumerate(tokens):
        if tok[0].isdigit():
            digits = tok.replace(",", "")
            if len(digits) > _MAX_DIGITS:
                return None
            return Fraction(digits)
        value, _ = _word_value(words, i)
        if value is not None:
            return Fraction(value)
    return None


def check_counting(response: str, ground_truth: str, settings: VerifySettings) -> CheckResult:
    """Judge a counting response: the first number in the answer must equal the true count.

    Args:
        response: the decoded model output.
        ground_truth: the true count (``"3"`` or ``"three"``).
        settings: tail length.
    """
    ext = extract_answer(response, settings.max_response_chars)
    if not ext.found:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    pred = parse_count(ext.text)
    truth = parse_count(str(ground_truth))
    if pred is None:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    shown = str(pred.numerator) if pred.denominator == 1 else str(float(pred))
    correct = truth is not None and pred == truth and pred.denominator == 1
    return CheckResult(correct=correct, score=float(correct), pred=shown, extracted=True)
