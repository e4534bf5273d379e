"""Math answers from the real MATH-Vision and Geometry3K samples."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from verl_difficulty.verify import VerifySettings, check_math, compute_score
from verl_difficulty.verify.math_answer import fast_equal, math_equal, parse_number

S = VerifySettings()


def r1(answer: str) -> str:
    return f"<think>I computed it.</think><answer>{answer}</answer>"


def _rewrites(ans: str) -> list[str]:
    """Equivalent spellings of a MATH-V free-form answer."""
    if re.fullmatch(r"-?\d+", ans):
        return [ans, f"{ans}.0", f"${ans}$", f"\\boxed{{{ans}}}", f"The answer is {ans}."]
    if re.fullmatch(r"-?\d+\.\d+", ans):
        f = Fraction(ans)
        return [ans, f"\\frac{{{f.numerator}}}{{{f.denominator}}}", f"{f.numerator}/{f.denominator}"]
    m = re.fullmatch(r"\((-?\d+),(-?\d+)\)", ans)
    if m:
        return [ans, f"({m.group(1)}, {m.group(2)})", f"\\left({m.group(1)},{m.group(2)}\\right)"]
    raise AssertionError(f"no rewrite rule for {ans!r}")


def _wrong(ans: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", ans):
        return str(Fraction(ans) + 1) if "." not in ans else str(float(Fraction(ans) + Fraction(1, 2)))
    m = re.fullmatch(r"\((-?\d+),(-?\d+)\)", ans)
    return f"({m.group(2)},{m.group(1)})"


def test_mathv_free_form_answers_verify_against_rewrites(mathv_rows):
    rows = [r for r in mathv_rows if not r["options"] and not re.fullmatch(r"[A-E]", r["answer"])]
    assert len(rows) > 100
    failures = []
    for row in rows:
        gold = row["answer"]
        for pred in _rewrites(gold):
            res = check_math(r1(pred), gold, S)
            if not res.correct:
                failures.append((row["id"], gold, pred))
        wrong = _wrong(gold)
        if check_math(r1(wrong), gold, S).correct:
            failures.append((row["id"], gold, "WRONG ACCEPTED " + wrong))
    assert failures == []


def test_mathv_lettered_answer_without_options_is_a_letter(mathv_rows):
    rows = [r for r in mathv_rows if not r["options"] and re.fullmatch(r"[A-E]", r["answer"])]
    assert rows, "MATH-V testmini has a free-form row whose answer is a letter"
    for row in rows:
        info = {"task": "math", "options": []}
        assert compute_score("mathv", r1(f"({row['answer']})"), row["answer"], info)["acc"] == 1.0
        other = "A" if row["answer"] != "A" else "B"
        assert compute_score("mathv", r1(other), row["answer"], info)["acc"] == 0.0


def test_geometry3k_spaced_latex_choices(geo3k_problems):
    """Every choice (spaced LaTeX such as ``5 \\sqrt { 3 }``) equals its compact spelling and no other choice."""
    assert len(geo3k_problems) == 10
    checked = 0
    for prob in geo3k_problems:
        choices, values = prob["choices"], prob["precise_value"]
        for i, gold in enumerate(choices):
            compact = re.sub(r"\s+", "", gold)
            assert check_math(r1(compact), gold, S).correct, (prob["id"], gold, compact)
            assert check_math(f"so \\boxed{{{gold}}}", gold, S).correct
            for j, other in enumerate(choices):
                if abs(values[j] - values[i]) > 1e-9:
                    assert not check_math(r1(other), gold, S).correct, (prob["id"], gold, other)
            checked += 1
    assert checked == 40


def test_geometry3k_decimal_policy(geo3k_problems):
    """Decimals follow math-verify: equal after rounding to 6 places, so 8.660254 is 5 sqrt 3 but 8.66 is not."""
    prob = next(p for p in geo3k_problems if "5 \\sqrt { 3 }" in p["choices"])
    gold = prob["choices"][prob["choices"].index("5 \\sqrt { 3 }")]
    assert check_math(r1("5\\sqrt{3}"), gold, S).correct
    assert check_math(r1("\\sqrt{75}"), gold, S).correct
    assert check_math(r1("8.660254"), gold, S).correct
    assert not check_math(r1("8.66"), gold, S).correct
    assert not check_math(r1("5\\sqrt{2}"), gold, S).correct
    frac = next(p for p in geo3k_problems if any("\\frac" in c for c in p["choices"]))
    gold = frac["choices"][ord(frac["answer"]) - ord("A")]
    assert check_math(r1("\\frac{2\\sqrt{2}}{5}"), "\\frac { 2 \\sqrt { 2 } } { 5 }", S).correct
    assert check_math(r1(re.sub(r"\s+", "", gold)), gold, S).correct


@pytest.mark.parametrize(
    "gold, pred, equal",
    [
        ("30\\%", "30%", True),
        ("30\\%", "30", True),
        ("90^{\\circ}", "90", True),
        ("90^{\\circ}", "90°", True),
        ("6 \\mathrm{~m}", "6", True),
        ("6 \\mathrm{~m}", "7", False),
        ("[1,2)", "[1, 2)", True),
        ("[1,2)", "(1, 2)", False),
        ("x=3", "3", True),
        ("1680", "1,680", True),
        ("\\frac{1}{2}", "0.5", True),
        ("\\dfrac{3}{4}", "\\frac34", True),
        ("2:1", "2:1", True),
        ("\\pi", "3.14", False),
        ("6", "six", False),
    ],
)
def test_math_equivalences(gold, pred, equal):
    assert math_equal(gold, pred, S) == (equal, False)


def test_fast_path_decides_plain_numbers_without_the_helper():
    assert parse_number("1,680") == (Fraction(1680), True)
    assert parse_number("-\\frac{3}{4}") == (Fraction(-3, 4), True)
    assert parse_number("2.50") == (Fraction(5, 2), False)
    assert fast_equal("24/5", "4.8") is True
    assert fast_equal("61", "62") is False
    assert fast_equal("61", "blue") is False
    assert fast_equal("5\\sqrt{3}", "8.66") is None  # needs math-verify
    assert fast_equal("3", "") is False


def test_no_answer_is_wrong_and_not_extracted():
    res = check_math("", "3", S)
    assert (res.correct, res.extracted) == (False, False)
