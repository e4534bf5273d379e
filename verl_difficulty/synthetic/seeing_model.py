"""The "seeing model": a tiny Qwen2.5-VL trained on the synthetic tasks, built once and cached.

:func:`seeing_model` returns the folder of a trained checkpoint, training it on the first call (a few minutes
on two CPU cores) and reusing it afterwards. The folder is a normal Hugging Face checkpoint
(``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained``) plus two JSON files:

``seeing_model.json``  what was built: settings, cache key, versions, training loss curve and timings
``eval.json``          held-out accuracy per task, per difficulty knob, per difficulty bin, against mask ratio,
                       and the image-blind "chance" baseline per task (:mod:`verl_difficulty.synthetic.evaluate`)

Cache: ``$VERL_DIFFICULTY_CACHE/seeing-model/<key>``, else ``<project>/.cache/seeing-model/<key>`` in a source
checkout (git-ignored), else ``~/.cache/verl-difficulty/seeing-model/<key>``. The key hashes the generator
version, the trainer version and every setting, so a change to any of them builds a new model. The model is
trained in a temporary sibling folder and renamed into place only when complete, under a file lock, so an
interrupted build never leaves a half model and two processes asking at once train it once.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from verl_difficulty.synthetic.evaluate import DEFAULT_MASK_RATIOS
from verl_difficulty.synthetic.generator import GENERATOR_VERSION, SynthConfig, SynthError, check_tasks
from verl_difficulty.synthetic.train import TRAINER_VERSION, TrainSettings

REPORT_FILE = "eval.json"
INFO_FILE = "seeing_model.json"
#: Files that must exist for a cached folder to count as complete.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", INFO_FILE, REPORT_FILE)


@dataclass(frozen=True)
class EvalSettings:
    """How the held-out report is computed (part of the cache key: it is stored with the model)."""

    n_per_task: int = 100
    mask_n_per_task: int = 30
    mask_ratios: tuple[float, ...] = DEFAULT_MASK_RATIOS
    batch_size: int = 32


@dataclass(frozen=True)
class SeeingModelSpec:
    """Everything that determines a seeing model folder."""

    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def to_dict(self) -> dict:
        d = {"train": self.train.to_dict(), "eval": asdict(self.eval)}
        d["eval"]["mask_ratios"] = list(self.eval.mask_ratios)
        return d

    def key(self) -> str:
        """The cache key: a hash of the generator and trainer versions and every setting."""
        payload = {"generator_version": GENERATOR_VERSION, "trainer_version": TRAINER_VERSION, **self.to_dict()}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def small_spec(seed: int = 0, steps: int = 20) -> SeeingModelSpec:
    """A seconds-long variant (few steps, small batches, tiny evaluation) for tests of the machinery."""
    return SeeingModelSpec(
        train=TrainSettings(seed=seed, steps=steps, batch_size=8, warmup_steps=5, processes=1),
        eval=EvalSettings(n_per_task=4, mask_n_per_task=2, mask_ratios=(0.0, 0.5), batch_size=8),
    )


def project_root() -> Path | None:
    """The source checkout this package runs from (a folder with ``setup.py`` and ``verl_difficulty/``)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "setup.py").is_file() and (root / "verl_difficulty").is_dir():
        return root
    return None


def cache_root() -> Path:
    """Where cached models live (see the module docstring)."""
    env = os.environ.get("VERL_DIFFICULTY_CACHE")
    if env:
        return Path(env).expanduser()
    root = project_root()
    if root is not None:
        return root / ".cache"
    return Path.home() / ".cache" / "verl-difficulty"


def is_complete(path: Path) -> bool:
    return all((path / f).is_file() for f in REQUIRED_FILES)


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def build_seeing_model(
    out_dir: str | os.PathLike,
    spec: SeeingModelSpec | None = None,
    *,
    progress: bool = False,
    threads: int | None = 1,
    log=print,
) -> Path:
    """Train and evaluate a seeing model into ``out_dir`` (replaced atomically; nothing is left on failure).

    Args:
        out_dir: the folder to create.
        spec: settings (default: :class:`SeeingModelSpec()`).
        progress: show progress bars.
        threads: torch CPU threads of the evaluation (default 1: tiny matrices gain nothing from more, and
            OpenMP threads slow to a crawl when another process holds a core).
        log: where one-line status messages go (``None``: nowhere).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from verl_difficulty.synthetic.evaluate import evaluate
    from verl_difficulty.synthetic.train import tiny_config, train
    from verl_difficulty.testing import build_tiny_vlm

    spec = spec or SeeingModelSpec()
    check_tasks(spec.train.tasks)
    log = log or (lambda *a, **k: None)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        t0 = time.perf_counter()
        model_dir = build_tiny_vlm(tmp / "model", tiny_config(spec.train))
        processor = AutoProcessor.from_pretrained(model_dir)
        model = AutoModelForImageTextToText.from_pretrained(model_dir)
        n_params = sum(p.numel() for p in model.parameters())
        log(f"seeing model: {n_params / 1e6:.2f} M parameters, {spec.train.steps} steps x {spec.train.batch_size}")
        train_log = train(model, processor, spec.train, progress=progress)
        log(f"seeing model: trained in {train_log['train_seconds']:.0f} s ({spec.train.processes} processes)")
        with _torch_threads(threads):
            t1 = time.perf_counter()
            report = evaluate(
                model,
                processor,
                tasks=spec.train.tasks,
                seed=spec.train.seed,
                synth=spec.train.synth,
                n_per_task=spec.eval.n_per_task,
                mask_n_per_task=spec.eval.mask_n_per_task,
                mask_ratios=spec.eval.mask_ratios,
                batch_size=spec.eval.batch_size,
                progress=progress,
            )
            eval_seconds = time.perf_counter() - t1
        model.save_pretrained(model_dir, safe_serialization=True)
        losses = train_log.pop("losses")
        info = {
            "key": spec.key(),
            "spec": spec.to_dict(),
            "generator_version": GENERATOR_VERSION,
            "trainer_version": TRAINER_VERSION,
            "parameters": n_params,
            "processes": spec.train.processes,
            "versions": _versions(),
            **train_log,
            "eval_seconds": round(eval_seconds, 2),
            "total_seconds": round(time.perf_counter() - t0, 2),
            "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 6),
            "losses": losses,
        }
        (model_dir / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
        (model_dir / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
        os.chmod(model_dir, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(model_dir, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _versions() -> dict:
    import platform

    import torch
    import transformers

    from verl_difficulty import __version__

    return {
        "verl_difficulty": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def seeing_model(
    spec: SeeingModelSpec | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
    progress: bool = False,
    threads: int | None = 1,
    log=print,
) -> Path:
    """The folder of the trained seeing model for ``spec``, trained on first use and cached.

    Args:
        spec: settings (default: the model the README and the tests use).
        cache_dir: cache root (default: :func:`cache_root`).
        rebuild: train again even if a cached model exists.
        progress: progress bars while training / evaluating.
        threads: torch CPU threads of the evaluation.
        log: status messages (``None``: quiet).
    """
    spec = spec or SeeingModelSpec()
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    path = root / "seeing-model" / spec.key()
    if not rebuild and is_complete(path):
        return path
    with _file_lock(root / "seeing-model" / f".{spec.key()}.lock"):
        if not rebuild and is_complete(path):  # another process built it while we waited
            return path
        if log:
            log(f"seeing model: building {path} (cached for later runs)")
        build_seeing_model(path, spec, progress=progress, threads=threads, log=log)
    return path


def load_report(model_dir: str | os.PathLike) -> dict:
    """The ``eval.json`` stored next to a seeing model."""
    path = Path(model_dir) / REPORT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no evaluation report (is {model_dir} a seeing model folder?)")
    return json.loads(path.read_text())


def load_info(model_dir: str | os.PathLike) -> dict:
    path = Path(model_dir) / INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a seeing model folder")
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------------------------------------------
# printing


def format_report(report: dict, info: dict | None = None) -> str:
    """The held-out tables as plain text (what the CLI prints)."""
    lines = []
    if info:
        lines.append(
            f"seeing model {info['key']}: {info['parameters'] / 1e6:.2f} M parameters, "
            f"{info['samples']} training samples, trained in {info['train_seconds']:.0f} s "
            f"({info['processes']} processes), final loss {info['final_loss']:.3f}"
        )
    acc, chance = report["accuracy"], report["chance"]
    tasks = [t for t in acc if t != "all"]
    lines.append("")
    lines.append(f"held-out accuracy ({report['n_per_task']} samples per task)")
    lines.append(f"  {'task':<10} {'acc':>6} {'chance':>7}  easy    mid     hard   (difficulty bins)")
    for t in tasks:
        d = report["by_difficulty"][t]
        bins = "  ".join(_fmt(d[b]) for b in ("easy", "mid", "hard"))
        lines.append(f"  {t:<10} {acc[t]['acc']:>6.2f} {chance[t]['acc']:>7.2f}  {bins}")
    d = report["by_difficulty"]["all"]
    bins = "  ".join(_fmt(d[b]) for b in ("easy", "mid", "hard"))
    lines.append(f"  {'all':<10} {acc['all']['acc']:>6.2f} {'':>7}  {bins}")
    lines.append("")
    lines.append("accuracy per knob (knob hardness bins: easy / mid / hard)")
    for t in tasks:
        for knob, bins_ in report["by_knob"][t].items():
            lines.append(f"  {t:<10} {knob:<10} " + "  ".join(_fmt(bins_[b]) for b in ("easy", "mid", "hard")))
    lines.append("")
    curve = report["by_mask_ratio"]
    ratios = list(curve["all"])
    lines.append(f"accuracy against mask ratio ({report['mask_mode']} masks, {report['mask_n_per_task']} per task)")
    lines.append(f"  {'task':<10} " + " ".join(f"{r:>5}" for r in ratios))
    for t in (*tasks, "all"):
        lines.append(f"  {t:<10} " + " ".join(f"{curve[t][r]['acc']:>5.2f}" for r in ratios))
    return "\n".join(lines)


def _fmt(cell: dict) -> str:
    return f"{cell['acc']:.2f}({cell['n']:>3})" if cell["acc"] is not None else "  -   (  0)"


def main(argv: list[str] | None = None) -> int:
    """``verl-difficulty seeing-model``: build (or find in the cache) the seeing model and print its report."""
    parser = argparse.ArgumentParser(
        prog="verl-difficulty seeing-model",
        description="Train (once, cached) the tiny Qwen2.5-VL that sees the synthetic tasks and print its "
        "held-out accuracy per task, per difficulty knob and against mask ratio.",
    )
    parser.add_argument("--out", help="also copy the model folder here (replaced if it exists)")
    parser.add_argument("--cache-dir", help="cache root (default: $VERL_DIFFICULTY_CACHE or <project>/.cache)")
    parser.add_argument("--rebuild", action="store_true", help="train again even if the cache has the model")
    parser.add_argument("--seed", type=int, default=0, help="weights and data stream seed (default 0)")
    parser.add_argument("--steps", type=int, help=f"optimiser steps (default {TrainSettings.steps})")
    parser.add_argument("--batch-size", type=int, help=f"samples per step (default {TrainSettings.batch_size})")
    parser.add_argument("--tasks", help="comma-separated tasks (default: all)")
    parser.add_argument("--eval-n", type=int, help=f"held-out samples per task (default {EvalSettings.n_per_task})")
    parser.add_argument("--processes", type=int, help=f"training processes (default {TrainSettings.processes})")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of the evaluation (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    try:
        train_over: dict[str, Any] = {"seed": args.seed}
        if args.steps is not None:
            if args.steps < 1:
                raise SynthError(f"--steps: expected a positive integer, got {args.steps}")
            train_over["steps"] = args.steps
        if args.batch_size is not None:
            if args.batch_size < 1:
                raise SynthError(f"--batch-size: expected a positive integer, got {args.batch_size}")
            train_over["batch_size"] = args.batch_size
        if args.tasks:
            train_over["tasks"] = check_tasks(args.tasks)
        if args.processes is not None:
            train_over["processes"] = args.processes
        spec = SeeingModelSpec()
        spec = replace(spec, train=replace(spec.train, **train_over))  # validates the values
        if args.eval_n is not None:
            if args.eval_n < 1:
                raise SynthError(f"--eval-n: expected a positive integer, got {args.eval_n}")
            spec = replace(spec, eval=replace(spec.eval, n_per_task=args.eval_n))
        if args.threads is not None and args.threads < 1:
            raise SynthError(f"--threads: expected a positive integer, got {args.threads}")
    except SynthError as e:
        print(f"verl-difficulty seeing-model: {e}", file=sys.stderr)
        return 2

    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    path = seeing_model(
        spec, cache_dir=args.cache_dir, rebuild=args.rebuild, progress=not args.quiet, threads=args.threads, log=log
    )
    if args.out:
        out = Path(args.out)
        if out.resolve() != path.resolve():
            _copy_atomic(path, out)
            path = out
    report, info = load_report(path), load_info(path)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "info": {k: v for k, v in info.items() if k != "losses"},
                    "report": {k: v for k, v in report.items() if k != "records"},
                },
                indent=1,
            )
        )
    else:
        print(format_report(report, info))
        print(f"\nmodel: {path}")
    return 0


def _copy_atomic(src: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.copy-", dir=out.parent))
    try:
        shutil.copytree(src, tmp / "m")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp / "m", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SynthConfig  # re-exported for callers building specs  # noqa: B018
