"""Held-out accuracy of a model on the synthetic tasks: per task, per difficulty knob, and against mask ratio.

Everything goes the way a scorer goes: verl rows (``prompt`` with ``<image>`` placeholders) are turned into
typed chat parts (:func:`verl_difficulty.engines.to_chat_parts`), rendered with the processor's chat template,
completed greedily with ``model.generate`` in left-padded batches, and judged by
:func:`verl_difficulty.verify.compute_score`. Masks are PISM's operator
(:func:`verl_difficulty.scorers.masks.apply_mask`, rectangle mode) with the seed of attempt 0
(:func:`verl_difficulty.scorers.masks.mask_seed`).

"Chance" per task is the accuracy of the best answer that ignores the image: the most frequent answer of the
training stream, judged on the held-out rows by the same verifier.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from verl_difficulty.synthetic.generator import (
    INTEGER_KNOBS,
    SYNTH_TASKS,
    TASK_KNOBS,
    SynthConfig,
    generate_samples,
)

DEFAULT_MASK_RATIOS = tuple(round(0.1 * i, 1) for i in range(10))
#: Bins of the realised knob hardness / of the sample difficulty in the report.
HARDNESS_BINS = ((0.0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 1.0001))
BIN_NAMES = ("easy", "mid", "hard")
MAX_NEW_TOKENS = 40  # the longest ideal response (grounding, target in the last cell) is 31 tokens


def row_image(row: Mapping[str, Any]):
    from verl_difficulty.data.images import load_image

    return load_image(row["images"][0])


def generate(
    model,
    processor,
    rows: Sequence[Mapping],
    images: Sequence | None = None,
    *,
    batch_size: int = 32,
    max_new_tokens: int = MAX_NEW_TOKENS,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of verl ``rows`` (optionally with replacement ``images``, one per row)."""
    import torch

    from verl_difficulty.engines.base import to_chat_parts

    tok = processor.tokenizer
    old_side = tok.padding_side
    tok.padding_side = "left"
    outputs: list[str] = []
    try:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            imgs = list(images[start : start + batch_size]) if images is not None else [row_image(r) for r in chunk]
            texts = [
                processor.apply_chat_template(to_chat_parts(r["prompt"]), add_generation_prompt=True, tokenize=False)
                for r in chunk
            ]
            inputs = processor(text=texts, images=imgs, padding=True, return_tensors="pt")
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
            new = out[:, inputs["input_ids"].shape[1] :]
            outputs.extend(tok.batch_decode(new, skip_special_tokens=True))
            if progress is not None:
                progress(len(chunk))
    finally:
        tok.padding_side = old_side
    return outputs


def judge(rows: Sequence[Mapping], responses: Sequence[str]) -> list[bool]:
    """The verifier's verdict (``acc``) for each response."""
    from verl_difficulty.verify import compute_score

    return [
        compute_score(r["data_source"], resp, r["reward_model"]["ground_truth"], r["extra_info"])["acc"] == 1.0
        for r, resp in zip(rows, responses)
    ]


def _rate(values: Sequence[bool]) -> dict:
    n = len(values)
    return {"acc": round(sum(values) / n, 4) if n else None, "n": n}


def _bin(h: float) -> str:
    for name, (lo, hi) in zip(BIN_NAMES, HARDNESS_BINS):
        if lo <= h < hi:
            return name
    return BIN_NAMES[-1]


def chance_answers(tasks: Sequence[str], seed: int, synth: SynthConfig, n: int = 2000) -> dict[str, str]:
    """The most frequent training answer per task (what a model that ignores the image would best say)."""
    samples = generate_samples(n, tasks=tasks, split="train", seed=seed, config=synth)
    out = {}
    for task in tasks:
        counts = Counter(s.target for s in samples if s.task == task)
        out[task] = counts.most_common(1)[0][0]
    return out


def evaluate(
    model,
    processor,
    *,
    tasks: Sequence[str] = SYNTH_TASKS,
    seed: int = 0,
    synth: SynthConfig | None = None,
    n_per_task: int = 100,
    mask_ratios: Sequence[float] = DEFAULT_MASK_RATIOS,
    mask_n_per_task: int = 40,
    batch_size: int = 32,
    progress: bool = False,
) -> dict:
    """Accuracy on ``n_per_task`` held-out rows per task (ids ``test-<i>``) and the mask curve on the first
    ``mask_n_per_task`` of them. Returns the JSON-ready report (see ``docs/synthetic.md``)."""
    from verl_difficulty.scorers.masks import apply_mask, mask_seed
    from verl_difficulty.synthetic.generator import generate_rows

    synth = synth or SynthConfig()
    tasks = tuple(tasks)
    rows = generate_rows(n_per_task * len(tasks), tasks=tasks, split="test", seed=seed, config=synth)
    images = [row_image(r) for r in rows]
    mask_rows = [r for i, r in enumerate(rows) if i < mask_n_per_task * len(tasks)]
    ratios = [float(r) for r in mask_ratios if float(r) > 0]
    total = len(rows) + len(mask_rows) * len(ratios)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="evaluating", unit="answer")
    tick = bar.update if bar is not None else None

    responses = generate(model, processor, rows, images, batch_size=batch_size, progress=tick)
    correct = judge(rows, responses)

    by_task: dict[str, list[bool]] = defaultdict(list)
    by_knob: dict[str, dict[str, dict[Any, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    by_level: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    by_value: dict[str, dict[str, dict[Any, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    records = []
    for row, resp, ok in zip(rows, responses, correct):
        task = row["extra_info"]["task"]
        meta = json.loads(row["extra_info"]["meta"])
        by_task[task].append(ok)
        by_level[task][_bin(meta["difficulty"])].append(ok)
        by_level["all"][_bin(meta["difficulty"])].append(ok)
        for knob, h in meta["hardness"].items():
            by_knob[task][knob][_bin(h)].append(ok)
            if knob in INTEGER_KNOBS:
                by_value[task][knob][int(meta["knobs"][knob])].append(ok)
        records.append(
            {
                "index": row["extra_info"]["index"],
                "task": task,
                "difficulty": meta["difficulty"],
                "response": resp,
                "answer": row["reward_model"]["ground_truth"],
                "correct": ok,
            }
        )

    # the image-blind baseline
    blind = chance_answers(tasks, seed, synth)
    chance = {}
    for task in tasks:
        trows = [r for r in rows if r["extra_info"]["task"] == task]
        verdicts = judge(trows, [f"<answer>{blind[task]}</answer>"] * len(trows))
        chance[task] = {"answer": blind[task], **_rate(verdicts)}

    # accuracy against mask ratio
    mask_curve: dict[str, dict[str, dict]] = {t: {"0.0": _rate([])} for t in tasks}
    base = {r["extra_info"]["index"]: ok for r, ok in zip(rows, correct)}
    for t in tasks:
        mask_curve[t]["0.0"] = _rate(
            [base[r["extra_info"]["index"]] for r in mask_rows if r["extra_info"]["task"] == t]
        )
    mask_curve["all"] = {"0.0": _rate([base[r["extra_info"]["index"]] for r in mask_rows])}
    for ratio in ratios:
        masked = [
            apply_mask(images[i], ratio, mode="rectangle", seed=mask_seed(r["extra_info"]["index"], ratio, 0))
            for i, r in enumerate(mask_rows)
        ]
        verdicts = judge(mask_rows, generate(model, processor, mask_rows, masked, batch_size=batch_size, progress=tick))
        key = f"{ratio:.1f}"
        for t in tasks:
            mask_curve[t][key] = _rate([v for r, v in zip(mask_rows, verdicts) if r["extra_info"]["task"] == t])
        mask_curve["all"][key] = _rate(verdicts)
    if bar is not None:
        bar.close()

    return {
        "n_per_task": n_per_task,
        "mask_n_per_task": mask_n_per_task,
        "mask_mode": "rectangle",
        "accuracy": {t: _rate(by_task[t]) for t in tasks} | {"all": _rate([ok for t in tasks for ok in by_task[t]])},
        "chance": chance,
        "by_difficulty": {t: {b: _rate(by_level[t][b]) for b in BIN_NAMES} for t in (*tasks, "all")},
        "by_knob": {t: {k: {b: _rate(by_knob[t][k][b]) for b in BIN_NAMES} for k in TASK_KNOBS[t]} for t in tasks},
        "by_knob_value": {
            t: {k: {str(v): _rate(by_value[t][k][v]) for v in sorted(by_value[t][k])} for k in by_value[t]}
            for t in tasks
        },
        "by_mask_ratio": mask_curve,
        "records": records,
    }
