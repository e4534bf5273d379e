"""OCR words from the MMOCR crops and counting answers."""

from __future__ import annotations

import pytest

from verl_difficulty.verify import VerifySettings, check_counting, check_ocr, compute_score
from verl_difficulty.verify.counting import parse_count
from verl_difficulty.verify.ocr import normalize_ocr, ocr_match

EXACT = VerifySettings()
LENIENT = VerifySettings(ocr_lenient=True)


def r1(answer: str) -> str:
    return f"<think>Reading the image.</think><answer>{answer}</answer>"


def test_every_word_matches_itself_in_common_spellings(ocr_words):
    assert len(ocr_words) == 10
    for word in ocr_words:
        for spelling in (word, word.lower(), f'"{word}"', f"{word}.", f"The answer is {word}", f" {word.upper()} "):
            assert check_ocr(r1(spelling), word, EXACT).correct, (word, spelling)


def test_other_words_do_not_match(ocr_words):
    for word in ocr_words:
        for other in ocr_words:
            if normalize_ocr(other) != normalize_ocr(word):
                assert not check_ocr(r1(other), word, EXACT).correct, (word, other)


def test_punctuation_and_spacing_are_ignored(ocr_words):
    date = next(w for w in ocr_words if "/" in w)  # 03/09/2009
    assert check_ocr(r1("03.09.2009"), date, EXACT).correct
    assert check_ocr(r1("03 09 2009"), date, EXACT).correct
    assert not check_ocr(r1("03/09/2010"), date, EXACT).correct


def test_lenient_mode_is_the_papers_rule(ocr_words):
    word = "DAVIDSON"
    assert word in ocr_words
    sentence = r1(f"The sign says {word} in large letters")
    assert not check_ocr(sentence, word, EXACT).correct
    assert check_ocr(sentence, word, LENIENT).correct  # truth is a substring of the prediction
    assert check_ocr(r1("DAVID"), word, LENIENT).correct  # prediction is a substring of the truth
    assert check_ocr(r1("DAVIDSEN"), word, LENIENT).correct  # similarity 0.875
    assert not check_ocr(r1("HOTEL"), word, LENIENT).correct
    assert not check_ocr(r1(""), word, LENIENT).correct
    ok, ratio = ocr_match("DAVIDSEN", word, lenient=False)
    assert not ok and ratio == pytest.approx(0.875)


def test_lenient_setting_through_compute_score(ocr_words):
    info = {"task": "ocr"}
    out = compute_score("ocr_words", r1("word: ATTACK!"), "ATTACK", info)
    assert out["acc"] == 0.0
    out = compute_score("ocr_words", r1("word: ATTACK!"), "ATTACK", info, ocr_lenient=True)
    assert out["acc"] == 1.0


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("There are 3 cats.", 3),
        ("I count 2 rows of 3", 2),
        ("twelve", 12),
        ("Twenty-one", 21),
        ("one hundred and five", 105),
        ("a dozen", 12),
        ("none", 0),
        ("1,200", 1200),
        ("no number here", None),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


def test_counting_on_mathv_counting_answers(mathv_rows):
    rows = [r for r in mathv_rows if r["subject"] == "counting" and r["answer"].isdigit()]
    assert len(rows) >= 5
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    for row in rows:
        n = int(row["answer"])
        assert check_counting(r1(f"There are {n} of them"), row["answer"], EXACT).correct
        assert not check_counting(r1(f"There are {n + 1} of them"), row["answer"], EXACT).correct
        if n < len(words):
            assert check_counting(r1(words[n]), row["answer"], EXACT).correct
    assert not check_counting(r1("3.5"), "3", EXACT).correct
    assert not check_counting(r1("many"), "3", EXACT).extracted
