"""Answer extraction and the R1 format check."""

from __future__ import annotations

import time

import pytest

from verl_difficulty.verify.extract import extract_answer, final_line, last_answer_tag, last_boxed
from verl_difficulty.verify.format import format_ok


@pytest.mark.parametrize(
    "response, text, source",
    [
        ("<think>so 2+2</think><answer>4</answer>", "4", "answer_tag"),
        ("<think>a</think><answer>first</answer> oops <answer>second</answer>", "second", "answer_tag"),
        ("<think>x</think><answer>The result is \\boxed{\\frac{1}{2}}.</answer>", "\\frac{1}{2}", "boxed"),
        ("We get \\boxed{\\frac{\\sqrt{2}}{10}} in the end.", "\\frac{\\sqrt{2}}{10}", "boxed"),
        ("\\boxed{1} then corrected to \\boxed{2}", "2", "boxed"),
        ("\\boxed{a} and a broken \\boxed{b", "a", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("Let me think.\nThe answer is B.\n\n", "B", "final_line"),
        ("work\nTherefore, the final answer is: 12", "12", "final_line"),
        ("<ANSWER>case</Answer>", "case", "answer_tag"),
        ("", "", "none"),
        ("  \n \n", "", "none"),
    ],
)
def test_extract_answer(response, text, source):
    ext = extract_answer(response)
    assert (ext.text, ext.source) == (text, source)
    assert ext.found == bool(text)


def test_nested_boxed_braces():
    assert last_boxed("\\boxed{\\left\\{ x \\mid x^{2} > 1 \\right\\}}") == "\\left\\{ x \\mid x^{2} > 1 \\right\\}"
    assert last_boxed("\\boxed{}") == ""
    assert last_boxed("no box") is None


def test_answer_tag_needs_closing():
    assert last_answer_tag("<answer> truncated") is None
    assert last_answer_tag("</answer><answer>") is None


def test_final_line_skips_blank_lines():
    assert final_line("a\nb\n  \n\n") == "b"


def test_only_the_tail_is_searched():
    response = "<answer>early</answer>" + "x" * 100 + "\nlast line"
    assert extract_answer(response, max_chars=20).text == "last line"
    assert extract_answer(response, max_chars=0).source == "answer_tag"


def test_unclosed_boxed_many_times_is_linear():
    t0 = time.perf_counter()
    ext = extract_answer("\\boxed{" * 10_000 + "5")
    assert time.perf_counter() - t0 < 1.0
    assert ext.source == "final_line"


@pytest.mark.parametrize(
    "response, ok",
    [
        ("<think>reasoning</think><answer>42</answer>", True),
        ("\n<think>r</think>\n\n<answer> 42 </answer>\n", True),
        ("<think></think><answer>42</answer>", True),
        ("<think>r</think><answer>42</answer> extra", False),
        ("<think>r</think> text <answer>42</answer>", False),
        ("<answer>42</answer><think>r</think>", False),
        ("<think>r</think><answer>1</answer><answer>2</answer>", False),
        ("<think>r<think>r</think><answer>42</answer>", False),
        ("<think>r</think><answer>  </answer>", False),
        ("The answer is 42", False),
        ("prefix<think>r</think><answer>42</answer>", False),
    ],
)
def test_format(response, ok):
    assert format_ok(response) is ok
