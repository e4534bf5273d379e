"""The verl multimodal parquet schema this package reads and writes.

One row per prompt, exactly what verl 0.9.1's ``RLHFDataset`` consumes::

    data_source   str                 e.g. "mathv_testmini"
    prompt        list[{role, content}]  chat messages; one "<image>" placeholder per image, in order
    images        list[{bytes, path}]    encoded image bytes (+ the original file name, informational)
    ability       str                 "math" | "perception" | ...
    reward_model  {style: "rule", ground_truth: str}
    extra_info    {index, split, task, question, answer, options, meta}

``extra_info`` has a fixed set of keys so that parquet files from different converters can be concatenated
(verl concatenates ``data.train_files`` with ``datasets.concatenate_datasets``, which needs identical types):

- ``index`` (str, unique across all files): the sample id, ``"<data_source>/<source id>"``. Seeds for masks
  and sampling are derived from it, so results do not depend on order or sharding.
- ``task`` in :data:`TASKS`: what the answer checker dispatches on.
- ``question`` (str): the question text without placeholders or instructions.
- ``answer`` (str): the reference answer as shown to humans (same as ``reward_model.ground_truth``).
- ``options`` (list[str]): option texts for multiple choice, in letter order A, B, C, ...; empty otherwise.
- ``meta`` (str): a JSON object with anything else (source fields, generator knobs, image size, ...).

Grounding rows store the ground truth as a JSON list of boxes ``[[x1, y1, x2, y2], ...]`` in pixels of the
stored image; every listed box is a valid instance (a word that appears twice has two boxes).

Scoring adds a ``difficulty`` struct column (per metric: tier, score, per-ratio outcomes, provenance); see
:mod:`verl_difficulty.difficulty`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

TASKS = ("math", "choice", "ocr", "counting", "grounding")
IMAGE_PLACEHOLDER = "<image>"
EXTRA_INFO_KEYS = ("index", "split", "task", "question", "answer", "options", "meta")

#: The R1-style system prompt of the paper's GRPO runs ("<think> ... </think><answer> ... </answer>").
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. The user asks a question about an image. First think about the reasoning "
    "process in the mind and then provide the user with the answer. The reasoning process and answer are "
    "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., "
    "<think> reasoning process here </think><answer> answer here </answer>."
)


def arrow_schema():
    """The pyarrow schema every converter writes (identical across files, so they concatenate)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("index", pa.string()),
                        ("split", pa.string()),
                        ("task", pa.string()),
                        ("question", pa.string()),
                        ("answer", pa.string()),
                        ("options", pa.list_(pa.string())),
                        ("meta", pa.string()),
                    ]
                ),
            ),
        ]
    )


def make_row(
    *,
    data_source: str,
    sample_id: str,
    task: str,
    question: str,
    user_content: str,
    images: list[dict],
    ground_truth: str,
    ability: str,
    split: str = "train",
    options: Iterable[str] = (),
    meta: Mapping[str, Any] | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
) -> dict:
    """Build one row in the schema above. ``user_content`` must already hold one ``<image>`` per image."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    prompt = []
    if system_prompt:
        prompt.append({"role": "system", "content": system_prompt})
    prompt.append({"role": "user", "content": user_content})
    return {
        "data_source": data_source,
        "prompt": prompt,
        "images": images,
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": str(ground_truth)},
        "extra_info": {
            "index": f"{data_source}/{sample_id}",
            "split": split,
            "task": task,
            "question": question,
            "answer": str(ground_truth),
            "options": [str(o) for o in options],
            "meta": json.dumps(dict(meta or {}), sort_keys=True, default=str),
        },
    }


def count_placeholders(prompt: list[Mapping[str, Any]]) -> int:
    return sum(
        len(re.findall(re.escape(IMAGE_PLACEHOLDER), m.get("content") or ""))
        for m in prompt
        if isinstance(m.get("content"), str)
    )


def validate_row(row: Mapping[str, Any]) -> list[str]:
    """Return the problems that would make verl or the checkers fail on ``row`` (empty when it is valid)."""
    problems: list[str] = []
    prompt = row.get("prompt")
    if not isinstance(prompt, (list, tuple)) or not prompt:
        problems.append("prompt: must be a non-empty list of chat messages")
    else:
        for i, m in enumerate(prompt):
            if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                problems.append(f"prompt[{i}]: must be a {{role, content}} message")
    images = row.get("images")
    if images is None:
        images = []
    n_img = len(images)
    if isinstance(prompt, (list, tuple)) and prompt:
        n_ph = count_placeholders([m for m in prompt if isinstance(m, Mapping)])
        if n_ph != n_img:
            problems.append(f"prompt has {n_ph} '<image>' placeholder(s) but the row has {n_img} image(s)")
    rm = row.get("reward_model") or {}
    gt = rm.get("ground_truth") if isinstance(rm, Mapping) else None
    if gt is None or str(gt).strip() == "":
        problems.append("reward_model.ground_truth: missing or empty answer")
    info = row.get("extra_info") or {}
    if not isinstance(info, Mapping) or not info.get("index"):
        problems.append("extra_info.index: missing sample id")
    task = info.get("task") if isinstance(info, Mapping) else None
    if task not in TASKS:
        problems.append(f"extra_info.task: must be one of {TASKS}, got {task!r}")
    if task == "choice" and isinstance(info, Mapping) and not list(info.get("options") or []):
        problems.append("extra_info.options: multiple-choice row without options")
    return problems


def row_meta(row: Mapping[str, Any]) -> dict:
    """Decode ``extra_info.meta`` (a JSON string) to a dict; ``{}`` when absent."""
    info = row.get("extra_info") or {}
    raw = info.get("meta") if isinstance(info, Mapping) else None
    if not raw:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def sample_id(row: Mapping[str, Any]) -> str:
    """The row's unique id (``extra_info.index``) as a string."""
    info = row.get("extra_info") or {}
    idx = info.get("index") if isinstance(info, Mapping) else None
    if idx is None or idx == "":
        raise KeyError("row has no extra_info.index")
    return str(idx)
