"""The worker side of the verifier pool: what runs in each worker process, and how workers start.

Kept apart from the scheduler so that what a worker process executes (memory cap, parent watch,
grading one job) can be read on its own; the scheduler in :mod:`.scheduler` only sends it jobs.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cotforge.verifiers.base import Status, Verdict, setup_error

log = logging.getLogger("cotforge.verifiers.pool")

#: Per-item deadline (seconds of wall time in a worker). Real MATH/AIME comparisons take a few ms
#: to ~0.5 s with math-verify; anything slower is almost always a pathological expression.
DEFAULT_TIMEOUT = 2.0
#: Address-space cap per worker. A worker with SymPy and math-verify loaded needs ~100-200 MB.
DEFAULT_MEMORY_MB = 1024
#: Modules the forkserver imports once so that every (re)started worker already has them.
PRELOAD = ("cotforge.verifiers._preload",)

#: ``Deferred.method`` of a job that presettles a slice of a large batch in a worker (its
#: ``args``: golds, responses, per-item keyword dicts); its result is the list of what the
#: verifier's ``presettle`` returned for each item, not one verdict. See ``verify_batch``.
PRESETTLE_SLICE = "__presettle_slice__"

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
        if job.method == PRESETTLE_SLICE:
            from cotforge.verifiers.pool.batch import presettle_one

            golds, responses, kws = job.args
            return [presettle_one(verifier, g, r, kw) for g, r, kw in zip(golds, responses, kws)], False  # type: ignore[return-value]
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
    ``("stop",)``. Messages out: ``("ready", pid)``, ``("loaded", key)``, ``("result", i, Verdict)``,
    ``("bye",)``."""
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
    try:
        conn.send(("ready", os.getpid()))
    except OSError:  # the caller went away while this worker started
        os._exit(0)
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
            try:  # loading may import the verifier's module: its time is not the first item's
                conn.send(("loaded", key))
            except OSError:
                os._exit(0)
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
                    try:
                        conn.send(("result", i, verdict))
                    except (pickle.PicklingError, TypeError, AttributeError) as exc:
                        conn.send(("result", i, Verdict(Status.ERROR, 0.0, job.extracted, f"verdict not picklable: {exc}")))
                    if must_exit:
                        conn.send(("bye",))
                        os._exit(0)
                except OSError:  # the caller is gone (exited, or closed the pool): nobody to answer
                    os._exit(0)


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


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)
