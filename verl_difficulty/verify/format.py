"""The R1 response format: ``<think>…</think><answer>…</answer>``, each tag exactly once, nothing after."""

from __future__ import annotations

from verl_difficulty.verify.extract import as_text

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def format_ok(response: object) -> bool:
    """Whether ``response`` is exactly ``<think>…</think>`` + optional whitespace + ``<answer>…</answer>``.

    Each of the four tags must appear exactly once, in that order; only whitespace may surround the whole
    (a chat template's newline) or separate ``</think>`` from ``<answer>``. The answer must not be empty.
    Tags are case-sensitive, as the system prompt spells them. Runs in linear time (no regular expression).

    Args:
        response: the decoded model output.
    """
    s = as_text(response).strip()
    if not (s.startswith("<think>") and s.endswith("</answer>")):
        return False
    if any(s.count(tag) != 1 for tag in _TAGS):
        return False
    think_end = s.index("</think>")
    answer_start = s.index("<answer>")
    if answer_start < think_end:
        return False
    if s[think_end + len("</think>") : answer_start].strip():
        return False
    return bool(s[answer_start + len("<answer>") : -len("</answer>")].strip())
