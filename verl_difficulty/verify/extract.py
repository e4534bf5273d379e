"""Answer extraction from a model response: ``<answer>`` tags, ``\\boxed{}``, final-line fallback.

Every function here runs in time linear in its (bounded) input and never uses a regular expression that can
backtrack on the response: tags are found with ``str.rfind``, braces are matched with a one-pass scanner over
the brace characters only, and the final line is found by splitting from the right.

Only the tail of a response is searched (:data:`DEFAULT_MAX_CHARS` characters by default): the answer of an
R1-style response is at its end, and bounding the input bounds the time spent on a multi-megabyte output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: How many characters from the end of a response are searched for an answer.
DEFAULT_MAX_CHARS = 32_768
#: Longest candidate answer handed to a checker (longer ones are cut to their last characters).
MAX_CANDIDATE_CHARS = 4_096

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{|[{}]")
# Unambiguous pieces only (each optional part starts with a distinct literal), so a failed match cannot
# backtrack over runs of whitespace.
_LEADIN_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\b[\s,]*)?(?:the\s+)?(?:final\s+)?(?:correct\s+)?"
    r"(?:answer|result|solution)\b[\s:=]*(?:is\b)?[\s:]*",
    re.IGNORECASE,
)
_FENCE_RE = re.compile(r"^```[A-Za-z0-9_+-]{0,16}\s*\n?|\n?```\s*$")


@dataclass(frozen=True)
class Extraction:
    """The candidate answer found in a response.

    Attributes:
        text: the candidate answer (stripped), ``""`` when nothing was found.
        source: where it came from: ``"answer_tag"``, ``"boxed"`` (also ``\\boxed`` inside an answer tag),
            ``"final_line"`` or ``"none"``.
    """

    text: str
    source: str

    @property
    def found(self) -> bool:
        return bool(self.text) and self.source != "none"


def as_text(value: object) -> str:
    """``value`` as a ``str``: bytes are decoded as UTF-8 (replacing errors), ``None`` becomes ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def tail(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The last ``max_chars`` characters of ``text`` (all of it when shorter)."""
    if max_chars > 0 and len(text) > max_chars:
        return text[-max_chars:]
    return text


def last_answer_tag(text: str) -> str | None:
    """Content of the last closed ``<answer>…</answer>`` pair in ``text`` (stripped), or ``None``.

    The closing tag found last wins; its opening tag is the last ``<answer>`` before it. Tags are matched
    case-insensitively.
    """
    low = text.lower()
    end = low.rfind("</answer>")
    if end < 0:
        return None
    start = low.rfind("<answer>", 0, end)
    if start < 0:
        return None
    return text[start + len("<answer>") : end].strip()


def last_boxed(text: str) -> str | None:
    """Content of the last closed ``\\boxed{…}`` (or ``\\fbox{…}``) in ``text``, nested braces allowed.

    One pass over the brace characters with a stack: every ``\\boxed{`` that gets closed is recorded, and the
    one that closes last (the outermost of the last group) is returned. Unclosed ``\\boxed{`` openings are
    ignored, so a truncated or adversarial response costs one linear scan.
    """
    if "box" not in text:
        return None
    stack: list[int] = []  # content start for a \boxed{ opening, -1 for a plain brace
    best: tuple[int, int] | None = None
    for m in _BOXED_RE.finditer(text):
        tok = m.group()
        if tok == "}":
            if stack:
                start = stack.pop()
                if start >= 0:
                    best = (start, m.start())
        else:
            stack.append(m.end() if tok != "{" else -1)
    if best is None:
        return None
    return text[best[0] : best[1]].strip()


def final_line(text: str) -> str:
    """The last non-empty line of ``text`` (stripped), ``""`` when there is none."""
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end)
        line = text[start + 1 : end].strip()
        if line:
            return line
        end = max(start, 0)
    return ""


def strip_leadin(text: str) -> str:
    """Drop a leading "The answer is" / "Answer:" / "Therefore, the final answer is" and a final full stop."""
    out = _LEADIN_RE.sub("", text, count=1).strip() if len(text) <= MAX_CANDIDATE_CHARS else text
    if out.endswith(".") and not out.endswith(".."):
        out = out[:-1].rstrip()
    return out or text


def strip_code_fence(text: str) -> str:
    """Remove a surrounding Markdown code fence (```json … ```) from ``text``."""
    s = text.strip()
    if s.startswith("```"):
        s = _FENCE_RE.sub("", s).strip()
    return s


def extract_answer(response: object, max_chars: int = DEFAULT_MAX_CHARS, *, prefer_boxed: bool = True) -> Extraction:
    """Find the candidate answer in a model response.

    Order: the last ``<answer>…</answer>`` (and a ``\\boxed{}`` inside it when ``prefer_boxed``), else the last
    ``\\boxed{}``, else the last non-empty line. A leading "The answer is" / "Answer:" and a final full stop
    are removed from tag contents and final lines.

    Args:
        response: the decoded response (``str``; bytes and ``None`` are accepted).
        max_chars: only the last ``max_chars`` characters are searched (``<= 0``: all of it).
        prefer_boxed: look for ``\\boxed{}`` inside the answer tag (math answers); grounding and OCR answers
            take the tag content as it is.
    """
    text = tail(as_text(response), max_chars)
    tagged = last_answer_tag(text)
    if tagged is not None:
        if prefer_boxed:
            boxed = last_boxed(tagged)
            if boxed is not None:
                return Extraction(_cap(boxed), "boxed")
        return Extraction(_cap(strip_leadin(tagged)), "answer_tag")
    boxed = last_boxed(text)
    if boxed is not None:
        return Extraction(_cap(boxed), "boxed")
    line = final_line(text)
    if line:
        return Extraction(_cap(strip_leadin(line)), "final_line")
    return Extraction("", "none")


def _cap(text: str) -> str:
    return text[-MAX_CANDIDATE_CHARS:] if len(text) > MAX_CANDIDATE_CHARS else text
