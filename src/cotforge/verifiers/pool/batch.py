"""The pool's entry points: the process-wide default pool, batch and single-item grading."""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Sequence
from typing import Any

from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.pool import worker as _w
from cotforge.verifiers.pool.scheduler import VerifierPool
from cotforge.verifiers.pool.worker import PRESETTLE_SLICE, Deferred, _grade_one

#: Batches at least this long are presettled in the pool's workers, a slice each, when the pool
#: has two or more: the cheap part of grading (response parsing, extraction, the fast paths) is
#: single-threaded Python, and on 12,032 MMLU-Pro responses it is seconds of one core. Smaller
#: batches (an RL step's rewards) stay in the caller, where they cost no round trip.
PARALLEL_PRESETTLE_MIN = 2048
# A presettle is linear in its input; a slice that still overruns this is presettled again in
# the caller (the old way), never lost.
_SLICE_TIMEOUT = 300.0

#: Batches a pipeline (eval runs, distillation) keeps in grading at once, per pool worker. Batches
#: are consumed in order, so one slow item (a math-verify parse can take 0.4 s) holds every later
#: batch back; with several batches in flight the workers stay busy meanwhile.
GRADING_BATCHES_PER_WORKER = 4
MAX_GRADING_BATCHES = 16

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


def grading_overlap(workers: int | None = None, floor: int = 2) -> int:
    """How many batches to keep in grading at once: :data:`GRADING_BATCHES_PER_WORKER` per pool
    worker (``workers``, else the default pool's size: one per usable core), at least ``floor``, at
    most :data:`MAX_GRADING_BATCHES` (ungraded batches wait in memory, never on disk)."""
    n = workers or _w._cpu_count()  # the cores this process may use, as the pool counts them
    return max(floor, min(MAX_GRADING_BATCHES, GRADING_BATCHES_PER_WORKER * n))


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


def presettle_one(verifier: Any, gold: Any, response: Any, kw: dict[str, Any]) -> Verdict | Deferred:
    """The verifier's ``presettle`` for one item, never raising: a verdict, or the job to defer."""
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
    kws: list[dict[str, Any]] = []
    for i in range(n):
        kw = dict(kwargs[i]) if kwargs is not None and kwargs[i] else {}
        if truncated is not None and truncated[i]:
            kw["truncated"] = True
        kws.append(kw)
    p = pool
    if p is None and n >= PARALLEL_PRESETTLE_MIN:
        p = default_pool(workers)
    outs = _presettle_all(v, golds, responses, kws, p, workers)
    for i, out in enumerate(outs):
        if isinstance(out, Verdict):
            results[i] = out
            continue
        k = out.key()
        if k not in deferred:
            deferred[k] = []
            jobs.append(out)
        deferred[k].append(i)
    if jobs:
        p = p or default_pool(workers)
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


def _presettle_all(
    v: Any, golds: list, responses: list, kws: list[dict[str, Any]], pool: VerifierPool | None, workers: int | None
) -> list[Verdict | Deferred]:
    """``presettle_one`` for every item: in the caller, or for a large batch in slices spread over
    the pool's workers (the same code on the same inputs, so the same results)."""
    n = len(golds)
    width = 1 if pool is None else (pool.workers if workers is None else min(pool.workers, workers))
    if pool is None or n < PARALLEL_PRESETTLE_MIN or width < 2:
        return [presettle_one(v, golds[i], responses[i], kws[i]) for i in range(n)]
    n_slices = 4 * width  # several per worker, so that one slow slice does not leave the others idle
    bounds = [(k * n // n_slices, (k + 1) * n // n_slices) for k in range(n_slices)]
    slices = [Deferred(PRESETTLE_SLICE, (golds[a:b], responses[a:b], kws[a:b])) for a, b in bounds]
    outs = pool.run(v, slices, timeout=_SLICE_TIMEOUT, max_workers=width)
    results: list[Verdict | Deferred] = []
    for (a, b), out in zip(bounds, outs):
        if isinstance(out, list) and len(out) == b - a:
            results.extend(out)
        else:  # the slice timed out or its worker died: the caller does it, as for a small batch
            results.extend(presettle_one(v, golds[i], responses[i], kws[i]) for i in range(a, b))
    return results


async def averify_batch(verifier: Any, golds: Sequence[Any], responses: Sequence[Any], **kw: Any) -> list[Verdict]:
    """:func:`verify_batch` for async code: runs in a thread so the event loop keeps going."""
    return await asyncio.to_thread(verify_batch, verifier, golds, responses, **kw)


def verify_isolated(verifier: Any, gold: Any, response: Any, *, timeout: float | None = None, **kw: Any) -> Verdict:
    """One item: settled in-process when the verifier's ``presettle`` can, else in the pool.

    Verifiers call this from their own ``verify`` so a single call is as safe as a batch.
    """
    out = presettle_one(verifier, gold, response, kw)
    if isinstance(out, Verdict):
        return out
    if _w.in_worker():  # already isolated: the pool that owns this process enforces the deadline
        return _grade_one(verifier, out)[0]
    verdict = default_pool().run(verifier, [out], timeout=timeout)[0]
    remember = getattr(verifier, "remember", None)
    if remember is not None:
        try:
            remember(out, verdict)
        except Exception:
            pass
    return verdict
