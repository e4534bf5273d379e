"""Multiple choice on the real MATH-Vision options and Geometry3K choices."""

from __future__ import annotations

import numpy as np
import pytest

from verl_difficulty.verify import VerifySettings, check_choice, compute_score
from verl_difficulty.verify.choice import LETTERS, letter_from_text, normalize_option, option_list

S = VerifySettings()


def r1(answer: str) -> str:
    return f"<think>Looking at the figure.</think><answer>{answer}</answer>"


def _choice_rows(rows):
    return [r for r in rows if r["options"]]


def test_mathv_letters_in_every_spelling(mathv_rows):
    rows = _choice_rows(mathv_rows)
    assert len(rows) > 150
    bad = []
    for row in rows:
        gold, opts = row["answer"], row["options"]
        for spelling in (gold, f"({gold})", f"{gold}.", gold.lower(), f"Answer: {gold}", f"The answer is ({gold})"):
            if not check_choice(r1(spelling), gold, opts, S).correct:
                bad.append((row["id"], spelling))
        for wrong in LETTERS[: len(opts)]:
            if wrong != gold and check_choice(r1(wrong), gold, opts, S).correct:
                bad.append((row["id"], "accepted wrong letter " + wrong))
    assert bad == []


def test_mathv_option_text_maps_to_its_letter(mathv_rows):
    """Answering with an option's text is judged by the option's letter.

    Two kinds of option lists are ambiguous and skipped: options whose text is itself a letter within range
    (``A, B, C, D, C or D``: "C" is read as the letter C) and duplicate option texts.
    """
    checked = 0
    bad = []
    for row in _choice_rows(mathv_rows):
        gold, opts = row["answer"], row["options"]
        norms = [normalize_option(o) for o in opts]
        for i, text in enumerate(opts):
            letterlike = len(text.strip("() .")) == 1 and text.strip("() .").upper() in LETTERS[: len(opts)]
            if letterlike or norms.count(norms[i]) > 1:
                continue
            expected = LETTERS[i] == gold
            if check_choice(r1(text), gold, opts, S).correct != expected:
                bad.append((row["id"], text, gold))
            checked += 1
    assert checked > 500
    assert bad == []


def test_letter_beyond_range_that_is_an_option_text(mathv_rows):
    row = next(r for r in mathv_rows if r["options"] == ["A", "B", "D", "F", "G"])
    assert row["answer"] == "E"
    assert check_choice(r1("G"), row["answer"], row["options"], S).correct  # the option labelled G is E
    assert not check_choice(r1("F"), row["answer"], row["options"], S).correct


@pytest.mark.parametrize(
    "pred, expected",
    [
        ("30°", "A"),
        ("$30^\\circ$", "A"),
        ("30^{\\circ}", "A"),
        ("(B) 45°", "B"),
        ("B. 45", "B"),
        ("C) 60", "C"),
        ("option d", "D"),
        ("choice D.", "D"),
        ("D 75^{\\circ}", "D"),
    ],
)
def test_option_text_spellings(pred, expected):
    options = ["$30^{\\circ}$", "$45^{\\circ}$", "$60^{\\circ}$", "$75^{\\circ}$", "$90^{\\circ}$"]
    assert letter_from_text(pred, options)[0] == expected


def test_math_equal_option_text_is_mapped_through_math_verify(mathv_rows):
    row = next(r for r in mathv_rows if r["options"][:2] == ["$\\frac{1}{3}$", "$\\frac{5}{4}$"])
    gold = row["answer"]
    gold_text = row["options"][LETTERS.index(gold)]  # $\frac{1}{2}$
    assert gold_text == "$\\frac{1}{2}$"
    assert check_choice(r1("1/2"), gold, row["options"], S).correct
    assert check_choice(r1("0.5"), gold, row["options"], S).correct
    assert not check_choice(r1("1/3"), gold, row["options"], S).correct
    assert not check_choice(r1("0.7"), gold, row["options"], S).correct


def test_ground_truth_given_as_option_text(geo3k_problems):
    for prob in geo3k_problems:
        opts = prob["choices"]
        gold_letter = prob["answer"]
        gold_text = opts[LETTERS.index(gold_letter)]
        assert check_choice(r1(gold_letter), gold_text, opts, S).correct, prob["id"]
        assert check_choice(r1(gold_text.replace(" ", "")), gold_letter, opts, S).correct, prob["id"]
        wrong = LETTERS[(LETTERS.index(gold_letter) + 1) % len(opts)]
        assert not check_choice(r1(wrong), gold_text, opts, S).correct, prob["id"]


def test_options_from_numpy_and_json():
    opts = np.array(["red", "blue", "green"], dtype=object)
    assert option_list(opts) == ["red", "blue", "green"]
    assert option_list('["red", "blue"]') == ["red", "blue"]
    assert option_list(None) == []
    info = {"task": "choice", "options": opts}
    assert compute_score("mathv", r1("Blue"), "B", info)["acc"] == 1.0
    assert compute_score("mathv", r1("green"), "B", info)["acc"] == 0.0


def test_prose_is_not_a_letter():
    options = ["An equilateral triangle", "A rectangle, but not a square", "A right triangle", "A square"]
    assert letter_from_text("A square", options)[0] == "D"
    assert letter_from_text("a triangle", options)[0] is None
    assert not check_choice(r1("I cannot tell"), "A", options, S).correct
