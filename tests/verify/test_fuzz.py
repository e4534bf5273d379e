"""Garbage, huge and adversarial responses: never an exception, never past the time limit plus slack."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verl_difficulty.verify import RESULT_KEYS, compute_score

LIMIT = 0.5
#: Slack above the limit: killing a helper and waiting for its replacement on a busy 2-core machine.
SLACK = 5.0

TASKS = [
    ("math", "5 \\sqrt { 3 }", {"task": "math"}),
    ("choice", "B", {"task": "choice", "options": ["$\\frac{1}{3}$", "$\\frac{1}{2}$", "7", "8"]}),
    ("ocr", "fusionopolis", {"task": "ocr"}),
    ("count", "12", {"task": "counting"}),
    ("ground", "[[58, 71, 194, 123], [221, 72, 312, 118]]", {"task": "grounding"}),
]


def _judge_all(response: str, lenient: bool = False) -> None:
    for data_source, gt, info in TASKS:
        t0 = time.monotonic()
        out = compute_score(data_source, response, gt, info, timeout_s=LIMIT, ocr_lenient=lenient)
        elapsed = time.monotonic() - t0
        assert tuple(out) == RESULT_KEYS
        assert out["error"] == 0.0, (data_source, response[:200])
        assert 0.0 <= out["score"] <= 1.0 and out["acc"] in (0.0, 1.0)
        assert elapsed < LIMIT + SLACK, (data_source, response[:200], elapsed)


FRAGMENTS = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "\\boxed{",
        "}",
        "{",
        "\\frac{",
        "^{",
        "[",
        "]",
        ",",
        "(",
        ")",
        "$",
        "\\sqrt",
        "9",
        "10",
        "0.5",
        "x",
        "=",
        "\n",
        " ",
        "bbox_2d",
        '"',
        ":",
        "A",
        "B",
        "twelve",
        "\\left(",
        "\\right)",
        "!",
        "**",
        "e",
        "\\infty",
        "\x00",
        "\ud7ff",
        "🙂",
        "```json",
        "```",
    ]
)
GARBAGE = st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=60).map("".join))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=GARBAGE, lenient=st.booleans())
def test_garbage(response, lenient):
    _judge_all(response, lenient)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    unit=st.sampled_from(["a", "\\boxed{", "{", "9", "<answer>", "[1,2,3,4],", "\\frac{1}{", " ", "é\n"]),
    megabytes=st.integers(1, 5),
    ending=st.sampled_from(["", "<answer>12</answer>", "\\boxed{5\\sqrt{3}}", "</answer>"]),
)
def test_huge_responses(unit, megabytes, ending):
    response = unit * (megabytes * 1_000_000 // len(unit)) + ending
    _judge_all(response)


ADVERSARIAL = [
    "<answer>10^{10^{10}}</answer>",
    "<answer>9^{9^{9^{9}}}</answer>",
    "<answer>10**10**10</answer>",
    "<answer>9^9^9^9</answer>",
    "<answer>100000!</answer>",
    "<answer>(10^{100})!</answer>",
    "<answer>" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "</answer>",
    "<answer>" + "\\frac{\\frac{\\frac{1}{2}}{3}}{4}" * 300 + "</answer>",
    "<answer>" + "(" * 5000 + "1" + ")" * 5000 + "</answer>",
    "<answer>" + "{" * 20000 + "</answer>",
    "\\boxed{" * 10_000,
    "<answer>" + "\\sqrt{" * 2000 + "2" + "}" * 2000 + "</answer>",
    "<answer>x^{" + "9" * 5000 + "}</answer>",
    "<answer>" + "9" * 100_000 + "</answer>",
    "<answer>(x+1)^{100000}</answer>",
    "<answer>\\sum_{n=1}^{10^{12}} n^{n}</answer>",
    "<answer>\\int_0^1 e^{x^{x^{x}}} dx</answer>",
    "<answer>" + json.dumps([[i, i, i + 10, i + 10] for i in range(200_000)]) + "</answer>",
    "<answer>" + "[" * 100_000 + "]" * 100_000 + "</answer>",
    "<answer>" + '{"bbox_2d": ' * 5000 + "[1,2,3,4]" + "}" * 5000 + "</answer>",
    "<answer>[1e999, 0, -1e999, 5]</answer>",
    "<answer>__import__('os').system('echo pwned')</answer>",
    "<answer>().__class__.__bases__[0].__subclasses__()</answer>",
    "<answer>lambda: 1</answer>",
    "<think>" * 50_000 + "<answer>" * 50_000,
    "<answer>" + "one hundred and " * 10_000 + "</answer>",
    "<answer>" + "A" * 100_000 + "</answer>",
    "<answer>" + "\\text{" * 3000 + "</answer>",
    "so" + " " * 100_000 + "x",
    "<answer>\ud800 3 \udfff</answer>",  # lone surrogates (not valid UTF-8)
    "\x00" * 1000 + "<answer>\x00</answer>",
]


@pytest.mark.parametrize("response", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial(response):
    _judge_all(response)


def test_no_code_is_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    for wrapper in ("<answer>{}</answer>", "\\boxed{{{}}}", "{}"):
        _judge_all(wrapper.format(payload))
    assert not marker.exists()
