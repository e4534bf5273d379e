"""Grounding answers: boxes ``[x1, y1, x2, y2]``, one-to-one matching, area-weighted mean IoU.

Parsing: the answer (``<answer>`` content, else the response's last fenced block or final line) is read as JSON
when it is JSON, otherwise scanned for ``[x1, y1, x2, y2]`` groups. Accepted shapes: a box, a list of boxes,
``{"bbox_2d": [...]}`` dicts and lists of them (Qwen2.5-VL's output, also inside a ```json fence), with keys
``bbox_2d``, ``bbox``, ``box`` or ``bounding_box``. Coordinates are absolute pixels of the image the model saw,
as in the ground truth; nothing is rescaled.

Score: predicted and true boxes are matched one-to-one to maximise the summed IoU (exact Hungarian algorithm,
pure Python; scipy is not a dependency). The area-weighted mean IoU is

    sum(area(t) * IoU(p, t) over matched pairs) / (sum(area(t) over true boxes) + sum(area(p) over unmatched p))

so a missed true box counts as IoU 0 with its area as weight, and so does every predicted box left unmatched.
``correct`` needs this mean to reach ``iou_threshold``; with ``grounding_match_all`` (default) every true box
must also be matched at ``iou_threshold`` or better, because every listed box is an instance to find: finding
one of two instances is not enough even when it is the larger one.

Limits: at most :data:`MAX_BOXES` predicted boxes are matched; an answer with more scores 0.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from verl_difficulty.verify.extract import as_text, final_line, last_answer_tag, strip_code_fence, tail
from verl_difficulty.verify.settings import CheckResult, VerifySettings

#: Most predicted boxes an answer may contain (more scores 0: a box spray is not an answer).
MAX_BOXES = 50
#: Longest answer text parsed for boxes.
MAX_BOX_TEXT = 65_536
_BOX_KEYS = ("bbox_2d", "bbox", "box", "bounding_box")
_NUM = r"-?\d{1,9}(?:\.\d{1,9})?"
_BOX_RE = re.compile(
    rf"\[\s{{0,8}}({_NUM})\s{{0,8}},\s{{0,8}}({_NUM})\s{{0,8}},\s{{0,8}}({_NUM})\s{{0,8}},"
    rf"\s{{0,8}}({_NUM})\s{{0,8}}\]"
)
_FENCE = "```"

Box = tuple[float, float, float, float]


def _as_box(value: Any) -> Box | None:
    if isinstance(value, (list, tuple)) and len(value) == 4:
        try:
            box = tuple(float(v) for v in value if not isinstance(v, (bool, str, list, dict)))
        except (TypeError, ValueError, OverflowError):
            return None
        if len(box) == 4 and all(math.isfinite(v) for v in box):
            return box  # type: ignore[return-value]
    return None


def _walk(obj: Any, out: list[Box], depth: int, limit: int) -> None:
    if depth > 8 or len(out) > limit:
        return
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        obj = obj.tolist()
    box = _as_box(obj)
    if box is not None:
        out.append(box)
        return
    if isinstance(obj, dict):
        for key in _BOX_KEYS:
            if key in obj:
                _walk(obj[key], out, depth + 1, limit)
                return
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _walk(item, out, depth + 1, limit)
            if len(out) > limit:
                return


def parse_boxes(value: Any, limit: int = 10_000) -> list[Box]:
    """All boxes in ``value``: a JSON/Python structure, or text holding JSON or ``[x1, y1, x2, y2]`` groups.

    Never raises; returns at most ``limit + 1`` boxes (so callers can tell "too many").
    """
    out: list[Box] = []
    if not isinstance(value, (str, bytes, bytearray)):
        _walk(value, out, 0, limit)
        return out
    text = strip_code_fence(as_text(value))[:MAX_BOX_TEXT]
    if text[:1] in "[{":
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if parsed is not None:
            _walk(parsed, out, 0, limit)
            return out
    for m in _BOX_RE.finditer(text):
        box = _as_box([float(g) for g in m.groups()])
        if box is not None:
            out.append(box)
        if len(out) > limit:
            break
    return out


def answer_text(response: str, max_chars: int) -> tuple[str, bool]:
    """The part of a response that holds the boxes: ``<answer>`` content, else the last fenced block,
    else the final line. Returns ``(text, found)``."""
    text = tail(as_text(response), max_chars)
    tagged = last_answer_tag(text)
    if tagged is not None:
        return tagged, bool(tagged)
    end = text.rfind(_FENCE)
    start = text.rfind(_FENCE, 0, end) if end > 0 else -1
    if start >= 0:
        return text[start : end + len(_FENCE)], True
    line = final_line(text)
    return line, bool(line)


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes (0 for empty boxes)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def hungarian_max(weights: list[list[float]]) -> list[int]:
    """Assignment maximising the summed weight: ``result[row] = column`` (or ``-1``), rows <= columns or not.

    The O(n^3) shortest-augmenting-path Hungarian algorithm on a square zero-padded cost matrix.
    """
    n_rows = len(weights)
    n_cols = len(weights[0]) if n_rows else 0
    n = max(n_rows, n_cols)
    if n == 0:
        return []
    big = max((w for row in weights for w in row), default=0.0)
    cost = [[(big - weights[i][j]) if i < n_rows and j < n_cols else big for j in range(n)] for i in range(n)]
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (n + 1)
    p = [0] * (n + 1)  # p[col] = row matched to col (1-based), 0 = none
    way = [0] * (n + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (n + 1)
        used = [False] * (n + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, n + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    result = [-1] * n_rows
    for j in range(1, n + 1):
        i = p[j] - 1
        if 0 <= i < n_rows and j - 1 < n_cols:
            result[i] = j - 1
    return result


def match_boxes(pred: list[Box], truth: list[Box]) -> tuple[float, list[float]]:
    """``(area-weighted mean IoU, IoU of each true box with its match or 0)`` for a one-to-one matching."""
    if not truth:
        return (1.0 if not pred else 0.0), []
    if not pred:
        return 0.0, [0.0] * len(truth)
    ious = [[iou(t, p) for p in pred] for t in truth]
    assignment = hungarian_max(ious)
    per_truth = [ious[i][j] if j >= 0 else 0.0 for i, j in enumerate(assignment)]
    matched_pred = {j for i, j in enumerate(assignment) if j >= 0 and ious[i][j] > 0}
    numerator = sum(area(t) * v for t, v in zip(truth, per_truth))
    denominator = sum(area(t) for t in truth) + sum(area(p) for j, p in enumerate(pred) if j not in matched_pred)
    return (numerator / denominator if denominator > 0 else 0.0), per_truth


def check_grounding(response: str, ground_truth: Any, settings: VerifySettings) -> CheckResult:
    """Judge a grounding response against the true boxes.

    Args:
        response: the decoded model output.
        ground_truth: the true boxes: JSON text ``[[x1, y1, x2, y2], ...]`` (or the same as a list / array).
        settings: ``iou_threshold``, ``grounding_match_all`` and the tail length.
    """
    text, found = answer_text(response, settings.max_response_chars)
    pred = parse_boxes(text, limit=MAX_BOXES) if found else []
    truth = parse_boxes(ground_truth)
    if not pred:
        return CheckResult(correct=False, score=0.0, pred="", extracted=False)
    shown = json.dumps([[round(c, 2) for c in b] for b in pred[:MAX_BOXES]])
    if len(pred) > MAX_BOXES:
        return CheckResult(correct=False, score=0.0, pred=shown, extracted=True)
    mean_iou, per_truth = match_boxes(pred, truth)
    thr = settings.iou_threshold
    correct = bool(truth) and mean_iou >= thr
    if correct and settings.grounding_match_all:
        correct = all(v >= thr for v in per_truth)
    return CheckResult(correct=correct, score=float(min(1.0, max(0.0, mean_iou))), pred=shown, extracted=True)
