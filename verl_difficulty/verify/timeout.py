"""A per-answer time limit that works in any thread, any process and inside Ray actors.

math-verify bounds its own work with ``signal.alarm``, which only works in the main thread of the main
interpreter; verl's reward managers call ``compute_score`` from executor threads inside Ray actors. Here the
expensive part of checking an answer (sympy via math-verify / mathruler) runs instead in a small pool of
persistent helper processes (:mod:`verl_difficulty.verify._worker`), started with ``subprocess`` (no fork of
the caller, no ``multiprocessing`` daemon restrictions). A call that exceeds its limit has its helper killed
with ``SIGKILL`` and replaced; the caller gets a timed-out result instead of a hang. Helpers also run under an
address-space limit, so an answer such as ``10^{10^{10}}`` cannot exhaust the machine's memory either.

Only the slow path pays for this: cheap checks (normalised string or numeric equality) run in-process.

Settings (environment variables, read when the pool starts):

- ``VERL_DIFFICULTY_VERIFY_WORKERS``: helper processes per Python process (default 2). Concurrent callers
  beyond that wait for a free helper; waiting does not count against their time limit.
- ``VERL_DIFFICULTY_VERIFY_MEMORY_MB``: address-space limit of each helper in MiB (default 2048, 0 = none).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds a new helper may take to import its libraries (not counted against any answer's limit).
STARTUP_TIMEOUT_S = 120.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class GuardError(RuntimeError):
    """The helper process could not be started or answered with something unreadable."""


@dataclass(frozen=True)
class GuardResult:
    """Outcome of one guarded call.

    Attributes:
        ok: the helper returned a value (``value`` is set).
        value: the JSON value the operation returned (``None`` unless ``ok``).
        timed_out: the call exceeded its limit and the helper was killed.
        error: a short description when the operation raised inside the helper or the helper died.
        seconds: wall time spent on the call (excluding waiting for a free helper).
    """

    ok: bool
    value: Any = None
    timed_out: bool = False
    error: str | None = None
    seconds: float = 0.0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class _Helper:
    """One helper process and the buffered end of its output pipe."""

    def __init__(self, memory_mb: int):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        env["VERL_DIFFICULTY_VERIFY_MEMORY_MB"] = str(memory_mb)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        # The helper must not load verl plug-ins or Ray: it only checks answers.
        env["VERL_USE_EXTERNAL_PLUGINS"] = "none"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "verl_difficulty.verify._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C in the terminal goes to the caller, which then closes helpers
        )
        self.buf = b""
        self.ready = False
        self.next_id = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def read_line(self, deadline: float) -> bytes | None:
        """One line from the helper, or ``None`` when ``deadline`` (``time.monotonic``) passes first."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise GuardError(f"verify helper exited (code {self.proc.poll()})")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def wait_ready(self) -> None:
        if self.ready:
            return
        line = self.read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        if line is None or json.loads(line).get("ready") is not True:
            self.kill()
            raise GuardError("verify helper did not start in time")
        self.ready = True

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the helper to exit (end of input), then make sure it did."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        self.kill()


class GuardPool:
    """A bounded pool of helper processes; :meth:`call` runs one operation under a time limit.

    Args:
        max_workers: most helpers alive at once (callers beyond that wait for a free one).
        memory_mb: address-space limit of each helper in MiB (0: no limit).
    """

    def __init__(self, max_workers: int = 2, memory_mb: int = 2048):
        self.max_workers = max(1, int(max_workers))
        self.memory_mb = max(0, int(memory_mb))
        self._idle: list[_Helper] = []
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False
        self.pid = os.getpid()
        self.restarts = 0

    def _acquire(self) -> _Helper:
        with self._cond:
            while True:
                if self._closed:
                    raise GuardError("verify pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_workers:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return _Helper(self.memory_mb)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, helper: _Helper, healthy: bool) -> None:
        if not healthy:
            helper.kill()
            # Start the replacement now so that its start-up overlaps with the caller's other work.
            try:
                replacement = _Helper(self.memory_mb)
            except OSError:
                replacement = None
            with self._cond:
                self.restarts += 1
                if replacement is None or self._closed:
                    self._count -= 1
                    if replacement is not None:
                        replacement.kill()
                else:
                    self._idle.append(replacement)
                self._cond.notify()
            return
        with self._cond:
            if self._closed:
                helper.close()
                self._count -= 1
            else:
                self._idle.append(helper)
            self._cond.notify()

    def call(self, op: str, args: dict, timeout_s: float) -> GuardResult:
        """Run helper operation ``op`` with JSON-serialisable ``args`` in at most ``timeout_s`` seconds.

        Never raises for a slow or failing operation: a timeout kills and replaces the helper and returns
        ``GuardResult(ok=False, timed_out=True)``; an exception inside the helper returns ``ok=False`` with
        ``error``. Raises :class:`GuardError` only when no helper can be started at all.
        """
        helper = self._acquire()
        healthy = False
        t0 = time.monotonic()
        try:
            helper.wait_ready()
            t0 = time.monotonic()
            helper.next_id += 1
            request = json.dumps({"id": helper.next_id, "op": op, "args": args}) + "\n"
            try:
                helper.proc.stdin.write(request.encode("utf-8"))
                helper.proc.stdin.flush()
                line = helper.read_line(t0 + max(0.0, float(timeout_s)))
            except (OSError, GuardError) as exc:
                return GuardResult(ok=False, error=f"helper died: {exc}", seconds=time.monotonic() - t0)
            if line is None:
                return GuardResult(ok=False, timed_out=True, seconds=time.monotonic() - t0)
            reply = json.loads(line)
            if reply.get("id") != helper.next_id:
                return GuardResult(ok=False, error="helper reply out of order", seconds=time.monotonic() - t0)
            healthy = True
            if reply.get("ok"):
                return GuardResult(ok=True, value=reply.get("value"), seconds=time.monotonic() - t0)
            return GuardResult(ok=False, error=str(reply.get("error")), seconds=time.monotonic() - t0)
        except GuardError:
            raise
        except ValueError as exc:  # unreadable reply
            return GuardResult(ok=False, error=f"bad helper reply: {exc}", seconds=time.monotonic() - t0)
        finally:
            self._release(helper, healthy)

    def pids(self) -> list[int]:
        """Process ids of the idle helpers (for tests and benchmarks)."""
        with self._cond:
            return [h.proc.pid for h in self._idle if h.alive()]

    def close(self) -> None:
        """Stop every idle helper; helpers in use stop when their call returns."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for helper in idle:
            helper.close()


_POOL: GuardPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> GuardPool:
    """The process-wide helper pool (created on first use; a forked child gets its own)."""
    global _POOL
    pool = _POOL
    if pool is not None and pool.pid == os.getpid() and not pool._closed:
        return pool
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid() or _POOL._closed:
            _POOL = GuardPool(
                max_workers=_env_int("VERL_DIFFICULTY_VERIFY_WORKERS", 2),
                memory_mb=_env_int("VERL_DIFFICULTY_VERIFY_MEMORY_MB", 2048),
            )
        return _POOL


def shutdown() -> None:
    """Stop this process's helpers (also run at interpreter exit)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def _forget_pool_in_child() -> None:
    # The helpers belong to the parent: a forked child must neither use nor kill them.
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


def run_guarded(op: str, args: dict, timeout_s: float) -> GuardResult:
    """Run helper operation ``op`` on ``args`` with a wall-clock limit of ``timeout_s`` seconds.

    Safe to call from any thread, any process and Ray actors. See :meth:`GuardPool.call`.
    """
    return get_pool().call(op, args, timeout_s)


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)
