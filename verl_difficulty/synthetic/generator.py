"""Procedurally generated perception tasks with controllable, recorded difficulty.

Four tasks, each a pure function of ``(sample id, base seed, settings)``:

``counting``
    Coloured circles, squares and triangles in a one-row strip of cells. "How many red shapes are there?". The
    answer is an integer; the model first writes the running tally cell by cell (``<think>01112223</think>``).
``ocr``
    A short code of capital letters and digits rendered with PIL's built-in font, one character per cell.
    "What is the text in the image?". Normalised exact match.
``grounding``
    One target shape, the only one of its colour, among distractors in the strip. "Where is the blue
    triangle?". The answer is the target's box ``[x1, y1, x2, y2]`` in pixels of the stored image (IoU >= 0.5
    counts); the model first scans the cells up to the target (``<think>0001</think>``).
``math``
    A rendered sum of small numbers such as ``4+2+3``. "What is the value of the expression?". The model first
    works it out (``<think>4+2=6,6+3=9</think>``), then gives the integer answer (math checker).

Difficulty knobs (the same five names for every task, :data:`TASK_KNOBS` gives each range as
``(easiest, hardest)``):

``count``      counting: target objects; ocr: characters; math: numbers in the expression
``size``       shape side / font size in pixels (smaller is harder)
``clutter``    distractor shapes (counting, grounding) or distractor strokes (ocr, math)
``contrast``   1.0 = full colour on the background; lower values blend the ink into the background
``occlusion``  fraction of each object / of the text hidden under a grey bar

For every sample each knob is drawn independently: a hardness ``u`` uniform in ``SynthConfig.difficulty``
(default ``(0, 1)``) maps to ``easiest + u * (hardest - easiest)``. What was drawn is stored in the row's
``extra_info.meta`` (JSON) under ``knobs``, with each knob's realised hardness in ``hardness`` and their mean in
``difficulty`` (0 = easiest, 1 = hardest): a known ground truth of how hard each sample is.

Shapes sit in a one-row strip of ``strip`` 28-pixel cells (one shape per cell, near its centre), so counts are
unambiguous, boxes never overlap and each cell is one Qwen2.5-VL visual token. Every image is one row of cells:
the tiny model reads it left to right, as it reads text (on a 2-D grid it learned neither counting nor
grounding in the same training budget, see ``docs/synthetic.md``). Seeds come from the sample id
(:func:`verl_difficulty.utils.stable_seed`), so a sample is the same whatever order, batch or process makes it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from verl_difficulty.utils import stable_seed

#: Bumped whenever a change to this module changes any generated sample (it is part of the model cache key).
GENERATOR_VERSION = 5

SYNTH_TASKS = ("counting", "ocr", "grounding", "math")
DATA_SOURCE_PREFIX = "synth"
ABILITY = {"counting": "perception", "ocr": "perception", "grounding": "perception", "math": "math"}

#: Ink colours of shapes (full contrast). Names appear in questions.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (20, 160, 50),
    "blue": (30, 70, 225),
    "yellow": (235, 190, 0),
}
KINDS = ("circle", "square", "triangle")
#: Mean background colour; the background is a ramp around it (see :func:`background`).
BACKGROUND = (200, 236, 200)
#: Background tint: levels from the first to the last cell of a row / column (see :func:`background`).
TINT_RANGE = 96
TEXT_INK = (25, 25, 25)
OCCLUDER = (128, 128, 128)
#: OCR alphabet: capitals and digits without look-alikes (0/O, 1/I, 5/S, 2/Z, 8/B) and without the letters the
#: tokenizer merges into pairs (vowels, T, F, D, Y: "TH", "ND", ...), so every character is one token.
OCR_ALPHABET = "CHKLMNPRVX3479"
MATH_OPERATORS = ("+",)
#: Digits of math expressions (small, so that the addition table a tiny model must learn stays small).
MATH_DIGITS = (0, 5)
#: How far (pixels) a shape's centre may move from its grid cell's centre.
JITTER = 2

#: Each knob's (easiest, hardest) value per task.
TASK_KNOBS: dict[str, dict[str, tuple[float, float]]] = {
    "counting": {
        "count": (1, 5),
        "size": (24, 14),
        "clutter": (0, 3),
        "contrast": (1.0, 0.4),
        "occlusion": (0.0, 0.4),
    },
    "grounding": {"size": (24, 14), "clutter": (0, 7), "contrast": (1.0, 0.4), "occlusion": (0.0, 0.4)},
    "ocr": {"count": (1, 4), "size": (24, 14), "clutter": (0, 6), "contrast": (1.0, 0.3), "occlusion": (0.0, 0.35)},
    "math": {"count": (2, 3), "size": (24, 14), "clutter": (0, 6), "contrast": (1.0, 0.3), "occlusion": (0.0, 0.35)},
}
INTEGER_KNOBS = ("count", "size", "clutter")

#: The system message of every synthetic row: the answer format (the paper's ``<answer> </answer>`` tags).
SYNTH_SYSTEM_PROMPT = "Put the final answer inside <answer> </answer>."
#: Extra words after the question, per task (the answer format that the system message does not say).
HINTS = {"grounding": "Give its box in pixels."}


class SynthError(ValueError):
    """A generator setting is invalid; the message names it."""


@dataclass(frozen=True)
class SynthConfig:
    """Generator settings (part of the seeing model's cache key).

    Attributes:
        image_size: side of the square images in pixels; a multiple of 28 (Qwen2.5-VL's merged patch) so the
            processor does not resize them and boxes stay in the pixels the model sees.
        grid: ``image_size / grid`` is the cell side in pixels (default 28: one visual token per cell); text
            lines are at least ``grid`` cells long.
        strip: cells in the one-row strip that counting and grounding shapes sit in (at most one shape per
            cell).
        difficulty: ``(lo, hi)`` in [0, 1]: range of each knob's hardness (``(0, 0.3)`` = easy samples only).
        knobs: per-task overrides of :data:`TASK_KNOBS`, e.g. ``{"counting": {"count": [1, 9]}}``.
        system_prompt: the system message of every row (default :data:`SYNTH_SYSTEM_PROMPT`, which the seeing
            model is trained with); ``None`` = none (the chat template's default system turn).
    """

    image_size: int = 112
    grid: int = 4
    strip: int = 8
    difficulty: tuple[float, float] = (0.0, 1.0)
    knobs: Mapping[str, Mapping[str, Sequence[float]]] = field(default_factory=dict)
    system_prompt: str | None = SYNTH_SYSTEM_PROMPT

    def __post_init__(self):
        if not isinstance(self.image_size, int) or self.image_size < 56 or self.image_size % 28:
            raise SynthError(f"image_size: expected a multiple of 28 >= 56, got {self.image_size!r}")
        if not isinstance(self.grid, int) or not 2 <= self.grid <= self.image_size // 14:
            raise SynthError(f"grid: expected an integer in [2, image_size / 14], got {self.grid!r}")
        if not isinstance(self.strip, int) or not 2 <= self.strip <= 16:
            raise SynthError(f"strip: expected an integer in [2, 16], got {self.strip!r}")
        lo, hi = (float(v) for v in self.difficulty)
        if not 0.0 <= lo <= hi <= 1.0:
            raise SynthError(f"difficulty: expected 0 <= lo <= hi <= 1, got {tuple(self.difficulty)!r}")
        object.__setattr__(self, "difficulty", (lo, hi))
        for task, over in dict(self.knobs).items():
            if task not in TASK_KNOBS:
                raise SynthError(f"knobs: unknown task {task!r} (tasks: {', '.join(SYNTH_TASKS)})")
            for name, rng in dict(over).items():
                if name not in TASK_KNOBS[task]:
                    raise SynthError(f"knobs.{task}: unknown knob {name!r} (knobs: {', '.join(TASK_KNOBS[task])})")
                if len(rng) != 2:
                    raise SynthError(f"knobs.{task}.{name}: expected [easiest, hardest], got {rng!r}")
        for task in TASK_KNOBS:
            self.ranges(task)  # validates the merged ranges

    @property
    def cell(self) -> int:
        return self.image_size // self.grid

    def ranges(self, task: str) -> dict[str, tuple[float, float]]:
        """The (easiest, hardest) range of every knob of ``task`` after overrides, checked against the image."""
        out = {k: tuple(v) for k, v in TASK_KNOBS[task].items()}
        out.update({k: (float(v[0]), float(v[1])) for k, v in dict(self.knobs.get(task, {})).items()})
        cell = self.cell
        for name, (a, b) in out.items():
            lo, hi = min(a, b), max(a, b)
            if name == "size" and task in ("counting", "grounding") and not (4 <= lo and hi <= cell - 2):
                raise SynthError(f"knobs.{task}.size: shape sizes must lie in [4, {cell - 2}] (cell {cell}px)")
            if name == "size" and task in ("ocr", "math") and not (8 <= lo and hi <= cell - 4):
                raise SynthError(f"knobs.{task}.size: font sizes must lie in [8, {cell - 4}] (cell {cell}px)")
            if name in ("contrast",) and not (0.05 <= lo and hi <= 1.0):
                raise SynthError(f"knobs.{task}.contrast: must lie in [0.05, 1]")
            if name == "occlusion" and not (0.0 <= lo and hi <= 0.9):
                raise SynthError(f"knobs.{task}.occlusion: must lie in [0, 0.9]")
            if name == "clutter" and lo < 0:
                raise SynthError(f"knobs.{task}.clutter: must be >= 0")
        if task == "counting" and out["count"][0] < 0 or task in ("ocr", "math") and min(out["count"]) < 1:
            raise SynthError(f"knobs.{task}.count: too small")
        if task == "math" and min(out["count"]) < 2:
            raise SynthError("knobs.math.count: an expression needs at least 2 numbers")
        if task in ("ocr", "math") and max(out["count"]) > 8:
            raise SynthError(f"knobs.{task}.count: at most 8")
        if task in ("counting", "grounding"):
            most = max(out.get("count", (1, 1))) + max(out["clutter"])
            if most > self.strip:
                raise SynthError(
                    f"knobs.{task}: count + clutter can reach {most:g} shapes but the strip holds {self.strip}"
                )
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["difficulty"] = list(self.difficulty)
        d["knobs"] = {t: {k: list(v) for k, v in dict(o).items()} for t, o in dict(self.knobs).items()}
        return d


@dataclass
class SynthSample:
    """One generated sample: the image, the question, the answer and what the knobs were."""

    sample_id: str
    task: str
    image: Image.Image
    question: str
    answer: str  # the ground truth as stored in reward_model.ground_truth
    target: str  # the ideal model answer inside <answer></answer>
    knobs: dict[str, float]
    hardness: dict[str, float]
    details: dict[str, Any]
    think: str = ""  # the short reasoning the seeing model writes first (math: the worked steps)

    @property
    def difficulty(self) -> float:
        return round(sum(self.hardness.values()) / len(self.hardness), 4)

    def response(self) -> str:
        """The ideal response (what the seeing model is trained to write)."""
        think = f"<think>{self.think}</think>" if self.think else ""
        return f"{think}<answer>{self.target}</answer>"


# ----------------------------------------------------------------------------------------------------------------
# knobs and drawing helpers


def _draw_knobs(rng: random.Random, task: str, config: SynthConfig) -> tuple[dict, dict]:
    lo, hi = config.difficulty
    knobs, hardness = {}, {}
    for name, (easy, hard) in config.ranges(task).items():
        u = rng.uniform(lo, hi)
        value = easy + u * (hard - easy)
        if name in INTEGER_KNOBS:
            # uniform over the integers the hardness range covers
            a, b = easy + lo * (hard - easy), easy + hi * (hard - easy)
            value = rng.randint(round(min(a, b)), round(max(a, b)))
        else:
            value = round(value, 3)
        knobs[name] = value
        hardness[name] = round((value - easy) / (hard - easy), 4) if hard != easy else 0.0
    return knobs, hardness


def _blend(colour: Sequence[int], contrast: float, background: Sequence[int] = BACKGROUND) -> tuple[int, int, int]:
    return tuple(round(b + contrast * (c - b)) for c, b in zip(colour, background))  # type: ignore[return-value]


def background(width: int, height: int | None = None, cell: int = 28) -> Image.Image:
    """The background: a colour tint that steps from cell to cell around :data:`BACKGROUND` (red grows to the
    right, blue grows downwards, :data:`TINT_RANGE` levels from the first cell to the last, constant inside a
    ``cell``). It puts *where* a patch is into its pixels: the tiny model's vision tower is random and frozen,
    and rotary position embeddings only tell the language model relative positions, so without it absolute
    coordinates (grounding boxes) would be invisible."""
    import numpy as np

    height = width if height is None else height
    cols, rows = max(1, width // cell), max(1, height // cell)
    step_x = (np.minimum(np.arange(width) // cell, cols - 1) - (cols - 1) / 2).astype(np.float32)
    step_y = (np.minimum(np.arange(height) // cell, rows - 1) - (rows - 1) / 2).astype(np.float32)
    arr = np.empty((height, width, 3), dtype=np.float32)
    arr[..., 0] = BACKGROUND[0] + TINT_RANGE / max(1, cols - 1) * step_x[None, :]
    arr[..., 1] = BACKGROUND[1]
    arr[..., 2] = BACKGROUND[2] + TINT_RANGE / max(1, rows - 1) * step_y[:, None]
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "RGB")


def _canvas(width: int, height: int | None = None, cell: int = 28) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = background(width, height, cell)
    return image, ImageDraw.Draw(image)


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[int, int, int, int], fill) -> None:
    x0, y0, x1, y1 = box
    if kind == "circle":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif kind == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    else:
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=fill)


def _occlude(
    draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int], fraction: float, sides: str = "lrtb"
) -> None:
    """Cover ``fraction`` of ``box`` with a grey bar entering from one of ``sides`` (left, right, top, bottom)."""
    if fraction <= 0:
        return
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    side = rng.choice(sides)
    if side in "lr":
        bw = max(1, round(w * fraction))
        bx0 = x0 if side == "l" else x1 - bw
        draw.rectangle((bx0, y0 - 1, bx0 + bw - 1, y1), fill=OCCLUDER)
    else:
        bh = max(1, round(h * fraction))
        by0 = y0 if side == "t" else y1 - bh
        draw.rectangle((x0 - 1, by0, x1, by0 + bh - 1), fill=OCCLUDER)


def _place(rng: random.Random, config: SynthConfig, n: int, size: int) -> list[tuple[int, int, int, int]]:
    """``n`` boxes of side ``size`` in distinct cells of the strip, near their cells' centres."""
    cells = rng.sample(range(config.strip), n)
    cell = config.cell
    boxes = []
    for c in cells:
        r, q = 0, c
        jitter = max(0, min(JITTER, (cell - size) // 2 - 1))
        x0 = q * cell + (cell - size) // 2 + rng.randint(-jitter, jitter)
        y0 = r * cell + (cell - size) // 2 + rng.randint(-jitter, jitter)
        boxes.append((x0, y0, x0 + size, y0 + size))
    return boxes


def _strokes(draw: ImageDraw.ImageDraw, rng: random.Random, size: tuple[int, int], n: int, contrast: float) -> None:
    """``n`` clutter strokes: short lines in random palette colours."""
    w, h = size
    names = sorted(COLOURS)
    for _ in range(n):
        x0, y0 = rng.randint(0, w - 1), rng.randint(0, h - 1)
        length, angle = rng.uniform(8, max(w, h) / 3), rng.uniform(0, math.pi)
        x1, y1 = x0 + length * math.cos(angle), y0 + length * math.sin(angle)
        draw.line((x0, y0, x1, y1), fill=_blend(COLOURS[rng.choice(names)], contrast), width=rng.randint(1, 2))


def _font(size: int):
    return ImageFont.load_default(size=size)


def _typeset(rng: random.Random, config: SynthConfig, text: str, cells: int, k: dict) -> tuple[Image.Image, dict]:
    """A one-line text image ``cells`` grid cells wide and one cell high (like an OCR word crop), with ``text``
    typeset monospaced, one character centred per cell (+-1 px jitter), starting at a random cell.

    Knobs: ``size`` = font size, ``contrast`` = ink against the background, ``clutter`` = strokes under the
    text, ``occlusion`` = a grey band over the top or the bottom of each letter or digit.
    """
    cell = config.cell
    if len(text) > cells:
        raise SynthError(f"text {text!r} is longer than the {cells}-cell line")
    image, draw = _canvas(cell * cells, cell, cell)
    _strokes(draw, rng, image.size, int(k["clutter"]), k["contrast"])
    font = _font(int(k["size"]))
    ink = _blend(TEXT_INK, k["contrast"])
    start = rng.randint(0, cells - len(text))
    boxes = []
    for i, ch in enumerate(text):
        left, top, right, bottom = draw.textbbox((0, 0), ch, font=font)
        w, h = right - left, bottom - top
        if w > cell - 2 or h > cell - 2:
            raise SynthError(f"glyph {ch!r} at font size {k['size']} does not fit a {cell}px cell; lower knob size")
        x = (start + i) * cell + (cell - w) // 2 - left + rng.randint(-1, 1)
        y = (cell - h) // 2 - top + rng.randint(-1, 1)
        draw.text((x, y), ch, font=font, fill=ink)
        boxes.append([x + left, y + top, x + right, y + bottom])
    for ch, box in zip(text, boxes):
        if ch.isalnum():  # operators stay visible: a band over "-" would turn it into "="
            _occlude(draw, rng, tuple(box), k["occlusion"], sides="tb")  # every glyph stays partly visible
    return image, {"text": text, "start_cell": start, "glyph_boxes": boxes}


# ----------------------------------------------------------------------------------------------------------------
# the four tasks


def _scan(config: SynthConfig, boxes: Sequence[tuple[int, int, int, int]], hits: Sequence[bool]) -> list[int]:
    """The running tally, cell by cell from the left, of the shapes that answer the question: ``tally[c]`` = how
    many of them sit in cells ``0..c``."""
    marked = {(b[0] + b[2]) // 2 // config.cell for b, hit in zip(boxes, hits) if hit}
    tally, out = 0, []
    for c in range(config.strip):
        tally += c in marked
        out.append(tally)
    return out


def _shapes_canvas(config: SynthConfig):
    return _canvas(config.cell * config.strip, config.cell, config.cell)


def _counting(rng: random.Random, config: SynthConfig, k: dict) -> tuple:
    """Shapes in a one-row strip; "How many <colour> shapes are there?". The think is the running tally of that
    colour cell by cell (``01112223``), so the count is read off one cell at a time."""
    image, draw = _shapes_canvas(config)
    n, n_clutter = int(k["count"]), int(k["clutter"])
    names = sorted(COLOURS)
    want = rng.choice(names)
    targets = [(want, rng.choice(KINDS)) for _ in range(n)]
    others = [c for c in names if c != want]
    distractors = [(rng.choice(others), rng.choice(KINDS)) for _ in range(n_clutter)]
    question = f"How many {want} shapes are there?"
    objects = targets + distractors
    boxes = _place(rng, config, len(objects), int(k["size"]))
    for (colour, kind), box in zip(objects, boxes):
        _draw_shape(draw, kind, box, _blend(COLOURS[colour], k["contrast"]))
        _occlude(draw, rng, box, k["occlusion"])
    tally = _scan(config, boxes, [c == want for c, _ in objects])
    details = {
        "target": want,
        "objects": [{"colour": c, "kind": kd, "box": list(b)} for (c, kd), b in zip(objects, boxes)],
        "steps": "".join(str(t) for t in tally),
    }
    return image, question, str(n), str(n), details


def _grounding(rng: random.Random, config: SynthConfig, k: dict) -> tuple:
    """One target shape, the only one of its colour, among distractors in a one-row strip; "Where is the
    <colour> <kind>?". The think scans the cells from the left up to the target (``0001``); the answer is the
    target's box ``[x1,y1,x2,y2]`` in pixels."""
    image, draw = _shapes_canvas(config)
    names = sorted(COLOURS)
    colour, kind = rng.choice(names), rng.choice(KINDS)
    # the target is the only shape of its colour; distractors may share its kind
    distractors = [(rng.choice([c for c in names if c != colour]), rng.choice(KINDS)) for _ in range(int(k["clutter"]))]
    objects = [(colour, kind), *distractors]
    boxes = _place(rng, config, len(objects), int(k["size"]))
    for (c, kd), box in zip(objects, boxes):
        _draw_shape(draw, kd, box, _blend(COLOURS[c], k["contrast"]))
        _occlude(draw, rng, box, k["occlusion"])
    target = list(boxes[0])
    question = f"Where is the {colour} {kind}?"
    tally = _scan(config, boxes, [i == 0 for i in range(len(objects))])
    details = {
        "target": f"{colour} {kind}",
        "objects": [{"colour": c, "kind": kd, "box": list(b)} for (c, kd), b in zip(objects, boxes)],
        "steps": "".join(str(t) for t in tally[: tally.index(1) + 1]),
    }
    answer = json.dumps([target])
    return image, question, answer, "[{}]".format(",".join(str(v) for v in target)), details


def _ocr(rng: random.Random, config: SynthConfig, k: dict) -> tuple:
    text = "".join(rng.choice(OCR_ALPHABET) for _ in range(int(k["count"])))
    image, details = _typeset(rng, config, text, max(config.grid, len(text)), k)
    return image, "What is the text in the image?", text, text, details


def _math(rng: random.Random, config: SynthConfig, k: dict) -> tuple:
    """A one-line sum of :data:`MATH_DIGITS` numbers, e.g. ``4+2+3``. The worked steps (``4+2=6,6+3=9``) become
    the model's ``<think>``: it reads the expression, then adds one number at a time."""
    n = int(k["count"])
    numbers = [rng.randint(*MATH_DIGITS) for _ in range(n)]
    ops = [rng.choice(MATH_OPERATORS) for _ in range(n - 1)]
    expression = str(numbers[0]) + "".join(f"{o}{v}" for o, v in zip(ops, numbers[1:]))
    value, steps = numbers[0], []
    for op, v in zip(ops, numbers[1:]):
        new = value + v if op == "+" else value - v
        steps.append(f"{value}{op}{v}={new}")
        value = new
    image, details = _typeset(rng, config, expression, max(config.grid, len(expression)), k)
    details["expression"] = expression
    details["steps"] = ",".join(steps)
    return image, "What is the value of the expression?", str(value), str(value), details


_TASK_FUNCS = {"counting": _counting, "grounding": _grounding, "ocr": _ocr, "math": _math}


# ----------------------------------------------------------------------------------------------------------------
# public API


def sample_seed(index: str, seed: int = 0) -> int:
    """The seed of the sample with ``extra_info.index`` ``index`` under base seed ``seed``."""
    return stable_seed("verl-difficulty-synth", int(seed), str(index))


def data_source(task: str) -> str:
    return f"{DATA_SOURCE_PREFIX}_{task}"


def generate_sample(task: str, sample_id: str, *, seed: int = 0, config: SynthConfig | None = None) -> SynthSample:
    """Generate one sample of ``task``; the same ``(task, sample_id, seed, config)`` always gives the same sample.

    Args:
        task: one of :data:`SYNTH_TASKS`.
        sample_id: the id inside the data source (the row's index is ``synth_<task>/<sample_id>``).
        seed: base seed (a different seed gives a different data set for the same ids).
        config: generator settings.
    """
    if task not in _TASK_FUNCS:
        raise SynthError(f"task: {task!r} is not one of {', '.join(SYNTH_TASKS)}")
    config = config or SynthConfig()
    index = f"{data_source(task)}/{sample_id}"
    rng = random.Random(sample_seed(index, seed))
    knobs, hardness = _draw_knobs(rng, task, config)
    image, question, answer, target, details = _TASK_FUNCS[task](rng, config, knobs)
    think = details.get("steps", "")
    return SynthSample(sample_id, task, image, question, answer, target, knobs, hardness, details, think)


def user_content(sample: SynthSample) -> str:
    """The user turn of ``sample``: the question (and the task's answer hint), then the image placeholder.

    The question comes first so that, under causal attention, every image token already knows what is asked
    (which colour to count or find): the tiny model then marks the matching shapes where they are, and the
    answer only has to gather the marks."""
    hint = HINTS.get(sample.task)
    question = f"{sample.question} {hint}" if hint else sample.question
    return f"{question}\n<image>"


def sample_messages(sample: SynthSample, config: SynthConfig | None = None) -> list[dict]:
    """The row's ``prompt`` messages (verl's string form, one ``<image>`` placeholder)."""
    config = config or SynthConfig()
    messages = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    return [*messages, {"role": "user", "content": user_content(sample)}]


def sample_to_row(sample: SynthSample, *, split: str, seed: int, config: SynthConfig) -> dict:
    """The verl row of ``sample`` (``extra_info.meta`` holds the knobs, their hardness and the difficulty)."""
    from verl_difficulty.data.images import encode_image, image_entry
    from verl_difficulty.data.schema import make_row

    meta = {
        "generator": "verl_difficulty.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "knobs": sample.knobs,
        "hardness": sample.hardness,
        "difficulty": sample.difficulty,
        "width": sample.image.width,
        "height": sample.image.height,
        **sample.details,
    }
    return make_row(
        data_source=data_source(sample.task),
        sample_id=sample.sample_id,
        task=sample.task,
        question=sample.question,
        user_content=user_content(sample),
        images=[image_entry(encode_image(sample.image, "PNG"), f"{sample.sample_id}.png")],
        ground_truth=sample.answer,
        ability=ABILITY[sample.task],
        split=split,
        meta=meta,
        system_prompt=config.system_prompt,
    )


def task_of(i: int, tasks: Sequence[str]) -> str:
    """Task of the ``i``-th sample of a mixed set: tasks take turns (``i % len(tasks)``)."""
    return tasks[i % len(tasks)]


def sample_ids(n: int, split: str, start: int = 0) -> list[str]:
    return [f"{split}-{i:06d}" for i in range(start, start + n)]


def check_tasks(tasks: Iterable[str] | str | None) -> tuple[str, ...]:
    if tasks is None:
        return SYNTH_TASKS
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    tasks = tuple(tasks)
    bad = [t for t in tasks if t not in SYNTH_TASKS]
    if bad or not tasks:
        raise SynthError(f"tasks: {bad or 'none given'} not in {', '.join(SYNTH_TASKS)}")
    return tasks


def generate_samples(
    n: int,
    *,
    tasks: Iterable[str] | str | None = None,
    split: str = "train",
    seed: int = 0,
    config: SynthConfig | None = None,
    start: int = 0,
    progress: bool = False,
) -> list[SynthSample]:
    """``n`` samples, tasks taking turns; sample ``i`` has id ``<split>-<i:06d>``."""
    tasks = check_tasks(tasks)
    if not isinstance(n, int) or n < 0:
        raise SynthError(f"n: expected a non-negative integer, got {n!r}")
    config = config or SynthConfig()
    ids = sample_ids(n, split, start)
    it = enumerate(ids, start)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=n, desc=f"synth {split}", unit="sample", leave=False)
    return [generate_sample(task_of(i, tasks), sid, seed=seed, config=config) for i, sid in it]


def generate_rows(
    n: int,
    *,
    tasks: Iterable[str] | str | None = None,
    split: str = "train",
    seed: int = 0,
    config: SynthConfig | None = None,
    start: int = 0,
    progress: bool = False,
) -> list[dict]:
    """``n`` verl rows (see :func:`generate_samples`)."""
    config = config or SynthConfig()
    samples = generate_samples(n, tasks=tasks, split=split, seed=seed, config=config, start=start, progress=progress)
    return [sample_to_row(s, split=split, seed=seed, config=config) for s in samples]


def corpus_lines() -> list[str]:
    """Text the seeing model's tokenizer is trained on besides the default corpus: the system message, the
    questions and answers in every form the generator writes, so they tokenise into few tokens."""
    lines = [SYNTH_SYSTEM_PROMPT, *HINTS.values()]
    for colour in COLOURS:
        lines.append(f"How many {colour} shapes are there?")
        for kind in KINDS:
            lines.append(f"Where is the {colour} {kind}?")
    lines += [f"How many {kind}s are there?" for kind in KINDS]
    lines += ["What is the text in the image?", "What is the value of the expression?"]
    lines += ["<answer>[12,34,56,78]</answer>", "<answer>7</answer>"]
    lines += ["<think>7+3=10,10+2=12</think><answer>12</answer>"]
    lines += ["<think>01112223</think><answer>3</answer>", "<think>0001</think><answer>[89,3,111,25]</answer>"]
    return lines * 8
