"""CMAB attention pass: one teacher-forced forward vs. generate(output_attentions=True), side by side.

    python benchmarks/bench_cmab.py                        # CPU, tiny 8-layer model, 256 and 1024 tokens
    python benchmarks/bench_cmab.py --device cuda --hidden-size 1024 --layers 16 --heads 16 --kv-heads 4
    python benchmarks/bench_cmab.py --model /models/Qwen2.5-VL-7B-Instruct --device cuda --dtype bfloat16

The prompt is a real bundled MATH-V row rendered as CMAB's probe (instruction + question, then the image). For
the longest length a response is sampled once with the length forced (``min_new_tokens = max_new_tokens``);
shorter lengths take its prefix. Then, for each length, each in a fresh process so that peak memory is its own:

- ``generate``: ``generate()`` of the same tokens (forced) with the model's own kernel (sdpa) and no
  attentions: what an engine spends anyway before the teacher-forced pass (vLLM being faster);
- ``reference``: ``generate(output_attentions=True)`` with eager attention on the same tokens (forced), which
  keeps every layer's attention for every step (what the authors' released code does). Its cost does not
  depend on the mode; both modes' ρ̄ are reduced from the one call;
- ``teacher-forced``: :func:`verl_difficulty.scorers.cmab_attention.teacher_forced_balance` per mode (one pass,
  the model's kernel elsewhere, only the measured layer(s) and response rows).

Printed per length and mode: wall time (best of ``--repeats``; the first run follows a 4-token warm-up); peak
memory above the process's memory before its first call (the warm-up, then the measured call; CPU: RSS sampled
every millisecond plus ``ru_maxrss``; CUDA: ``torch.cuda.max_memory_allocated``); the ratios reference /
teacher-forced; and |Δρ̄| between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory of a block above what the process held when it started (CPU RSS or CUDA allocator)."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def __enter__(self):
        import gc

        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = rss_bytes()
        self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.sampled = self.base
        self.stop = threading.Event()

        def sample():
            while not self.stop.is_set():
                self.sampled = max(self.sampled, rss_bytes())
                time.sleep(0.001)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
            return False
        self.stop.set()
        self.thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak = max(self.sampled, maxrss if maxrss > self.maxrss0 else 0)
        self.peak = max(0, peak - self.base)
        return False


def load(model_dir: str, device: str, dtype: str, attn: str = "sdpa"):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=getattr(torch, dtype), attn_implementation=attn
    )
    return model.to(device).eval(), AutoProcessor.from_pretrained(model_dir)


def probe_row(work: Path):
    from verl_difficulty.data.bundled import bundled_root
    from verl_difficulty.data.converters import CONVERTERS, convert_to_parquet

    out = work / "mathv.parquet"
    if not out.exists():
        convert_to_parquet(CONVERTERS["mathv"], bundled_root() / "mathv_testmini" / "testmini.jsonl", out, quiet=True)
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()[1]


def inputs_for(model, processor, row, response_ids):
    from verl_difficulty.scorers.base import row_images, row_messages
    from verl_difficulty.scorers.cmab import CMABSettings, probe_messages
    from verl_difficulty.scorers.cmab_attention import build_probe_inputs

    messages = probe_messages(row_messages(row), CMABSettings())
    return build_probe_inputs(model, processor, messages, row_images(row), response_ids)


def worker(args) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import torch

    from verl_difficulty.scorers import cmab_attention as ca

    job = json.loads(Path(args.job).read_text())
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    model, processor = load(job["model"], job["device"], job["dtype"])
    row = probe_row(Path(job["work"]))
    response = job["response"]
    inputs = inputs_for(model, processor, row, response)
    method, modes = job["method"], job["modes"]

    def call(inp):
        if method == "reference":
            steps = ca.generate_attentions(model, inp)
            return {m: ca.reduce_generate_attentions(steps, inp, mode=m).rho for m in modes}
        if method == "generate":
            ca.forced_generate(model, inp)
            return {}
        return {m: ca.teacher_forced_balance(model, inp, mode=m).rho for m in modes}

    warm = inputs_for(model, processor, row, response[:4])
    # memory: from before any call (allocators keep what a warm-up took) to the end of the first full call
    with PeakMemory(job["device"]) as mem:
        call(warm)
        t0 = time.perf_counter()
        rho = call(inputs)
        if job["device"].startswith("cuda"):
            torch.cuda.synchronize()
        times = [time.perf_counter() - t0]
    for _ in range(job["repeats"] - 1):
        t0 = time.perf_counter()
        call(inputs)
        if job["device"].startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "seconds": min(times),
                "peak_bytes": mem.peak,
                "rho": rho,
                "prompt_len": inputs.prompt_len,
                "image_tokens": int(inputs.spans.image_positions.size),
            }
        )
    )


def run_job(job: dict, work: Path) -> dict:
    path = work / "job.json"
    path.write_text(json.dumps(job))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    # glibc: a fixed mmap threshold hands every large tensor back to the OS when freed, so RSS tracks live memory
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True, env=env, timeout=1800
    )
    if out.returncode != 0:
        sys.exit(f"worker failed ({job['method']}, {job['modes']}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model", help="an existing checkpoint (default: build a tiny random Qwen2.5-VL)")
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--modes", nargs="+", default=["code", "paper"], choices=["code", "paper"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per measurement (best is printed)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on cpu, torch's on cuda)")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--max-pixels", type=int, default=256 * 28 * 28, help="tiny model: image token budget x 784")
    p.add_argument("--work", help="folder for the model and data (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.worker:
        args.job = args.worker
        worker(args)
        return 0

    import torch

    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_cmab_"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = args.model
    if model_dir is None:
        from verl_difficulty.testing import build_tiny_vlm

        model_dir = str(work / "model")
        if not Path(model_dir).exists():
            build_tiny_vlm(
                model_dir,
                hidden_size=args.hidden_size,
                intermediate_size=args.hidden_size * 3,
                num_hidden_layers=args.layers,
                num_attention_heads=args.heads,
                num_key_value_heads=args.kv_heads,
                max_pixels=args.max_pixels,
            )
    model, processor = load(model_dir, args.device, dtype)
    row = probe_row(work)
    cfg = model.config.text_config
    print(
        f"model: {model_dir} ({type(model).__name__}, {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
        f"{cfg.num_attention_heads} heads / {cfg.num_key_value_heads} kv, {dtype}, {args.device})"
    )
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; row {row['extra_info']['index']}")
    threads = args.threads if args.threads is not None else (None if args.device.startswith("cuda") else 1)
    if threads:
        torch.set_num_threads(threads)
    results = []
    # one sampled response of the longest length (forced: no early end); shorter lengths use its prefixes
    longest = max(args.lengths)
    prompt = inputs_for(model, processor, row, [])
    torch.manual_seed(0)
    with torch.inference_mode():
        out = model.generate(
            **prompt.prompt_inputs, max_new_tokens=longest, min_new_tokens=longest, do_sample=True, top_p=0.9
        )
    sampled = out[0, prompt.prompt_len :].tolist()
    assert len(sampled) == longest, (len(sampled), longest)
    for n in args.lengths:
        response = sampled[:n]
        base = {"model": model_dir, "device": args.device, "dtype": dtype, "work": str(work), "response": response}
        base.update(repeats=args.repeats, threads=threads, modes=args.modes)
        gen = run_job({**base, "method": "generate"}, work)
        ref = run_job({**base, "method": "reference"}, work)
        print(f"  {n} tokens: reference done", flush=True)
        for mode in args.modes:
            tf = run_job({**base, "method": "teacher-forced", "modes": [mode]}, work)
            results.append((n, mode, ref, tf, gen["seconds"]))
        print(f"  {n} tokens: teacher-forced done", flush=True)
    p_len = results[0][2]["prompt_len"]
    img = results[0][2]["image_tokens"]
    mem = "CUDA max_memory_allocated" if args.device.startswith("cuda") else "RSS"
    print(f"\nprompt {p_len} tokens ({img} image tokens); torch threads {threads or torch.get_num_threads()}; ", end="")
    print(f"peak memory = {mem} above the pre-call level\n")
    header = (
        f"{'tokens':>6} {'mode':>5} | {'reference s':>11} {'MiB':>8} | {'teacher-forced s':>16} {'MiB':>7} | "
        f"{'time ratio':>10} {'mem ratio':>9} | {'generate s':>10} {'(gen+TF)/ref':>12} | {'|Δρ̄|':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, mode, ref, tf, gen_seconds in results:
        mib = 1024 * 1024
        print(
            f"{n:>6} {mode:>5} | {ref['seconds']:>11.3f} {ref['peak_bytes'] / mib:>8.1f} | "
            f"{tf['seconds']:>16.3f} {tf['peak_bytes'] / mib:>7.1f} | "
            f"{ref['seconds'] / tf['seconds']:>9.1f}x {ref['peak_bytes'] / max(tf['peak_bytes'], 1):>8.1f}x | "
            f"{gen_seconds:>10.3f} {(gen_seconds + tf['seconds']) / ref['seconds']:>12.2f} | "
            f"{abs(ref['rho'][mode] - tf['rho'][mode]):>8.1e}"
        )
    print(
        "\ntime/mem ratio = reference / teacher-forced (the reference's cost is one call for both modes). "
        "(gen+TF)/ref: plain generation plus the teacher-forced pass relative to generating with output_attentions."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
