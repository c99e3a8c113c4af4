"""Process-isolated verification: a pool of worker processes with a hard per-item deadline.

Why not signals: math-verify's own timeouts use ``SIGALRM``, which only works in the main thread
of the main interpreter, so it breaks in trainer threads, async code and Ray workers, and even
where it works a SymPy call stuck in C code does not return. Why not ``concurrent.futures``: a
future cannot be cancelled once running, so a hung task holds its worker forever. Here each
worker is a plain process; one dispatcher thread per pool feeds the workers items from every
caller's batch (round-robin, a small chunk at a time), waits on their pipes with a deadline and,
when an item overruns, kills that worker (SIGKILL), reports the item as ``timeout`` and starts a
replacement. Callers only queue their batch and wait for it, so concurrent callers (trainer
threads, async tasks) share the workers and a stuck item delays nobody but its own batch.
Each worker also caps its own address space (``RLIMIT_AS``) so ``2^{10000000000}`` fails with a
``MemoryError`` instead of taking the machine down.

Workers come from the ``forkserver`` context where the platform has it (the server preloads
SymPy and math-verify once, so a replacement is a cheap fork) and from ``spawn`` otherwise; never
from plain ``fork``, which is unsafe in a process that has threads. A main script that cannot be
imported again (``python - <<EOF``) is not re-imported in the workers; workers that still cannot
start give ``error`` verdicts saying why, never an exception.

How work is split between the caller and the pool: a verifier may implement
``presettle(gold, response, **kw) -> Verdict | Deferred``, which does the cheap, SymPy-free part
in the caller (response parsing, extraction, the fast normaliser, a verdict cache) and returns
either a final verdict or a :class:`Deferred` naming the method a worker must run. Verifiers
without it have their ``verify`` run in a worker as is.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import hashlib
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict, setup_error

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "Deferred",
    "VerifierPool",
    "averify_batch",
    "default_pool",
    "in_worker",
    "verify_batch",
    "verify_isolated",
]

log = logging.getLogger(__name__)

#: Per-item deadline (seconds of wall time in a worker). Real MATH/AIME comparisons take a few ms
#: to ~0.5 s with math-verify; anything slower is almost always a pathological expression.
DEFAULT_TIMEOUT = 2.0
#: Address-space cap per worker. A worker with SymPy and math-verify loaded needs ~100-200 MB.
DEFAULT_MEMORY_MB = 1024
#: Modules the forkserver imports once so that every (re)started worker already has them.
PRELOAD = ("cotforge.verifiers._preload",)

_IN_WORKER = False
_MAX_START_FAILURES = 3


def in_worker() -> bool:
    """True inside a pool worker: verifiers then do their slow work in-process."""
    return _IN_WORKER


@dataclass(frozen=True)
class Deferred:
    """Work the caller could not settle cheaply: a worker runs ``getattr(verifier, method)(*args, **kwargs)``.

    ``extracted`` is what the caller already extracted from the response, so that a timeout
    verdict can still say which answer was being graded.
    """

    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    extracted: str | None = None

    def key(self) -> tuple:
        """A hashable identity, to grade duplicates in one batch only once (``None`` if unhashable)."""
        try:
            k = (self.method, self.args, tuple(sorted(self.kwargs.items())))
            hash(k)
            return k
        except TypeError:
            return (id(self),)


# ----------------------------------------------------------------------------------------------
# The worker side


def _set_memory_cap(memory_mb: int | None) -> None:
    if not memory_mb:
        return
    try:
        import resource

        cap = int(memory_mb) * 1024 * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError) as exc:  # pragma: no cover - non-Unix or locked limits
        log.warning("could not set the worker memory cap: %s", exc)


def _watch_parent(parent_pid: int) -> None:
    """Exit when the process that owns the pool is gone, even if the main thread is stuck."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # pragma: no cover - pid reused by another user's process
            os._exit(0)


def _grade_one(verifier: Any, job: Deferred) -> tuple[Verdict, bool]:
    """Run one job; ``(verdict, must_exit)``. Never raises."""
    try:
        verdict = getattr(verifier, job.method)(*job.args, **job.kwargs)
        if not isinstance(verdict, Verdict):
            return Verdict(Status.ERROR, 0.0, job.extracted, f"{job.method} returned {type(verdict).__name__}, not a Verdict"), False
        return verdict, False
    except MemoryError:
        # The address-space cap was hit. The process may be in a poor state: answer, then leave.
        return (
            Verdict(Status.TIMEOUT, 0.0, job.extracted, "exceeded the worker memory cap", {"limit": "memory"}),
            True,
        )
    except RecursionError:
        return Verdict(Status.TIMEOUT, 0.0, job.extracted, "expression too deeply nested (recursion limit)", {"limit": "recursion"}), False
    except Exception as exc:
        return Verdict(Status.ERROR, 0.0, job.extracted, f"verifier raised {type(exc).__name__}: {str(exc)[:200]}"), False


def _worker_main(conn: mpc.Connection, memory_mb: int | None, preload: Sequence[str], parent_pid: int) -> None:
    """Worker loop. Messages in: ``("verifier", key, pickled)``, ``("jobs", key, [(i, Deferred)])``,
    ``("stop",)``. Messages out: ``("ready", pid)``, ``("result", i, Verdict)``, ``("bye",)``."""
    global _IN_WORKER
    _IN_WORKER = True
    _set_memory_cap(memory_mb)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    import importlib

    for mod in preload:
        try:
            importlib.import_module(mod)
        except Exception as exc:  # a verifier that fails to import reports it per item instead
            log.debug("preload of %s failed: %s", mod, exc)
    verifiers: dict[str, Any] = {}
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "stop":
            return
        if kind == "verifier":
            _, key, blob = msg
            try:
                verifiers[key] = pickle.loads(blob)
            except Exception as exc:
                verifiers[key] = exc
            continue
        if kind == "jobs":
            _, key, jobs = msg
            verifier = verifiers.get(key)
            for i, job in jobs:
                if isinstance(verifier, Exception) or verifier is None:
                    verdict = setup_error(f"verifier could not be loaded in the worker: {verifier!r}", job.extracted)
                    must_exit = False
                else:
                    verdict, must_exit = _grade_one(verifier, job)
                try:
                    conn.send(("result", i, verdict))
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    conn.send(("result", i, Verdict(Status.ERROR, 0.0, job.extracted, f"verdict not picklable: {exc}")))
                if must_exit:
                    conn.send(("bye",))
                    os._exit(0)


# ----------------------------------------------------------------------------------------------
# The caller side


class _Worker:
    __slots__ = ("conn", "inflight", "known", "process", "ready", "spawned", "started")

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: mpc.Connection):
        self.process = process
        self.conn = conn
        self.ready = False
        self.inflight: collections.deque[int] = collections.deque()  # job ids, in the order sent
        self.started = 0.0  # when the item at the head of ``inflight`` began
        self.spawned = time.monotonic()
        self.known: set[str] = set()  # verifier keys this worker has loaded

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

    __slots__ = ("blob", "cancelled", "deadline", "done", "jobs", "key", "max_workers", "pending", "remaining", "results")

    def __init__(self, key: str, blob: bytes, jobs: list[Deferred], deadline: float, max_workers: int | None):
        self.key, self.blob, self.jobs, self.deadline = key, blob, jobs, deadline
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


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        try:
            # Only takes effect if the forkserver has not started yet; harmless otherwise.
            ctx.set_forkserver_preload(list(PRELOAD))
        except Exception:  # pragma: no cover
            pass
        return ctx
    return multiprocessing.get_context("spawn")


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_module_importable() -> Iterator[None]:
    """Hide ``__main__.__file__`` while a worker starts when that file does not exist.

    ``spawn`` and ``forkserver`` children re-run the parent's main script from its path (so
    objects pickled from ``__main__`` resolve). For ``python - <<EOF`` the path is ``<stdin>``,
    which does not exist, and every child dies before it is ready. Our workers receive the
    verifier pickled and need nothing from such a main module, so it is simply not re-imported.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or getattr(main, "__spec__", None) is not None:
        yield
        return
    base = multiprocessing.process.ORIGINAL_DIR or os.getcwd()
    if os.path.exists(path if os.path.isabs(path) else os.path.join(base, path)):
        yield
        return
    with _MAIN_LOCK:
        del main.__file__
        try:
            yield
        finally:
            main.__file__ = path


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


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
        self._pid = os.getpid()
        # Owned by the dispatcher thread (and by close() once the dispatcher has exited).
        self._pool: list[_Worker] = []
        self._where: dict[int, tuple[_Batch, int]] = {}  # job id -> (batch, index)
        self._next_id = 0
        self._start_failures = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
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
            with _main_module_importable():
                process.start()
        finally:
            if was_daemon:
                me._config["daemon"] = True  # type: ignore[attr-defined]
            child_conn.close()
        self.stats["started"] += 1
        return _Worker(process, parent_conn)

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
        while len(self._pool) < want:
            try:
                self._pool.append(self._start_worker())
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
                    if b.cancelled or not b.pending:
                        continue
                    if b.max_workers and using[id(b)] >= b.max_workers:
                        continue
                    picked = b
                    break
                if picked is None:
                    return
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
                        f"verifier workers exit before they are ready (exit code {w.process.exitcode}). Workers "
                        f"are started with multiprocessing's {_context().get_start_method()!r} method, which "
                        "imports the main module again in each worker: a script must guard its entry point "
                        'with `if __name__ == "__main__":`. The worker\'s own traceback is on stderr.',
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
            self._pool[idx] = self._start_worker()
        except Exception:  # started again on the next round, or reported there
            del self._pool[idx]

    def _give_up(self, batches: list[_Batch], why: str) -> None:
        """Workers cannot be started: every queued item gets an ``error`` verdict saying why
        (a verifier never raises), and the workers that never became ready are dropped."""
        log.warning("%s", why)
        with self._lock:
            for b in batches:
                while b.pending:
                    i = b.pending.popleft()
                    b.settle(i, setup_error(why, b.jobs[i].extracted, pool="no workers"))
        for w in [w for w in self._pool if not w.ready]:
            w.kill()
            self._pool.remove(w)


# ----------------------------------------------------------------------------------------------
# Module-level conveniences

_DEFAULT: VerifierPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool(workers: int | None = None) -> VerifierPool:
    """The process-wide pool (created on first use, grown when ``workers`` asks for more)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = VerifierPool(workers)
        elif workers is not None and workers > _DEFAULT.workers:
            _DEFAULT.workers = workers
        return _DEFAULT


@atexit.register
def _close_default() -> None:  # pragma: no cover - runs at interpreter exit
    if _DEFAULT is not None:
        try:
            _DEFAULT.close()
        except Exception:
            pass


def _resolve(verifier: Any, options: dict[str, Any]) -> Any:
    if isinstance(verifier, str):
        from cotforge.verifiers import get_verifier

        return get_verifier(verifier, **options)
    if options:
        raise UsageError("verifier options can only be given with a verifier name, not with an instance")
    if not hasattr(verifier, "verify"):
        raise UsageError(f"verifier must be a registered name or an object with .verify(), got {type(verifier).__name__}")
    return verifier


def _presettle(verifier: Any, gold: Any, response: Any, kw: dict[str, Any]) -> Verdict | Deferred:
    presettle = getattr(verifier, "presettle", None)
    if presettle is None:
        return Deferred("verify", (gold, response), dict(kw))
    try:
        out = presettle(gold, response, **kw)
    except UsageError:
        raise
    except Exception as exc:  # presettle must not raise; if it does, it is the verifier's error
        return Verdict(Status.ERROR, 0.0, None, f"{type(verifier).__name__}.presettle raised {type(exc).__name__}: {exc}")
    if isinstance(out, (Verdict, Deferred)):
        return out
    return Verdict(Status.ERROR, 0.0, None, f"presettle returned {type(out).__name__}")


def verify_batch(
    verifier: Any,
    golds: Sequence[Any],
    responses: Sequence[Any],
    *,
    workers: int | None = None,
    timeout: float | None = None,
    truncated: Sequence[bool] | None = None,
    kwargs: Sequence[dict[str, Any]] | None = None,
    pool: VerifierPool | None = None,
    **options: Any,
) -> list[Verdict]:
    """Grade ``responses[i]`` against ``golds[i]`` for every ``i``, in parallel, gold first.

    ``verifier`` is a registered name (``"math"``, ``"choice"``, ...; ``options`` build it) or a
    verifier instance. ``truncated[i]`` marks a response cut at the token limit; ``kwargs[i]`` are
    extra per-item keyword arguments for the verifier (e.g. ``n_options`` for choice). Items the
    verifier settles cheaply (:meth:`presettle`) never leave this process; the rest run in the
    worker pool (``pool``, else the process-wide one) with a per-item ``timeout`` in seconds.
    Identical deferred items are graded once. Returns one :class:`Verdict` per item, in order.
    """
    v = _resolve(verifier, options)
    golds, responses = list(golds), list(responses)
    if len(golds) != len(responses):
        raise UsageError(f"golds and responses must have the same length, got {len(golds)} and {len(responses)}")
    n = len(golds)
    if truncated is not None:
        truncated = list(truncated)
        if len(truncated) != n:
            raise UsageError(f"truncated must have one flag per response ({n}), got {len(truncated)}")
    if kwargs is not None:
        kwargs = list(kwargs)
        if len(kwargs) != n:
            raise UsageError(f"kwargs must have one dict per response ({n}), got {len(kwargs)}")
    results: list[Verdict | None] = [None] * n
    deferred: dict[tuple, list[int]] = {}
    jobs: list[Deferred] = []
    for i in range(n):
        kw = dict(kwargs[i]) if kwargs is not None and kwargs[i] else {}
        if truncated is not None and truncated[i]:
            kw["truncated"] = True
        out = _presettle(v, golds[i], responses[i], kw)
        if isinstance(out, Verdict):
            results[i] = out
            continue
        k = out.key()
        if k not in deferred:
            deferred[k] = []
            jobs.append(out)
        deferred[k].append(i)
    if jobs:
        p = pool or default_pool(workers)
        if timeout is None:
            timeout = getattr(v, "timeout", None)
        verdicts = p.run(v, jobs, timeout=timeout, max_workers=workers)
        remember = getattr(v, "remember", None)
        for job, verdict, idxs in zip(jobs, verdicts, deferred.values()):
            if remember is not None:
                try:
                    remember(job, verdict)
                except Exception:  # a cache failure must not lose the verdict
                    pass
            for i in idxs:
                results[i] = verdict
    return results  # type: ignore[return-value]


async def averify_batch(verifier: Any, golds: Sequence[Any], responses: Sequence[Any], **kw: Any) -> list[Verdict]:
    """:func:`verify_batch` for async code: runs in a thread so the event loop keeps going."""
    return await asyncio.to_thread(verify_batch, verifier, golds, responses, **kw)


def verify_isolated(verifier: Any, gold: Any, response: Any, *, timeout: float | None = None, **kw: Any) -> Verdict:
    """One item: settled in-process when the verifier's ``presettle`` can, else in the pool.

    Verifiers call this from their own ``verify`` so a single call is as safe as a batch.
    """
    out = _presettle(verifier, gold, response, kw)
    if isinstance(out, Verdict):
        return out
    if _IN_WORKER:  # already isolated: the pool that owns this process enforces the deadline
        return _grade_one(verifier, out)[0]
    verdict = default_pool().run(verifier, [out], timeout=timeout)[0]
    remember = getattr(verifier, "remember", None)
    if remember is not None:
        try:
            remember(out, verdict)
        except Exception:
            pass
    return verdict
