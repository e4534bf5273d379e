"""The per-answer time limit: works from threads and forked processes, kills and replaces stuck helpers."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from verl_difficulty.verify import VerifySettings, check_math, compute_score, run_guarded
from verl_difficulty.verify.math_answer import clear_cache, math_equal
from verl_difficulty.verify.timeout import get_pool

BOMB = "<think>big</think><answer>10^{10^{10}}</answer>"  # hangs math-verify for minutes without a limit


def test_a_stuck_helper_is_killed_at_the_limit_and_replaced():
    assert run_guarded("ping", {"x": 1}, 30).value == {"x": 1}
    restarts = get_pool().restarts
    t0 = time.monotonic()
    res = run_guarded("sleep", {"seconds": 30}, 0.5)
    elapsed = time.monotonic() - t0
    assert res.timed_out and not res.ok
    assert elapsed < 3.0
    assert get_pool().restarts == restarts + 1
    assert run_guarded("ping", {"y": 2}, 30).value == {"y": 2}  # the replacement answers


def test_math_bomb_times_out_in_a_worker_thread():
    settings = VerifySettings(timeout_s=1.0)
    out = {}

    def work():
        t0 = time.monotonic()
        out["result"] = check_math(BOMB, "1", settings)
        out["seconds"] = time.monotonic() - t0

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert out["result"].timed_out and not out["result"].correct
    assert out["seconds"] < 1.0 + 5.0
    # The next answer is judged normally.
    assert math_equal("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", settings) == (True, False)


def test_concurrent_callers_each_get_their_own_limit():
    results: list = []

    def work(i):
        pred = BOMB if i % 2 == 0 else f"<answer>\\sqrt{{{(i + 1) ** 2}}}</answer>"
        results.append((i, compute_score("math", pred, str(i + 1), {"task": "math"}, timeout_s=1.0)))

    clear_cache()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert time.monotonic() - t0 < 30
    by_index = dict(results)
    assert by_index[0]["timeout"] == by_index[2]["timeout"] == 1.0
    assert by_index[1]["acc"] == by_index[3]["acc"] == 1.0
    assert by_index[1]["timeout"] == 0.0


def test_helpers_run_under_a_memory_limit():
    limits = run_guarded("limits", {}, 30).value
    assert limits["address_space"] == 2048 * 1024 * 1024


def _child(queue):
    queue.put(math_equal("2\\sqrt{2}", "\\sqrt{8}", VerifySettings()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_gets_its_own_helpers():
    clear_cache()
    parent_pids = set(get_pool().pids())
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    assert queue.get(timeout=60) == (True, False)
    proc.join(30)
    assert proc.exitcode == 0
    assert set(get_pool().pids()) >= parent_pids  # the parent's helpers survived the child
    assert run_guarded("ping", {}, 30).ok
