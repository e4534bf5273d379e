"""Difficulty hints: a sentence added to the prompts of hard training samples.

"Unlocking the Potential of Difficulty Prior in RL-based Multimodal Reasoning" (arXiv 2505.13261) gives hard
prompts of its second training stage an explicit hint that the problem is hard and should be reasoned through
and verified. The paper does not publish its wording, so the text is a setting
(``data.difficulty.hints.text``); :data:`DEFAULT_HINT` is this package's choice.

The hint goes into the last user message, after (``append``, default) or before (``prepend``) its text, as
plain text: image placeholders (``<image>``) and the system prompt are untouched. Hints apply to the
training split only; :class:`~verl_difficulty.trainer.dataset.DifficultyDataset` never hints validation.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

#: Used when ``data.difficulty.hints.text`` is not set.
DEFAULT_HINT = (
    "Note: this is a hard problem. Reason through it step by step, check each step, "
    "and verify your final answer before you give it."
)

POSITIONS = ("append", "prepend")


def add_hint(messages: Sequence[dict[str, Any]], text: str, position: str = "append") -> list[dict[str, Any]]:
    """Return a copy of chat ``messages`` with ``text`` added to the last user message.

    ``content`` may be a string (verl's parquet rows: ``"<image>Question"``) or a list of typed parts
    (``[{"type": "image"}, {"type": "text", "text": ...}]``); a list gets a new text part. Raises
    ``ValueError`` when there is no user message.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            message["content"] = f"{content}\n\n{text}" if position == "append" else f"{text}\n\n{content}"
        elif isinstance(content, list):
            parts = copy.copy(content)
            part = {"type": "text", "text": text}
            message["content"] = parts + [part] if position == "append" else [part] + parts
        else:
            raise ValueError(f"cannot add a hint to message content of type {type(content).__name__}")
        return out
    raise ValueError("cannot add a hint: the prompt has no user message")
