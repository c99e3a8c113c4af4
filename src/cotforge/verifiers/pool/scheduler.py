"""The caller side of the verifier pool: one dispatcher thread feeding worker processes.

See the package docstring (:mod:`cotforge.verifiers.pool`) for why it is built this way.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from cotforge.child_processes import main_script_for_children, needs_main_module
from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict, setup_error
from cotforge.verifiers.pool.worker import (
    _MAX_START_FAILURES,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    PRELOAD,
    Deferred,
    _context,
    _cpu_count,
    _worker_main,
)

log = logging.getLogger("cotforge.verifiers.pool")


class _Worker:
    __slots__ = ("conn", "inflight", "known", "loading", "main", "process", "ready", "spawned", "started")

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: mpc.Connection, main: bool = False):
        self.process = process
        self.conn = conn
        self.main = main  # started with the caller's main script importable (see main_script_for_children)
        self.ready = False
        self.inflight: collections.deque[int] = collections.deque()  # job ids, in the order sent
        self.started = 0.0  # when the item at the head of ``inflight`` began
        self.spawned = time.monotonic()
        self.known: set[str] = set()  # verifier keys this worker has loaded
        # Unpickling a verifier can import its module (seconds on a loaded machine): until the worker
        # says it has loaded it, the head item's clock has not started and only start_timeout applies.
        self.loading = False

    def kill(self) -> None:
        try:
            self.process.kill()
        except Exception:  # pragma: no cover
            pass
        self.process.join(timeout=5)
        try:
            self.conn.close()
        except Exception:  # pragma: no cover
            pass


class _Batch:
    """One caller's jobs. The dispatcher fills ``results`` and sets ``done``; the caller only
    reads them after ``done``, so the two never touch a batch at the same time."""

    __slots__ = ("blob", "cancelled", "deadline", "done", "jobs", "key", "max_workers", "needs_main", "pending",
                 "remaining", "results")

    def __init__(self, key: str, blob: bytes, jobs: list[Deferred], deadline: float, max_workers: int | None):
        self.key, self.blob, self.jobs, self.deadline = key, blob, jobs, deadline
        self.needs_main = needs_main_module(blob)  # only workers that import the main script can load it
        self.max_workers = max_workers
        self.pending = collections.deque(range(len(jobs)))  # indices not yet sent to a worker
        self.results: list[Verdict | None] = [None] * len(jobs)
        self.remaining = len(jobs)
        self.done = threading.Event()
        self.cancelled = False

    def settle(self, i: int, verdict: Verdict) -> None:
        if self.results[i] is None:
            self.results[i] = verdict
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set()


_POOLS: weakref.WeakSet[VerifierPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The child has none of the parent's threads: a lock held by one of them at the fork would
    # stay held forever, and the workers and the dispatcher belong to the parent.
    for p in list(_POOLS):
        p._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class VerifierPool:
    """Worker processes that grade :class:`Deferred` jobs with a per-item deadline and a memory cap.

    Shared by every thread of a process: callers hand their jobs to one dispatcher thread, which
    feeds idle workers item by item (round-robin over the callers' batches), so concurrent
    batches run side by side and an item stuck until its deadline holds up only its own worker,
    never the other callers. Usable from async code through :func:`averify_batch`, and per
    process: after a ``fork`` or in a Ray task the pool starts its own workers. Workers start
    lazily, only as many as the queued work can use; the dispatcher thread exits when idle.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        memory_mb: int | None = DEFAULT_MEMORY_MB,
        preload: Sequence[str] = PRELOAD,
        start_timeout: float = 120.0,
    ):
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise UsageError(f"workers must be a positive integer, got {workers!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if memory_mb is not None and (not isinstance(memory_mb, int) or memory_mb < 64):
            raise UsageError(f"memory_mb must be an integer >= 64 (or None for no cap), got {memory_mb!r}")
        self.workers = workers or _cpu_count()
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self.preload = tuple(preload)
        self.start_timeout = start_timeout
        self.stats = collections.Counter()  # killed / died / started, for tests and benchmarks
        self._reset()
        _POOLS.add(self)

    def _reset(self) -> None:
        """Fresh caller-side state (at creation, and in a forked child)."""
        self._lock = threading.Lock()  # guards _batches, _thread, _wake_pending
        self._idle = threading.Condition(self._lock)  # notified when the dispatcher exits
        self._batches: collections.deque[_Batch] = collections.deque()  # round-robin order
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._wake_pending = False
        self._last_give_up: tuple[str, float] = ("", 0.0)  # (reason, monotonic time it was logged)
        self._pid = os.getpid()
        # Owned by the dispatcher thread (and by close() once the dispatcher has exited).
        self._pool: list[_Worker] = []
        self._where: dict[int, tuple[_Batch, int]] = {}  # job id -> (batch, index)
        self._next_id = 0
        self._start_failures = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def _start_worker(self, main: bool = False) -> _Worker:
        ctx = _context()
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=_worker_main,
            args=(child_conn, self.memory_mb, self.preload, os.getpid()),
            name="cotforge-verifier",
            daemon=True,
        )
        # multiprocessing refuses children in a daemonic process (a multiprocessing.Pool worker),
        # because a daemon is killed without cleaning up after itself. Our workers clean up after
        # themselves (each exits within a second of its parent, see _watch_parent), so lift the
        # flag for the duration of the start.
        me = multiprocessing.current_process()
        was_daemon = me._config.get("daemon", False)  # type: ignore[attr-defined]
        if was_daemon:
            me._config["daemon"] = False  # type: ignore[attr-defined]
        try:
            with main_script_for_children(main):
                process.start()
        finally:
            if was_daemon:
                me._config["daemon"] = True  # type: ignore[attr-defined]
            child_conn.close()
        self.stats["started"] += 1
        return _Worker(process, parent_conn, main)

    def close(self) -> None:
        """Stop every worker once the work in progress is done. The pool can be used again
        afterwards (workers restart lazily)."""
        if os.getpid() != self._pid:
            self._reset()
            return
        with self._idle:
            self._idle.wait_for(lambda: self._thread is None)
            for w in self._pool:
                try:
                    w.conn.send(("stop",))
                except Exception:
                    pass
                w.process.join(timeout=1)
                if w.process.is_alive():
                    w.kill()
            self._pool = []

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the caller side --------------------------------------------------------------------------

    def run(
        self,
        verifier: Any,
        jobs: Sequence[Deferred],
        *,
        timeout: float | None = None,
        max_workers: int | None = None,
    ) -> list[Verdict]:
        """Grade ``jobs`` with ``verifier`` in the workers; one verdict per job, in order.

        A job that overruns ``timeout`` gets a ``timeout`` verdict and its worker is replaced; a
        worker that dies (segfault, OOM kill) gives an ``error`` verdict for the job it was on;
        workers that cannot start at all give ``error`` verdicts saying why. Nothing here raises
        for a bad job. ``max_workers`` caps how many workers this batch occupies at once.
        """
        if not jobs:
            return []
        deadline = float(timeout) if timeout is not None else self.timeout
        if deadline <= 0:
            raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
        blob = pickle.dumps(verifier)
        batch = _Batch(hashlib.sha1(blob).hexdigest(), blob, list(jobs), deadline, max_workers)
        if os.getpid() != self._pid:  # pragma: no cover - register_at_fork covers POSIX forks
            self._reset()
        with self._lock:
            self._batches.append(batch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="cotforge-verifier-dispatch", daemon=True)
                self._thread.start()
            else:
                self._wake_locked()
        try:
            batch.done.wait()
        finally:
            if not batch.done.is_set():  # interrupted: the dispatcher drops what is left
                with self._lock:
                    batch.cancelled = True
                    self._wake_locked()
        return list(batch.results)  # type: ignore[arg-type]

    def _wake_locked(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self._wake_w.send_bytes(b"")

    # -- the dispatcher thread ------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._dispatch_loop()
        except BaseException as exc:  # pragma: no cover - a bug here must not hang the callers
            log.exception("verifier pool dispatcher failed")
            with self._lock:
                for b in self._batches:
                    for i in range(len(b.jobs)):
                        b.settle(i, setup_error(f"verifier pool failed: {exc!r}", b.jobs[i].extracted))
                self._batches.clear()
            for w in self._pool:
                w.kill()
            self._pool, self._where = [], {}
        finally:
            with self._idle:
                # Only our own slot: after the loop let go, a caller may already have started the
                # next dispatcher, and clearing its slot would let a third one run beside it.
                if self._thread is threading.current_thread():
                    self._thread = None
                self._idle.notify_all()

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
                self._wake_pending = False
                for b in [b for b in self._batches if b.cancelled or b.done.is_set()]:
                    self._batches.remove(b)
                batches = list(self._batches)
                if not batches and not self._where:
                    self._thread = None
                    self._idle.notify_all()
                    return
            self._workers_for(batches)
            self._feed(batches)
            self._wait_and_collect(batches)

    def _workers_for(self, batches: list[_Batch]) -> None:
        """Start as many workers as the queued and running work can use (at most ``workers``)."""
        self._pool = [w for w in self._pool if w.process.is_alive() or w.inflight]
        want = 0
        for b in batches:
            outstanding = b.remaining
            want += min(outstanding, b.max_workers or outstanding)
        want = min(self.workers, want)
        main = any(b.needs_main and b.pending for b in batches)
        if main and not any(w.main for w in self._pool) and len(self._pool) >= want:
            # a verifier from the main script, and every worker was started without it: retire an
            # idle one (a busy one is retired on a later round, once it is idle)
            idle = next((w for w in self._pool if w.ready and not w.inflight), None)
            if idle is not None:
                self._pool.remove(idle)
                idle.kill()
        while len(self._pool) < want:
            try:
                self._pool.append(self._start_worker(main))
            except Exception as exc:  # e.g. out of processes: report it on the jobs, never raise
                self._give_up(batches, f"could not start a verifier worker: {type(exc).__name__}: {exc}")
                return

    def _feed(self, batches: list[_Batch]) -> None:
        """Send queued items to ready workers: one small chunk each, taken round-robin from the
        batches, so every caller's items start as soon as any worker is free."""
        pending = sum(len(b.pending) for b in batches)
        if not pending:
            return
        n = max(1, len(self._pool))
        chunk = max(1, min(16, pending // (n * 8)))  # amortise IPC when there is plenty of work
        using: collections.Counter[int] = collections.Counter()  # id(batch) -> workers busy with it
        for w in self._pool:
            for b in {id(self._where[j][0]) for j in w.inflight if j in self._where}:
                using[b] += 1
        for w in self._pool:
            if not w.ready or w.inflight:
                continue
            with self._lock:
                picked = None
                for _ in range(len(self._batches)):
                    b = self._batches[0]
                    self._batches.rotate(-1)
                    if b.cancelled or not b.pending or (b.needs_main and not w.main):
                        continue
                    if b.max_workers and using[id(b)] >= b.max_workers:
                        continue
                    picked = b
                    break
                if picked is None:  # nothing this worker may take (another may: a main-script verifier)
                    continue
                take = [picked.pending.popleft() for _ in range(min(chunk, len(picked.pending)))]
            ids = []
            for i in take:
                jid = self._next_id
                self._next_id += 1
                self._where[jid] = (picked, i)
                ids.append(jid)
            try:
                if picked.key not in w.known:
                    w.conn.send(("verifier", picked.key, picked.blob))
                    w.known.add(picked.key)
                    w.loading = True
                w.conn.send(("jobs", picked.key, [(jid, picked.jobs[i]) for jid, i in zip(ids, take)]))
            except (BrokenPipeError, OSError):
                for jid in ids:
                    del self._where[jid]
                with self._lock:
                    picked.pending.extendleft(reversed(take))
                self._replace(w)
                continue
            w.inflight.extend(ids)
            w.started = time.monotonic()
            using[id(picked)] += 1

    def _wait_and_collect(self, batches: list[_Batch]) -> None:
        now = time.monotonic()
        waits = []
        for w in self._pool:
            if w.inflight:
                waits.append(w.started + self._head_deadline(w) - now)
            elif not w.ready:
                waits.append(w.spawned + self.start_timeout - now)
        wait_for = max(0.0, min(waits)) if waits else None
        by_conn = {w.conn: w for w in self._pool}
        by_sentinel = {w.process.sentinel: w for w in self._pool}
        ready = mpc.wait([self._wake_r, *by_conn, *by_sentinel], timeout=wait_for)
        dead: list[_Worker] = []
        for obj in ready:
            if obj is self._wake_r:
                continue
            w = by_conn.get(obj)
            if w is None:
                w = by_sentinel[obj]
                if w.conn not in ready:
                    dead.append(w)  # else its messages are drained first, via the conn
                continue
            try:
                while w.conn.poll():
                    msg = w.conn.recv()
                    if msg[0] == "ready":
                        w.ready = True
                        self._start_failures = 0
                    elif msg[0] == "loaded":  # the deadline of the first item starts now
                        w.loading = False
                        w.started = time.monotonic()
                    elif msg[0] == "result":
                        _, jid, verdict = msg
                        if jid in w.inflight:
                            w.inflight.remove(jid)
                        where = self._where.pop(jid, None)
                        if where is not None:
                            where[0].settle(where[1], verdict)
                        w.started = time.monotonic()
                    elif msg[0] == "bye":
                        self._requeue(w)
                        dead.append(w)
                        break
            except (EOFError, OSError):
                dead.append(w)
        for w in dict.fromkeys(dead):
            if w not in self._pool:
                continue
            if not w.ready:
                self._start_failures += 1
                if self._start_failures >= _MAX_START_FAILURES:
                    self._start_failures = 0
                    self._give_up(
                        batches,
                        f"verifier workers exit before they are ready (exit code {w.process.exitcode}). "
                        + (
                            f"They were started with multiprocessing's {_context().get_start_method()!r} method "
                            "and the main script importable (the verifier is defined in it), so each worker "
                            "imports the script again: it must guard its entry point with "
                            '`if __name__ == "__main__":`. '
                            if w.main else ""
                        )
                        + "The worker's own traceback is on stderr.",
                    )
                    return
            if w.inflight:
                jid = w.inflight.popleft()
                w.process.join(timeout=1.0)  # the pipe closes just before the exit is reaped
                code = w.process.exitcode
                where = self._where.pop(jid, None)
                if where is not None:
                    b, i = where
                    b.settle(i, Verdict(
                        Status.ERROR, 0.0, b.jobs[i].extracted,
                        f"verifier worker died (exit code {code}) while grading this item", {"exitcode": code},
                    ))
                self._requeue(w)
            self.stats["died"] += 1
            self._replace(w)
        now = time.monotonic()
        for w in list(self._pool):
            if w.inflight and now - w.started > self._head_deadline(w):
                jid = w.inflight.popleft()
                where = self._where.pop(jid, None)
                if where is not None:
                    b, i = where
                    b.settle(i, Verdict(
                        Status.TIMEOUT, 0.0, b.jobs[i].extracted,
                        f"no verdict within {b.deadline:g} s; the worker was killed", {"deadline_s": b.deadline},
                    ))
                self._requeue(w)
                self.stats["killed"] += 1
                self._replace(w)
            elif not w.ready and now - w.spawned > self.start_timeout:
                self._give_up(batches, f"a verifier worker did not start within {self.start_timeout:g} s")
                return

    def _head_deadline(self, w: _Worker) -> float:
        if w.loading:
            return self.start_timeout
        where = self._where.get(w.inflight[0])
        return where[0].deadline if where is not None else 0.0  # a cancelled batch's item: kill now

    def _requeue(self, w: _Worker) -> None:
        """Put a lost worker's unfinished items back at the front of their batches, in order."""
        with self._lock:
            for jid in reversed(w.inflight):
                where = self._where.pop(jid, None)
                if where is not None and not where[0].cancelled:
                    where[0].pending.appendleft(where[1])
        w.inflight.clear()

    def _replace(self, w: _Worker) -> None:
        w.kill()
        idx = self._pool.index(w)
        try:
            self._pool[idx] = self._start_worker(w.main)
        except Exception:  # started again on the next round, or reported there
            del self._pool[idx]

    def _give_up(self, batches: list[_Batch], why: str) -> None:
        """Workers cannot be started: every queued item gets an ``error`` verdict saying why
        (a verifier never raises), and the workers that never became ready are dropped. The same
        reason is logged at most once a minute: a script calling ``verify`` item by item would
        otherwise print it once per item."""
        now = time.monotonic()
        if why != self._last_give_up[0] or now - self._last_give_up[1] > 60.0:
            self._last_give_up = (why, now)
            log.warning("%s", why)
        with self._lock:
            for b in batches:
                while b.pending:
                    i = b.pending.popleft()
                    b.settle(i, setup_error(why, b.jobs[i].extracted, pool="no workers"))
        for w in [w for w in self._pool if not w.ready]:
            w.kill()
            self._pool.remove(w)
