"""Train a tiny Qwen2.5-VL on the synthetic tasks, on CPU, with plain torch + transformers.

The model starts from :func:`verl_difficulty.testing.build_tiny_vlm` (random weights, a BPE tokenizer whose
corpus includes the generator's questions, the real ``Qwen2_5_VLProcessor``) and is trained with a
teacher-forced cross-entropy on the assistant's answer tokens only (``[<think>…</think>]<answer>…</answer>
<|im_end|>``). Every batch is rendered with the processor's chat template exactly as verl renders a row, and
every training sample is fresh: sample ``i`` of the stream is ``generate_sample(task_of(i), "train-<i>")``, so
no image repeats and the held-out ``test-…`` ids never occur in training.

What makes a randomly initialised VLM learn in minutes on a CPU (each measured on this data; see
``docs/synthetic.md``):

- The vision tower is frozen at its random initialisation. Its random features already separate colours,
  shapes and glyphs (linear probes read the glyph of a text cell >90 % of the time, a shape cell's colour
  99.8 %); training it from scratch with the answer loss made it collapse to a constant output within a
  hundred steps.
- The merger's last linear layer gets a data-dependent initialisation (:func:`calibrate_merger`): at
  ``initializer_range=0.02`` the image embeddings are nearly the same vector for every patch, and the
  language model never learns to look.
- The language model's matrices start at a larger standard deviation (``init_std``), with 8 attention heads.

Determinism: the initial weights come from ``seed``; the data stream is a pure function of sample ids; there
is no dropout; each process uses one CPU thread. The same settings (including ``processes``) give the same
weights on the same torch build; across builds or CPUs the last bits of the float sums may differ.

Data parallel: with ``processes=2`` (default) two worker processes each take half of every batch (samples
``rank::2``) and all-reduce their gradients (gloo) before the identical optimiser step, so the result is the
one-process result up to the order of float additions, in about half the time on two cores.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from verl_difficulty.synthetic.generator import (
    SYNTH_TASKS,
    SynthConfig,
    SynthSample,
    corpus_lines,
    generate_sample,
    sample_messages,
    task_of,
)

#: Bumped whenever a change to the training recipe changes the trained weights (part of the cache key).
TRAINER_VERSION = 1


def default_model_settings() -> dict[str, Any]:
    """``TinyVLMConfig`` fields of the seeing model (about 1.3 M parameters)."""
    return {
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "vision_depth": 2,
        "vision_hidden_size": 64,
        "vision_intermediate_size": 128,
        "vision_num_heads": 2,
        # text lines are 4+ cells of 28 px (one row of visual tokens); qwen_vl_utils' own minimum is 4 tokens
        "min_pixels": 4 * 28 * 28,
    }


@dataclass(frozen=True)
class TrainSettings:
    """How the seeing model is trained (every field is part of the cache key).

    Attributes:
        seed: initial weights and the data stream.
        tasks: the synthetic tasks trained on (they take turns in every batch).
        steps: optimiser steps.
        batch_size: samples per step (over all processes).
        lr: peak AdamW learning rate (linear warm-up, cosine decay to ``lr * min_lr_ratio``).
        warmup_steps: warm-up length.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        beta2: AdamW's second-moment decay.
        weight_decay: AdamW weight decay (not applied to norms, biases and embeddings).
        grad_clip: gradient-norm clip.
        init_std: standard deviation of the language model's linear layers at the start (0: keep the
            checkpoint's ``initializer_range`` initialisation).
        feature_scale: standard deviation of each image-embedding dimension after :func:`calibrate_merger`
            (0: no calibration).
        freeze_vision: keep the vision tower (and merger) at its initialisation.
        curriculum: ``(start, fraction)``: the knob hardness of training samples is capped at ``start`` at the
            first step and the cap rises linearly to 1 over the first ``fraction`` of the steps (``(0, 0)``: off).
        curriculum_tasks: the tasks the curriculum applies to (reading text gains most from starting easy;
            counting learned better without it).
        processes: data-parallel worker processes (one CPU thread each); part of the key because float sums
            depend on it.
        synth: the generator settings of the training stream and of the evaluation.
        model: ``TinyVLMConfig`` overrides; ``max_pixels`` defaults to ``synth.image_size ** 2``.
    """

    seed: int = 0
    tasks: tuple[str, ...] = SYNTH_TASKS
    steps: int = 1200
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 25
    min_lr_ratio: float = 0.05
    beta2: float = 0.95
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    init_std: float = 0.06
    feature_scale: float = 1.0
    freeze_vision: bool = True
    curriculum: tuple[float, float] = (0.2, 0.5)
    curriculum_tasks: tuple[str, ...] = ("ocr", "math")
    processes: int = 2
    synth: SynthConfig = field(default_factory=SynthConfig)
    model: dict[str, Any] = field(default_factory=default_model_settings)

    def __post_init__(self):
        from verl_difficulty.synthetic.generator import SynthError, check_tasks

        object.__setattr__(self, "tasks", check_tasks(self.tasks))
        for name in ("steps", "batch_size", "processes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SynthError(f"{name}: expected a positive integer, got {value!r}")
        if self.processes > self.batch_size:
            raise SynthError(f"processes: {self.processes} workers need batch_size >= {self.processes}")
        if not self.lr > 0:
            raise SynthError(f"lr: expected a positive number, got {self.lr!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["synth"] = self.synth.to_dict()
        d["curriculum"] = list(self.curriculum)
        d["curriculum_tasks"] = list(self.curriculum_tasks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        d = dict(d)
        synth = dict(d.pop("synth", {}))
        synth["difficulty"] = tuple(synth.get("difficulty", (0.0, 1.0)))
        d["curriculum"] = tuple(d.get("curriculum", (0.0, 0.0)))
        d["curriculum_tasks"] = tuple(d.get("curriculum_tasks", ()))
        return cls(**{**d, "tasks": tuple(d["tasks"]), "synth": SynthConfig(**synth)})


def tiny_config(settings: TrainSettings):
    """The ``TinyVLMConfig`` of the seeing model: sizes, seed, the processor's pixel limits, tokenizer corpus."""
    from verl_difficulty.testing import TinyVLMConfig

    side = settings.synth.image_size
    fields = {"max_pixels": side * side, **settings.model}
    return TinyVLMConfig(seed=settings.seed, extra_corpus=corpus_lines(), **fields)


# ----------------------------------------------------------------------------------------------------------------
# batches and loss


def conversation(sample: SynthSample, synth: SynthConfig) -> list[dict]:
    """Chat messages in typed-part form (as verl hands them to the processor) plus the ideal answer."""
    from verl_difficulty.engines.base import to_chat_parts

    msgs = to_chat_parts(sample_messages(sample, synth))
    return [*msgs, {"role": "assistant", "content": [{"type": "text", "text": sample.response()}]}]


def encode_batch(processor, samples: Sequence[SynthSample], synth: SynthConfig):
    """Processor inputs (right padded) and ``labels`` that are -100 everywhere but the answer tokens.

    The answer starts after the last ``<|im_start|>assistant\\n`` and ends with its ``<|im_end|>`` (included,
    so the model learns to stop).
    """
    import torch

    tok = processor.tokenizer
    texts = [processor.apply_chat_template(conversation(s, synth), tokenize=False) for s in samples]
    tok.padding_side = "right"
    inputs = processor(text=texts, images=[s.image for s in samples], padding=True, return_tensors="pt")
    ids = inputs["input_ids"]
    start_id = tok.convert_tokens_to_ids("<|im_start|>")
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    labels = torch.full_like(ids, -100)
    for b in range(ids.shape[0]):
        row = ids[b].tolist()
        start = max(i for i, t in enumerate(row) if t == start_id) + 3  # <|im_start|> assistant \n
        end = row.index(end_id, start)
        labels[b, start : end + 1] = ids[b, start : end + 1]
    return inputs, labels


def answer_token_losses(model, inputs, labels):
    """Cross-entropy of every answer token (the LM head runs on those positions only: cheap on CPU), and the
    row each one belongs to."""
    import torch.nn.functional as F

    hidden = model.model(**inputs).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), target[keep], reduction="none"), keep.nonzero()[:, 0]


def answer_loss(model, inputs, labels):
    """Mean cross-entropy of the answer tokens of a batch."""
    return answer_token_losses(model, inputs, labels)[0].mean()


def train_samples(step: int, settings: TrainSettings, rank: int = 0, world: int = 1) -> list[SynthSample]:
    """This process's samples of optimiser step ``step`` (ids ``train-<i>``, tasks taking turns)."""
    b = settings.batch_size
    easy = settings.synth
    start, fraction = settings.curriculum
    if fraction > 0:
        cap = min(1.0, start + (1.0 - start) * step / (fraction * settings.steps))
        lo, hi = easy.difficulty
        easy = replace(easy, difficulty=(min(lo, cap), min(hi, cap)))
    out = []
    for i in range(step * b + rank, (step + 1) * b, world):
        task = task_of(i, settings.tasks)
        config = easy if task in settings.curriculum_tasks else settings.synth
        out.append(generate_sample(task, f"train-{i:07d}", seed=settings.seed, config=config))
    return out


def lr_at(step: int, settings: TrainSettings) -> float:
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return settings.lr * (settings.min_lr_ratio + (1 - settings.min_lr_ratio) * cos)


# ----------------------------------------------------------------------------------------------------------------
# initialisation


def calibrate_merger(model, processor, samples: Sequence[SynthSample], scale: float = 1.0) -> dict:
    """Data-dependent initialisation of the vision merger's last linear layer (its weights and bias only).

    A randomly initialised Qwen2.5-VL hands the language model image embeddings that are nearly the same
    vector for every patch (mean |x| ~0.04, spread ~0.015 at ``initializer_range=0.02``), so the language model
    cannot tell images apart. Rescaling the last merger layer so that every output dimension has mean 0 and
    standard deviation ``scale`` over real images (as LSUV-style initialisations do) makes the image visible
    from the first step. The architecture is unchanged.
    """
    import torch

    linear = model.model.visual.merger.mlp[-1]
    with torch.no_grad():
        inputs = processor.image_processor(images=[s.image for s in samples], return_tensors="pt")
        out = model.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]).pooler_output
        mean, std = out.mean(0), out.std(0).clamp(min=1e-6)
        gain = scale / std
        linear.weight.mul_(gain[:, None])
        linear.bias.copy_((linear.bias - mean) * gain)
    return {"mean_abs": round(float(mean.abs().mean()), 5), "std": round(float(std.mean()), 5)}


def initialise(model, processor, settings: TrainSettings) -> dict:
    """Apply the recipe's initialisation (see the module docstring) in place; deterministic in ``seed``."""
    import torch

    info: dict[str, Any] = {}
    if settings.init_std:
        gen = torch.Generator().manual_seed(settings.seed + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".language_model." in f".{name}" and p.ndim == 2 and "embed_tokens" not in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * settings.init_std)
            model.lm_head.weight.copy_(torch.randn(model.lm_head.weight.shape, generator=gen) * settings.init_std)
    if settings.feature_scale:
        samples = [
            generate_sample(task_of(i, settings.tasks), f"calibrate-{i:04d}", seed=settings.seed, config=settings.synth)
            for i in range(64)
        ]
        info["merger_calibration"] = calibrate_merger(model, processor, samples, settings.feature_scale)
    return info


# ----------------------------------------------------------------------------------------------------------------
# the loop


def _optimizer(model, settings: TrainSettings):
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if settings.freeze_vision and ".visual." in f".{name}":
            p.requires_grad_(False)
            continue
        (no_decay if p.ndim < 2 or "norm" in name or "embed_tokens" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, settings.beta2), eps=1e-8)


def train_loop(
    model,
    processor,
    settings: TrainSettings,
    *,
    rank: int = 0,
    world: int = 1,
    progress: bool = False,
    log: Callable | None = None,
) -> dict:
    """Optimise ``model`` in place (already initialised); with ``world > 1`` inside an initialised gloo group.

    Returns the log: the mean answer-token loss of every step, this process's per-sample losses by task, time.
    """
    import torch

    dist = None
    if world > 1:
        import torch.distributed as dist
    opt = _optimizer(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses: list[float] = []
    task_losses: dict[str, list[float]] = {t: [] for t in settings.tasks}
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, desc=f"training seeing model ({world} proc)", unit="step")
    t0 = time.perf_counter()
    for step in range(settings.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, settings)
        samples = train_samples(step, settings, rank, world)
        inputs, labels = encode_batch(processor, samples, settings.synth)
        token_losses, rows = answer_token_losses(model, inputs, labels)
        n_tokens = torch.tensor([float(token_losses.numel())])
        if dist is not None:
            dist.all_reduce(n_tokens)
        loss = token_losses.sum() / n_tokens[0]  # the mean over the whole (all-process) batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel()) for p in params]
        flat = torch.cat([*grads, loss.detach().reshape(1)])
        if dist is not None:
            dist.all_reduce(flat)
            offset = 0
            for p in params:
                p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        opt.step()
        losses.append(round(float(flat[-1]), 6))
        with torch.no_grad():
            per_row = torch.zeros(len(samples)).index_add_(0, rows, token_losses.detach())
            per_row /= torch.bincount(rows, minlength=len(samples)).clamp(min=1)
        for sample, value in zip(samples, per_row.tolist()):
            task_losses[sample.task].append(round(value, 5))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if log is not None and rank == 0:
            log(step, losses[-1], task_losses)
    if bar is not None:
        bar.close()
    model.eval()
    return {"losses": losses, "task_losses": task_losses, "train_seconds": round(time.perf_counter() - t0, 2)}


def _summary(log: dict, settings: TrainSettings) -> dict:
    tail = max(1, settings.batch_size * 50 // len(settings.tasks))
    final = {t: round(sum(v[-tail:]) / max(1, len(v[-tail:])), 4) for t, v in log.pop("task_losses").items()}
    return {**log, "final_task_losses": final, "samples": settings.steps * settings.batch_size}


def _worker(rank: int, world: int, work_dir: str, progress: bool) -> None:
    """One data-parallel process: load the initialised checkpoint, train, rank 0 saves weights and log."""
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(1)
    work = Path(work_dir)
    settings = TrainSettings.from_dict(json.loads((work / "settings.json").read_text()))
    dist.init_process_group("gloo", init_method=f"file://{work}/rendezvous", rank=rank, world_size=world)
    try:
        processor = AutoProcessor.from_pretrained(work / "init")
        model = AutoModelForImageTextToText.from_pretrained(work / "init")
        log = train_loop(model, processor, settings, rank=rank, world=world, progress=progress)
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, log["task_losses"])
        if rank == 0:
            log["task_losses"] = {t: [v for g in gathered for v in g[t]] for t in settings.tasks}
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(work / "weights.safetensors"))
            (work / "log.json").write_text(json.dumps(log))
    finally:
        dist.destroy_process_group()


def _run_workers(work: Path, world: int, progress: bool) -> None:
    """Start ``world`` worker processes (``python -m verl_difficulty.synthetic.train --worker``) and wait.

    Plain subprocesses rather than ``multiprocessing``: nothing depends on how the caller's ``__main__`` is
    written, and a failing worker's traceback is shown in the error.
    """
    import os
    import subprocess
    import sys

    import verl_difficulty

    env = dict(os.environ)
    root = str(Path(verl_difficulty.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    procs = []
    for rank in range(world):
        err = open(work / f"worker{rank}.err", "w")  # noqa: SIM115 - closed below
        cmd = [sys.executable, "-m", "verl_difficulty.synthetic.train", "--worker", str(work), str(rank), str(world)]
        if progress and rank == 0:
            cmd.append("--progress")
        procs.append((subprocess.Popen(cmd, env=env, stderr=None if progress and rank == 0 else err), err))
    failed = []
    try:
        for rank, (p, _err) in enumerate(procs):
            if p.wait() != 0:
                failed.append(rank)
    finally:
        for p, err in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            err.close()
    if failed:
        tails = []
        for rank in failed:
            text = (work / f"worker{rank}.err").read_text(errors="replace")[-3000:]
            tails.append(f"--- worker {rank} ---\n{text}")
        raise RuntimeError(f"seeing-model training: worker(s) {failed} failed\n" + "\n".join(tails))


def train(model, processor, settings: TrainSettings, *, progress: bool = False, log: Callable | None = None) -> dict:
    """Initialise and train ``model`` in place with ``settings.processes`` data-parallel processes.

    Args:
        model: the freshly built tiny model (random weights).
        processor: its processor.
        settings: the recipe.
        progress: a progress bar.
        log: ``log(step, loss, task_losses)`` after every step (one-process training only).

    Returns:
        The training log: loss per step, final loss per task, initialisation facts, seconds, samples seen.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        info = initialise(model, processor, settings)
        if settings.processes == 1:
            old = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return {
                    **info,
                    **_summary(train_loop(model, processor, settings, progress=progress, log=log), settings),
                }
            finally:
                torch.set_num_threads(old)
        from safetensors.torch import load_file

        with tempfile.TemporaryDirectory(prefix="seeing-train-") as tmp:
            work = Path(tmp)
            model.save_pretrained(work / "init", safe_serialization=True)
            processor.save_pretrained(work / "init")
            (work / "settings.json").write_text(json.dumps(settings.to_dict()))
            _run_workers(work, settings.processes, progress)
            model.load_state_dict(load_file(str(work / "weights.safetensors")), strict=True)
            result = json.loads((work / "log.json").read_text())
    model.eval()
    return {**info, **_summary(result, settings)}


if __name__ == "__main__":  # a data-parallel worker: python -m verl_difficulty.synthetic.train --worker DIR RANK N
    import sys

    if len(sys.argv) >= 5 and sys.argv[1] == "--worker":
        _worker(int(sys.argv[3]), int(sys.argv[4]), sys.argv[2], "--progress" in sys.argv)
    else:
        raise SystemExit("usage: python -m verl_difficulty.synthetic.train --worker DIR RANK WORLD [--progress]")
