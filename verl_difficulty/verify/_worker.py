"""The helper process behind :mod:`verl_difficulty.verify.timeout` (``python -m verl_difficulty.verify._worker``).

Reads one JSON request per line on stdin (``{"id", "op", "args"}``), runs the named operation and writes one
JSON reply per line (``{"id", "ok", "value"}`` or ``{"id", "ok": false, "error"}``) on the original stdout.
Anything a library prints goes to stderr, so it cannot corrupt the replies. Exits at end of input.

Operations:

- ``math_equal``: ``{"gold": [str, ...], "pred": str, "mathruler": bool}`` -> ``[bool, ...]``, whether ``pred``
  equals each gold answer under math-verify (and mathruler as a fallback).
- ``ping``: returns its arguments (tests, warm-up).
- ``limits``: ``{"address_space": bytes or -1, "pid": int}``, the helper's memory limit and process id.
- ``sleep``: ``{"seconds": float}`` busy-waits, for tests of the time limit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


def _limit_memory() -> None:
    mb = int(os.environ.get("VERL_DIFFICULTY_VERIFY_MEMORY_MB", "0") or 0)
    if mb <= 0:
        return
    try:
        import resource

        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not Linux, or not allowed: the time limit still applies
        pass


def _op_math_equal(args: dict) -> list[bool]:
    from verl_difficulty.verify.math_answer import slow_equal_many

    return slow_equal_many(list(args["gold"]), str(args["pred"]), use_mathruler=bool(args.get("mathruler", True)))


def _op_limits(args: dict) -> dict:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except ImportError:
        soft = -1
    return {"address_space": soft, "pid": os.getpid()}


def _op_sleep(args: dict) -> float:
    end = time.monotonic() + float(args.get("seconds", 0))
    while time.monotonic() < end:
        pass
    return float(args.get("seconds", 0))


OPS = {
    "math_equal": _op_math_equal,
    "ping": lambda args: args,
    "limits": _op_limits,
    "sleep": _op_sleep,
}


def main() -> None:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries go to stderr
    sys.stdout = sys.stderr
    _limit_memory()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from verl_difficulty.verify.math_answer import warm_up

    warm_up()
    out.write(json.dumps({"ready": True}) + "\n")
    for raw in sys.stdin.buffer:
        try:
            request = json.loads(raw)
            rid = request.get("id")
        except ValueError:
            continue
        try:
            value = OPS[request["op"]](request.get("args") or {})
            reply = {"id": rid, "ok": True, "value": value}
        except MemoryError:
            reply = {"id": rid, "ok": False, "error": "MemoryError"}
        except RecursionError:
            reply = {"id": rid, "ok": False, "error": "RecursionError"}
        except Exception as exc:  # an answer that breaks a library is a wrong answer, not a crash
            reply = {"id": rid, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
