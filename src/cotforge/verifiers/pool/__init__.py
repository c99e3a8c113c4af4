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

from cotforge.verifiers.pool.batch import averify_batch, default_pool, grading_overlap, verify_batch, verify_isolated
from cotforge.verifiers.pool.scheduler import VerifierPool
from cotforge.verifiers.pool.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, PRELOAD, Deferred, in_worker

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "Deferred",
    "PRELOAD",
    "VerifierPool",
    "averify_batch",
    "default_pool",
    "grading_overlap",
    "in_worker",
    "verify_batch",
    "verify_isolated",
]
