"""Answer-checking speed on a mixed batch, side by side with verl's built-in geo3k scorer.

    python benchmarks/bench_verify.py                 # 2,000 answers, about half right
    python benchmarks/bench_verify.py -n 5000 --adversarial --no-cache

The batch is built from the real samples in ``../shared/data`` (MATH-Vision answers and options, Geometry3K
choices, MMOCR words, ICDAR word boxes) as R1-style responses (``<think>…</think><answer>…</answer>``, math
answers as ``\\boxed{}`` inside the answer tags), right and wrong, for all five tasks.

Printed figures:

- answers per second per core: answers / CPU seconds, counting this process *and* the verify helper processes;
- the same for ``verl.utils.reward_score.geo3k.compute_score`` on the math and multiple-choice answers (the
  subset it can judge), same inputs in the same run, with the agreement between the two;
- the guard's overhead: slow-path answers checked through the helper (IPC + time limit) vs. the same check
  run directly in this process (no time limit);
- the slowest single answer, and which it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import resource
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from verl_difficulty.verify import VerifySettings, compute_score, math_answer  # noqa: E402
from verl_difficulty.verify.timeout import get_pool, run_guarded  # noqa: E402

LETTERS = "ABCDEFGHIJ"
THINK = (
    "<think>Let me look at the image carefully. The figure shows the relevant quantities; I set up the relation "
    "between them, simplify step by step and check the result against the picture.</think>\n"
)


def find_data() -> Path:
    env = os.environ.get("VERL_DIFFICULTY_SHARED_DATA")
    if env:
        return Path(env)
    for parent in REPO.resolve().parents:
        if (parent / "shared" / "data" / "mathv_testmini").is_dir():
            return parent / "shared" / "data"
    sys.exit("../shared/data not found; set VERL_DIFFICULTY_SHARED_DATA")


def r1(answer: str) -> str:
    return f"{THINK}<answer>{answer}</answer>"


def _num_variants(ans: str, rng: random.Random) -> tuple[str, str]:
    """(a right spelling, a wrong value) of a numeric answer, spelled the many ways models write numbers."""
    value = Fraction(ans)
    spellings = [
        ans,
        f"{ans}.0" if "." not in ans else ans,
        f"\\frac{{{value.numerator * 2}}}{{{value.denominator * 2}}}",
        f"x = {ans}",
        f"{ans} \\text{{ cm}}",
        f"{ans}^{{\\circ}}",
        f"\\sqrt{{{value * value}}}" if value > 0 and value.denominator == 1 else ans,
        f"{value.numerator * 3}/{value.denominator * 3}",
    ]
    wrong_value = value + rng.choice([1, 2, -1])
    wrongs = [str(wrong_value), f"x = {wrong_value}", f"{wrong_value} \\text{{ cm}}", f"{float(wrong_value) / 3:.4f}"]
    return rng.choice(spellings), rng.choice(wrongs)


def build_batch(data: Path, n: int, seed: int = 0, adversarial: bool = False) -> list[dict]:
    rng = random.Random(seed)
    mathv = [json.loads(line) for line in open(data / "mathv_testmini" / "testmini.jsonl", encoding="utf-8")]
    geo = [json.loads((d / "data.json").read_text()) for d in sorted((data / "geo3k_examples").iterdir()) if d.is_dir()]
    labels = json.loads((data / "ocr_mmocr" / "rec_words" / "labels.json").read_text())
    words = [i["text"] for item in labels["data_list"] for i in item["instances"]]
    boxes: dict[tuple[str, str], list] = {}
    for path in sorted((data / "ocr_mmocr" / "icdar2015_toy" / "gt").glob("*.txt")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            parts = line.strip().split(",")
            if len(parts) >= 9 and ",".join(parts[8:]) != "###":
                c = [float(v) for v in parts[:8]]
                box = [min(c[0::2]), min(c[1::2]), max(c[0::2]), max(c[1::2])]
                boxes.setdefault((path.stem, ",".join(parts[8:])), []).append(box)
    free = [r for r in mathv if not r["options"] and re.fullmatch(r"-?\d+(\.\d+)?", r["answer"])]
    choice = [r for r in mathv if r["options"]]

    def math_item():
        if rng.random() < 0.5:
            row = rng.choice(free)
            right, wrong = _num_variants(row["answer"], rng)
            gold = row["answer"]
        else:
            prob = rng.choice(geo)
            i = rng.randrange(len(prob["choices"]))
            gold = prob["choices"][i]
            value = prob["precise_value"][i]
            right = rng.choice([re.sub(r"\s+", "", gold), gold, f"{value:.6f}", f"\\boxed{{{gold}}}"])
            wrong = rng.choice([prob["choices"][(i + 1) % len(prob["choices"])], f"{value:.2f}", f"{value + 1:g}"])
        pred = right if rng.random() < 0.5 else wrong
        return {
            "task": "math",
            "data_source": "mathv",
            "gt": gold,
            "info": {"task": "math"},
            "response": r1(f"The answer is \\boxed{{{pred}}}."),
        }

    def choice_item():
        row = rng.choice(choice)
        opts, gold = row["options"], row["answer"]
        k = LETTERS.index(gold)
        pick = k if rng.random() < 0.5 else rng.randrange(len(opts))
        pred = rng.choice([LETTERS[pick], f"({LETTERS[pick]})", f"{LETTERS[pick]}. {opts[pick]}"])
        return {
            "task": "choice",
            "data_source": "mathv",
            "gt": gold,
            "info": {"task": "choice", "options": opts},
            "response": r1(f"\\boxed{{{pred}}}"),
        }

    def ocr_item():
        word = rng.choice(words)
        pred = word if rng.random() < 0.5 else rng.choice(words + [word[:-1], word.lower() + "s"])
        return {"task": "ocr", "data_source": "ocr", "gt": word, "info": {"task": "ocr"}, "response": r1(pred)}

    def count_item():
        n_true = rng.randint(0, 20)
        n_pred = n_true if rng.random() < 0.5 else n_true + rng.choice([1, -1, 2])
        pred = rng.choice([str(n_pred), f"There are {n_pred} objects."])
        return {
            "task": "counting",
            "data_source": "count",
            "gt": str(n_true),
            "info": {"task": "counting"},
            "response": r1(pred),
        }

    def ground_item():
        (_, _), truth = rng.choice(list(boxes.items()))
        dx = rng.choice([0.0, 0.0, 3.0, 12.0, 40.0])
        pred = [[b[0] + dx, b[1], b[2] + dx, b[3]] for b in truth]
        if len(pred) > 1 and rng.random() < 0.5:
            pred = pred[:1]
        text = json.dumps([{"bbox_2d": [round(c) for c in b], "label": "word"} for b in pred], indent=2)
        return {
            "task": "grounding",
            "data_source": "icdar",
            "gt": json.dumps(truth),
            "info": {"task": "grounding"},
            "response": r1(f"```json\n{text}\n```"),
        }

    makers = [(math_item, 0.35), (choice_item, 0.25), (ocr_item, 0.15), (count_item, 0.10), (ground_item, 0.15)]
    batch = [rng.choices([m for m, _ in makers], weights=[w for _, w in makers])[0]() for _ in range(n)]
    if adversarial:
        for bomb in ("10^{10^{10}}", "9^{9^{9^{9}}}", "\\frac{1}{" * 300 + "2" + "}" * 300):
            batch.append(
                {"task": "math", "data_source": "math", "gt": "1", "info": {"task": "math"}, "response": r1(bomb)}
            )
    return batch


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class HelperCPU:
    """CPU seconds spent in verify helpers between :meth:`start` and :meth:`stop`, including helpers killed
    (and reaped) in between, whose time ``RUSAGE_CHILDREN`` reports."""

    def start(self) -> None:
        self.before = {p: c for p in get_pool().pids() if (c := _proc_cpu(p)) is not None}
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)

    def stop(self) -> float:
        after = {p: c for p in get_pool().pids() if (c := _proc_cpu(p)) is not None}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        reaped = (children.ru_utime + children.ru_stime) - (self.children.ru_utime + self.children.ru_stime)
        reaped -= sum(c for p, c in self.before.items() if p not in after)  # their time before start()
        return reaped + sum(c - self.before.get(p, 0.0) for p, c in after.items())


def warm_up() -> None:
    pool = get_pool()
    for _ in range(pool.max_workers):
        run_guarded("ping", {}, 120)
    math_answer.math_equal("5\\sqrt{3}", "\\sqrt{75}", VerifySettings())


def run_ours(batch: list[dict]) -> dict:
    math_answer.clear_cache()
    helper_cpu = HelperCPU()
    helper_cpu.start()
    restarts_before = get_pool().restarts
    cpu0, wall0 = time.process_time(), time.perf_counter()
    per_answer, results = [], []
    for item in batch:
        t0 = time.perf_counter()
        results.append(compute_score(item["data_source"], item["response"], item["gt"], item["info"]))
        per_answer.append(time.perf_counter() - t0)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    helper = helper_cpu.stop()
    slowest = max(range(len(batch)), key=per_answer.__getitem__)
    return {
        "wall": wall,
        "cpu": cpu,
        "helper_cpu": helper,
        "per_answer": per_answer,
        "results": results,
        "slowest": slowest,
        "restarts": get_pool().restarts - restarts_before,
    }


def run_geo3k(batch: list[dict]) -> dict:
    from verl.utils.reward_score import geo3k

    subset = [i for i, item in enumerate(batch) if item["task"] in ("math", "choice")]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    scores = {}
    per_answer = []
    for i in subset:
        t0 = time.perf_counter()
        scores[i] = geo3k.compute_score(batch[i]["response"], batch[i]["gt"])
        per_answer.append(time.perf_counter() - t0)
    return {
        "subset": subset,
        "scores": scores,
        "cpu": time.process_time() - cpu0,
        "wall": time.perf_counter() - wall0,
        "max": max(per_answer, default=0.0),
    }


def guard_overhead(batch: list[dict], results: list[dict], limit: int = 300) -> dict:
    """Slow-path answers (the fast path cannot decide them): through the helper vs. directly in-process.

    Answers that hit the time limit in the timed run are left out: run directly they would never finish.
    """
    from verl_difficulty.verify.extract import extract_answer
    from verl_difficulty.verify.math_answer import fast_equal, slow_equal_many, unwrap_boxed

    pairs = []
    for item, result in zip(batch, results):
        if item["task"] == "math" and not result["timeout"]:
            pred = unwrap_boxed(extract_answer(item["response"]).text)
            if fast_equal(item["gt"], pred) is None:
                pairs.append((item["gt"], pred))
    math_total = sum(1 for item in batch if item["task"] == "math")
    pairs = pairs[:limit]
    # Both sides warm (a first pass fills the helper's and this process's parse caches), then each answer is
    # timed both ways back to back; medians are robust to other jobs on the machine.
    for gold, pred in pairs:
        run_guarded("math_equal", {"gold": [gold], "pred": pred, "mathruler": True}, 60)
        slow_equal_many([gold], pred)
    guarded, direct = [], []
    for gold, pred in pairs:
        t0 = time.perf_counter()
        run_guarded("math_equal", {"gold": [gold], "pred": pred, "mathruler": True}, 60)
        t1 = time.perf_counter()
        slow_equal_many([gold], pred)
        t2 = time.perf_counter()
        guarded.append(t1 - t0)
        direct.append(t2 - t1)
    pings = []
    for _ in range(200):
        t0 = time.perf_counter()
        run_guarded("ping", {"gold": ["5 \\sqrt { 3 }"], "pred": "8.66"}, 60)
        pings.append(time.perf_counter() - t0)
    return {
        "n": len(pairs),
        "math_total": math_total,
        "guarded": statistics.fmean(guarded) if guarded else 0.0,
        "direct": statistics.fmean(direct) if direct else 0.0,
        "diff": statistics.median([g - d for g, d in zip(guarded, direct)]) if guarded else 0.0,
        "ping": statistics.median(pings),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="answers in the mixed batch (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adversarial", action="store_true", help="add three answers that need the time limit")
    parser.add_argument("--no-cache", action="store_true", help="do not remember slow-path verdicts")
    parser.add_argument(
        "--show-disagreements", type=int, default=0, metavar="K", help="print K answers where ours and geo3k disagree"
    )
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    if args.no_cache:
        math_answer._CACHE_SIZE = 0

    batch = build_batch(find_data(), args.n, args.seed, args.adversarial)
    warm_up()
    ours = run_ours(batch)
    geo = run_geo3k(batch)
    ours_sub = run_ours([batch[i] for i in geo["subset"]])
    guard = guard_overhead(batch, ours["results"])

    n = len(batch)
    cpu_total = ours["cpu"] + ours["helper_cpu"]
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(
        f"batch: {n} answers; "
        + ", ".join(
            f"{t} {sum(1 for b in batch if b['task'] == t)}" for t in ("math", "choice", "ocr", "counting", "grounding")
        )
        + f"; {sum(r['acc'] for r in ours['results']):.0f} judged correct"
    )
    print(
        f"ours : {n / cpu_total:8.0f} answers/s/core  ({n / ours['wall']:.0f} answers/s wall, one caller; "
        f"CPU {ours['cpu']:.2f}s here + {ours['helper_cpu']:.2f}s in helpers; "
        f"{sum(r['timeout'] for r in ours['results']):.0f} timed out, helper restarts {ours['restarts']})"
    )
    sub = geo["subset"]
    ours_sub_cpu = ours_sub["cpu"] + ours_sub["helper_cpu"]
    agree = sum(1 for i in sub if (ours["results"][i]["acc"] == 1.0) == (geo["scores"][i] >= 0.9))
    print(
        f"geo3k: {len(sub) / geo['cpu']:8.0f} answers/s/core  on the {len(sub)} math+choice answers "
        f"(ours on the same answers: {len(sub) / ours_sub_cpu:.0f} answers/s/core); "
        f"agreement {agree}/{len(sub)}; geo3k correct {sum(1 for i in sub if geo['scores'][i] >= 0.9)}, "
        f"ours correct {sum(1 for i in sub if ours['results'][i]['acc'] == 1.0)}"
    )
    if guard["n"]:
        g, d, diff = guard["guarded"] * 1e3, guard["direct"] * 1e3, guard["diff"] * 1e3
        print(
            f"guard: {guard['n']} of {guard['math_total']} math answers need math-verify; mean per answer "
            f"{g:.2f} ms through the helper vs {d:.2f} ms in-process; overhead {g - d:+.2f} ms mean, "
            f"{diff:+.2f} ms median of paired differences "
            f"(bare round trip {guard['ping'] * 1e3:.2f} ms); all other answers never leave this process"
        )
    shown = 0
    for j in sub:
        if shown >= args.show_disagreements:
            break
        if (ours["results"][j]["acc"] == 1.0) != (geo["scores"][j] >= 0.9):
            item = batch[j]
            print(
                f"  differ: gt {item['gt']!r} answer {item['response'][len(THINK) :]!r} "
                f"ours {ours['results'][j]['acc']:.0f} geo3k {geo['scores'][j]:.1f}"
            )
            shown += 1
    i = ours["slowest"]
    item = batch[i]
    snippet = item["response"][len(THINK) :][:80].replace("\n", " ")
    print(
        f"slowest: {ours['per_answer'][i] * 1e3:.1f} ms ({item['task']}, gt {item['gt'][:40]!r}, "
        f"answer {snippet!r}); median {statistics.median(ours['per_answer']) * 1e3:.3f} ms; "
        f"geo3k slowest {geo['max'] * 1e3:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
