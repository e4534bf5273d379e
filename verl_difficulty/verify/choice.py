"""Multiple choice: a letter, or the option text mapped back to its letter with ``extra_info.options``.

A prediction is read as a letter in this order (first rule that applies wins):

1. the whole answer is one letter of the options' range, optionally wrapped: ``B``, ``(B)``, ``B.``, ``b``
   (a letter that is also another option's text, as in options ``A, C, C, D``, reads as a letter);
2. the whole answer is the text of an option (after normalisation: case, spacing, ``$``, ``\\text{}``,
   degree signs), e.g. ``30°`` -> the letter of option ``$30^{\\circ}$``;
3. it starts with a letter and a delimiter: ``(B) 30``, ``B. 30``, ``B) …``, ``B: …``;
4. it says so: ``Answer: B``, ``the answer is (B)``, ``option B``, ``choice b.``;
5. it starts with ``B`` and a space and the rest is option B's text;
6. it is mathematically equal (math-verify, guarded) to exactly one option text, e.g. ``1/3`` -> ``\\frac{1}{3}``.

Letters are ``A``, ``B``, … in option order. The ground truth may be a letter or an option's text; a ground
truth that matches no option (rows without options) is compared as a math answer.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from verl_difficulty.verify.extract import extract_answer
from verl_difficulty.verify.math_answer import math_equal, math_equal_many, normalize_math, unwrap_boxed
from verl_difficulty.verify.settings import CheckResult, VerifySettings

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_BARE_RE = re.compile(r"\(?\s*([A-Za-z])\s*\)?\s*[.:)]?")
_PUNCT_PREFIX_RE = re.compile(r"(?:\(([A-Z])\)|([A-Z])[.:)])")
_SPACE_PREFIX_RE = re.compile(r"([A-Z])\s+(\S.*)", re.DOTALL)
_KEYWORD_RE = re.compile(
    r"(?i:\b(?:answer|option|choice)\b)[^A-Za-z0-9(]{0,8}(?:(?i:is)\b[^A-Za-z0-9(]{0,4})?"
    r"(?:\(([A-Za-z])\)|([A-Z])(?![A-Za-z0-9])|([a-z])(?=\s*[.)]?\s*$))"
)
_WRAPPER_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|textit)\s*\{([^{}]*)\}")


def option_list(options: Any) -> list[str]:
    """``extra_info.options`` as a list of strings (accepts lists, tuples, numpy arrays, JSON text, None)."""
    if options is None:
        return []
    if hasattr(options, "tolist"):
        options = options.tolist()
    if isinstance(options, (bytes, bytearray)):
        options = bytes(options).decode("utf-8", errors="replace")
    if isinstance(options, str):
        s = options.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                parsed = json.loads(s)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(o) for o in parsed]
        return [s]
    if isinstance(options, dict):  # {"A": "...", "B": "..."}
        return [str(options[k]) for k in sorted(options)]
    try:
        return ["" if o is None else str(o) for o in options]
    except TypeError:
        return []


def normalize_option(text: str) -> str:
    """Canonical spelling of an option text: unicode NFKC, ``\\text{}`` unwrapped, math normalisation, casefold."""
    s = unicodedata.normalize("NFKC", text)
    s = _WRAPPER_RE.sub(r"\1", s)
    s = normalize_math(s).casefold()
    return s.strip(".,;:")


def _valid(letter: str, n_options: int) -> bool:
    return n_options == 0 or LETTERS.index(letter) < n_options


def letter_from_text(candidate: str, options: list[str]) -> tuple[str | None, bool]:
    """The letter a candidate answer names, by rules 1-5 of the module docstring, without math-verify.

    Returns ``(letter or None, ambiguous_prefix)``; the flag says rule 6 (math equality) may still apply.
    """
    cand = candidate.strip()
    n = len(options)
    m = _BARE_RE.fullmatch(cand) if len(cand) <= 12 else None
    bare = m.group(1).upper() if m else None
    if bare is not None and _valid(bare, n):
        return bare, False
    norm = normalize_option(cand)
    if norm:
        for i, opt in enumerate(options[: len(LETTERS)]):
            if normalize_option(opt) == norm:
                return LETTERS[i], False
    if bare is not None:  # a letter beyond the options that is no option's text: a (wrong) letter
        return bare, False
    head = cand[:8]
    m = _PUNCT_PREFIX_RE.match(head)
    if m:
        letter = m.group(1) or m.group(2)
        if _valid(letter, n):
            return letter, False
    m = _KEYWORD_RE.search(cand[-512:])
    if m:
        letter = (m.group(1) or m.group(2) or m.group(3)).upper()
        if _valid(letter, n):
            return letter, False
    m = _SPACE_PREFIX_RE.fullmatch(cand[:512])
    if m and n and _valid(m.group(1), n):
        idx = LETTERS.index(m.group(1))
        if normalize_option(m.group(2)) == normalize_option(options[idx]):
            return m.group(1), False
    return None, True


def resolve_letter(candidate: str, options: list[str], settings: VerifySettings) -> tuple[str | None, bool]:
    """The option letter ``candidate`` names, using math equality with the options as the last resort.

    Returns ``(letter or None, timed_out)``.
    """
    letter, maybe_math = letter_from_text(candidate, options)
    if letter is not None or not maybe_math or not options:
        return letter, False
    if not re.search(r"[\d\\]", candidate):
        return None, False
    equal, timed_out = math_equal_many(options[: len(LETTERS)], candidate, settings)
    for i, eq in enumerate(equal):
        if eq:
            return LETTERS[i], timed_out
    return None, timed_out


def gold_letter(ground_truth: str, options: list[str], settings: VerifySettings) -> str | None:
    """The letter of the correct option: the ground truth itself when it is a letter, else its option."""
    gt = ground_truth.strip()
    m = _BARE_RE.fullmatch(gt) if len(gt) <= 12 else None
    if m and m.group(1).isupper() and _valid(m.group(1), len(options)):
        return m.group(1)
    if not options:
        return None
    letter, _ = resolve_letter(gt, options, settings)
    return letter


def check_choice(response: str, ground_truth: str, options: Any, settings: VerifySettings) -> CheckResult:
    """Judge a multiple-choice response.

    Args:
        response: the decoded model output.
        ground_truth: the correct letter (``"B"``) or the correct option's text.
        options: option texts in letter order (``extra_info.options``; list, numpy array or ``None``).
        settings: time limit and tail length.
    """
    opts = option_list(options)
    ext = extract_answer(response, settings.max_response_chars)
    if not ext.found:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    cand = unwrap_boxed(ext.text)
    gold = gold_letter(str(ground_truth), opts, settings)
    pred, timed_out = resolve_letter(cand, opts, settings)
    if gold is not None:
        correct = pred == gold
        return CheckResult(correct, float(correct), pred or "", extracted=True, timed_out=timed_out)
    # The ground truth names no option: compare the answers themselves.
    if normalize_option(cand) == normalize_option(str(ground_truth)):
        return CheckResult(True, 1.0, cand, extracted=True)
    equal, slow = math_equal(str(ground_truth), cand, settings)
    return CheckResult(equal, float(equal), cand, extracted=True, timed_out=timed_out or slow)
