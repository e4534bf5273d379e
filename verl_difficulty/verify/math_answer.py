"""Math answers: math-verify first (LaTeX, fractions, percentages, units, intervals), mathruler as fallback.

Two stages:

1. In-process fast path (:func:`fast_equal`): the two answers are normalised (delimiters, spacing, ``\\left``,
   ``\\dfrac``, degree signs, ...) and compared as strings; plain numbers (integers, decimals, ``a/b``,
   ``\\frac{a}{b}``) are compared exactly. This decides most answers without sympy.
2. Guarded slow path (:func:`slow_equal_many`, run in a helper process under the per-answer time limit by
   :mod:`verl_difficulty.verify.timeout`): math-verify ``parse`` + ``verify`` with their signal-based timeouts
   disabled, then mathruler's ``grade_answer`` (what verl's geo3k scorer uses) when math-verify says no.

Decimal answers are judged by math-verify's own rule (equal after rounding to 6 decimals): ``8.660254`` equals
``5 \\sqrt { 3 }``, ``8.66`` does not. Two plain numbers that differ by more than 0.1 % are rejected in-process.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from fractions import Fraction
from functools import lru_cache

from verl_difficulty.verify.extract import MAX_CANDIDATE_CHARS, extract_answer, last_boxed
from verl_difficulty.verify.settings import CheckResult, VerifySettings
from verl_difficulty.verify.timeout import run_guarded

_MAX_NUMBER_CHARS = 40
_NORMALISE_DROP = re.compile(
    r"\\left|\\right|\\displaystyle|\\!|\\,|\\;|\\:|\\ |~|\^\{?\\circ\}?|°|\\degree|\$|\\\(|\\\)|\\\[|\\\]|\s+"
)
_DEC_RE = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")
_SLASH_RE = re.compile(r"([+-]?\d+)/(\d+)")
_FRAC_RE = re.compile(r"([+-]?)\\frac\{([+-]?\d+)\}\{(\d+)\}")
_DIGIT_RE = re.compile(r"\d")
_PROSE_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")

_CACHE_SIZE = 4096
_cache: OrderedDict[tuple, bool] = OrderedDict()
_cache_lock = threading.Lock()


def normalize_math(text: str) -> str:
    """A canonical spelling of a math answer for string comparison (not for display).

    Drops ``$``/``\\(``/``\\[`` delimiters, ``\\left``/``\\right``, thin spaces, degree signs and all whitespace,
    maps ``\\dfrac``/``\\tfrac`` to ``\\frac`` and ``\\%`` to ``%``, and removes a final full stop.
    """
    s = text.strip()
    if len(s) > MAX_CANDIDATE_CHARS:
        s = s[-MAX_CANDIDATE_CHARS:]
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\%", "%")
    s = _NORMALISE_DROP.sub("", s)
    return s.rstrip(".")


def parse_number(text: str) -> tuple[Fraction, bool] | None:
    """``(value, exact)`` for a plain number in normalised form, else ``None``.

    Accepts integers, decimals with optional thousands separators (``1,680``), ``a/b`` and ``\\frac{a}{b}``.
    ``exact`` is ``False`` for decimals (they may be roundings of irrational values).
    """
    if not text or len(text) > _MAX_NUMBER_CHARS or not _DIGIT_RE.search(text):
        return None
    if _DEC_RE.fullmatch(text):
        return Fraction(text.replace(",", "")), "." not in text
    m = _SLASH_RE.fullmatch(text)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2))), True
    m = _FRAC_RE.fullmatch(text)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return (-value if m.group(1) == "-" else value), True
    return None


def fast_equal(gold: str, pred: str) -> bool | None:
    """Decide ``pred == gold`` without sympy when that is safe; ``None`` means "ask math-verify".

    True when the normalised spellings agree or both are the same number; False when both are plain
    numbers that clearly differ, when the prediction is empty, or when the gold answer is a plain number
    and the prediction contains no digit at all.
    """
    g, p = normalize_math(gold), normalize_math(pred)
    if not p:
        return False
    if g == p:
        return True
    gn, pn = parse_number(g), parse_number(p)
    if gn is not None and pn is not None:
        if gn[0] == pn[0]:
            return True
        if gn[1] and pn[1]:
            return False
        scale = max(abs(gn[0]), abs(pn[0]), Fraction(1))
        if abs(gn[0] - pn[0]) > scale / 1000:
            return False
        return None  # close decimals: math-verify's rounding rule decides
    if gn is not None and gn[1] and not _DIGIT_RE.search(p):
        return False
    return None


def math_equal_many(golds: list[str], pred: str, settings: VerifySettings) -> tuple[list[bool], bool]:
    """Whether ``pred`` equals each of ``golds``, and whether the time limit cut the check short.

    The fast path decides what it can; the rest goes to one guarded helper call (cached per process).
    """
    out: list[bool | None] = [fast_equal(g, pred) for g in golds]
    pending = [i for i, v in enumerate(out) if v is None]
    timed_out = False
    if pending:
        keys = {i: (golds[i], pred, settings.use_mathruler) for i in pending}
        with _cache_lock:
            for i in list(pending):
                if keys[i] in _cache:
                    _cache.move_to_end(keys[i])
                    out[i] = _cache[keys[i]]
        pending = [i for i in pending if out[i] is None]
    if pending:
        res = run_guarded(
            "math_equal",
            {"gold": [golds[i] for i in pending], "pred": pred, "mathruler": settings.use_mathruler},
            settings.timeout_s,
        )
        if res.ok and isinstance(res.value, list) and len(res.value) == len(pending):
            with _cache_lock:
                for i, v in zip(pending, res.value):
                    out[i] = bool(v)
                    _cache[(golds[i], pred, settings.use_mathruler)] = bool(v)
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        else:
            timed_out = res.timed_out
            for i in pending:
                out[i] = False
    return [bool(v) for v in out], timed_out


def math_equal(gold: str, pred: str, settings: VerifySettings) -> tuple[bool, bool]:
    """``(equal, timed_out)`` for one gold answer; see :func:`math_equal_many`."""
    values, timed_out = math_equal_many([gold], pred, settings)
    return values[0], timed_out


def clear_cache() -> None:
    """Forget remembered slow-path verdicts (benchmarks call this between runs)."""
    with _cache_lock:
        _cache.clear()


def gold_answer(ground_truth: str) -> str:
    """The reference answer inside ``ground_truth`` (its ``\\boxed{}`` content when it has one)."""
    gt = ground_truth.strip()
    if "\\boxed" in gt or "\\fbox" in gt:
        inner = last_boxed(gt)
        if inner is not None:
            return inner
    return gt


def unwrap_boxed(text: str) -> str:
    """``\\boxed{\\boxed{x}}`` -> ``x`` (a few levels deep)."""
    for _ in range(4):
        s = text.strip()
        if not (s.startswith("\\boxed") or s.startswith("\\fbox")):
            break
        inner = last_boxed(s)
        if inner is None or inner == s:
            break
        text = inner
    return text


def check_math(response: str, ground_truth: str, settings: VerifySettings) -> CheckResult:
    """Judge a math response against its reference answer.

    Args:
        response: the decoded model output.
        ground_truth: the reference answer (LaTeX or plain; a ``\\boxed{}`` in it is unwrapped).
        settings: time limit, tail length, mathruler fallback.
    """
    ext = extract_answer(response, settings.max_response_chars)
    if not ext.found:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    pred = unwrap_boxed(ext.text)
    equal, timed_out = math_equal(gold_answer(ground_truth), pred, settings)
    return CheckResult(correct=equal, score=float(equal), pred=pred, extracted=True, timed_out=timed_out)


# ----------------------------------------------------------------------------------------------------------
# Helper-process side (never called in the caller's process by the package itself).


@lru_cache(maxsize=1)
def _configs():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(), ExprExtractionConfig()]


@lru_cache(maxsize=256)
def _parse_variants(text: str) -> tuple:
    """math-verify parses of ``text``: as LaTeX math (wrapped in ``$…$``) and, for prose, as it is."""
    from math_verify import parse

    variants = []
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        wrapped = parse(f"${text}$", extraction_config=_configs(), parsing_timeout=None)
        if wrapped:
            variants.append(wrapped)
    if not variants or _PROSE_RE.search(text):
        raw = parse(text, extraction_config=_configs(), parsing_timeout=None)
        if raw:
            variants.append(raw)
    return tuple(variants)


def slow_equal_many(golds: list[str], pred: str, use_mathruler: bool = True) -> list[bool]:
    """math-verify (then mathruler) equality of ``pred`` with each gold answer. Runs in the helper process.

    math-verify's own timeouts are disabled (``parsing_timeout=None``, ``timeout_seconds=None``): the caller's
    guard kills the helper instead, which works from any thread.
    """
    from math_verify import verify

    pred_variants = _parse_variants(pred)
    out = []
    for gold in golds:
        equal = False
        for g in _parse_variants(gold):
            if any(verify(g, p, timeout_seconds=None) for p in pred_variants):
                equal = True
                break
        if not equal and use_mathruler:
            from mathruler.grader import grade_answer

            equal = bool(grade_answer(pred, gold))
        out.append(equal)
    return out


def warm_up() -> None:
    """Import and exercise math-verify and mathruler once (the helper does this before it reports ready)."""
    slow_equal_many(["\\frac{1}{2}"], "0.5")
    _parse_variants.cache_clear()
