"""The three splits as store sources: ``all`` (generated through an engine), ``accepted`` and ``prompts``
(derived from the finished ``all`` shards)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.datagen.backends.failures import gated_shards, tally_errors
from cotforge.datagen.distill.config import TeacherFailed
from cotforge.datagen.distill.items import PromptItem
from cotforge.datagen.distill.worker import UNGRADABLE, BatchResult, DistillWorker, sft_assistant_text
from cotforge.records import DISTILL_ACCEPTED_SCHEMA, DISTILL_ALL_SCHEMA, DISTILL_PROMPTS_SCHEMA

#: The records' schemas plus ``metadata``: the input's pass-through columns (``--keep-column``) as JSON.
_METADATA = pa.field("metadata", pa.string())
ALL_SCHEMA = DISTILL_ALL_SCHEMA.append(_METADATA)
ACCEPTED_SCHEMA = DISTILL_ACCEPTED_SCHEMA.append(_METADATA)


class LocalEngine:
    """Runs batches in this process, results in batch order (so the rows are the same whatever overlaps).

    Generation: one batch after another in the engine's thread - unless the backend takes concurrent
    ``generate`` calls (``concurrent_calls``, e.g. the openai client, whose calls share one loop): then
    prompts are submitted one per call, continuously, ``max_concurrency`` at a time, so the teacher
    stays saturated and one slow request holds up nothing but itself. Grading: up to ``overlap``
    batches on threads (by default :func:`~cotforge.verifiers.pool.grading_overlap`) while later
    ones are generated (a SymPy straggler can take a second; the
    verifier pool serves concurrent callers).
    """

    def __init__(self, worker: DistillWorker, overlap: int | None = None):
        from cotforge.verifiers.pool import grading_overlap

        self.worker = worker
        # several batches in grading at once, so one SymPy straggler leaves the pool's workers busy
        workers = getattr(getattr(worker, "grader", None), "workers", None)
        self.overlap = max(1, overlap if overlap is not None else grading_overlap(workers, floor=3))

    def batch_prompts(self, requested: int) -> int:
        """Prompts per ``generate`` call: ``requested`` (``--batch-prompts``), raised to the backend's
        ``min_batch_prompts`` where it has one (vLLM schedules continuously inside one call only, so
        small calls idle it between batches). The rows do not depend on the batching."""
        floor = getattr(getattr(self.worker, "generator", None), "min_batch_prompts", 1)
        return max(requested, int(floor) if isinstance(floor, int) else 1)

    def generation_slots(self) -> int:
        """How many ``generate`` calls run at once: 1, or the backend's ``max_concurrency`` when it takes
        concurrent calls (then each call holds one prompt, so a slow request holds up nothing else)."""
        g = getattr(self.worker, "generator", None)
        if not getattr(g, "concurrent_calls", False):
            return 1
        return max(1, int(getattr(g, "max_concurrency", 1)))

    def map(self, batches: Iterable[list[PromptItem]]) -> Iterator[BatchResult]:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        slots = self.generation_slots()
        if slots == 1:
            yield from self._sequential(batches)
            return
        # continuous submission: one prompt per call, up to `slots` in flight; results are taken in
        # prompt order from a window of 2 x slots, so a straggler stalls the stream only once the
        # window behind it is full
        units = ([item] for batch in batches for item in batch)
        window = 2 * slots + self.overlap
        # the grade pool outlives the generate pool: a generation finishing late still gets graded
        with ThreadPoolExecutor(max_workers=self.overlap, thread_name_prefix="cotforge-grade") as grade_pool, \
                ThreadPoolExecutor(max_workers=slots, thread_name_prefix="cotforge-generate") as gen_pool:
            pending: deque = deque()
            try:
                for unit in units:
                    pending.append(self._chained(gen_pool.submit(self.worker.generate_batch, unit), grade_pool))
                    while len(pending) >= window:
                        yield pending.popleft()[1].result()
                while pending:
                    yield pending.popleft()[1].result()
            finally:
                for generated, _ in pending:
                    generated.cancel()

    def _chained(self, generated, grade_pool):
        """(generation future, future of its graded rows): grading starts the moment generation ends."""
        from concurrent.futures import Future

        graded: Future = Future()

        def relay(source) -> None:
            if source.cancelled():
                graded.cancel()
            elif source.exception() is not None:
                graded.set_exception(source.exception())
            else:
                graded.set_result(source.result())

        def on_generated(f) -> None:
            if f.cancelled() or f.exception() is not None:
                relay(f)
                return
            grade_pool.submit(self.worker.grade_and_build, f.result()).add_done_callback(relay)

        generated.add_done_callback(on_generated)
        return generated, graded

    def _sequential(self, batches: Iterable[list[PromptItem]]) -> Iterator[BatchResult]:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.overlap, thread_name_prefix="cotforge-grade") as pool:
            pending: deque = deque()
            try:
                for batch in batches:
                    try:
                        generated = self.worker.generate_batch(batch)
                    except BaseException:
                        # stopped while generating (Ctrl-C, a fatal backend error): the batches generated
                        # before are graded and handed over first, so the shards they complete are kept
                        try:
                            while pending:
                                yield pending.popleft().result()
                        except GeneratorExit:
                            pass  # the consumer needs no more rows (a token budget): the stop still stands
                        raise
                    pending.append(pool.submit(self.worker.grade_and_build, generated))
                    while len(pending) >= self.overlap:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()

    def close(self) -> None:
        self.worker.close()


@dataclass
class DistillProgress:
    """Counters the progress callback receives after each batch (this run only)."""

    prompts: int = 0
    completions: int = 0
    accepted: int = 0
    correct: int = 0
    errors: int = 0
    tokens: int = 0
    elapsed: float = 0.0
    skipped_prompts: int = 0  # already in shards from an earlier run
    total_prompts: int = 0
    generation_seconds: float = 0.0  # summed over workers (with Ray: more than the wall time)
    grading_seconds: float = 0.0
    rows_seconds: float = 0.0  # building rows: reasoning statistics, ids, accept/reject

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.completions if self.completions else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0


#: Reject reason of an accepted row that no longer fits ``--sft-token-budget``.
BUDGET_REASON = "beyond --sft-token-budget"


class AllSource:
    """The ``all`` split: prompts in order, N rows each, produced batch by batch through an engine.

    Rows reach the store one shard at a time (``shard_rows``, the store's shard size). Before a
    shard is handed over, its failed generations that a retry could fix (a server outage, not a
    prompt over the context limit) are counted: above ``max_error_rate`` of the shard the run stops
    with :class:`TeacherFailed` and the shard is never committed, so a rerun resumes there and asks
    the teacher again instead of keeping an outage as data.
    """

    schema = ALL_SCHEMA

    def __init__(
        self,
        items: list[PromptItem],
        n: int,
        engine_factory: Callable[[], Any],
        *,
        batch_prompts: int,
        on_progress: Callable[[DistillProgress], None] | None = None,
        shard_rows: int | None = None,
        max_error_rate: float = 1.0,
        sft_token_budget: int | None = None,
    ):
        self.items, self.n = items, n
        self.engine_factory = engine_factory
        self.batch_prompts = batch_prompts
        self.on_progress = on_progress
        self.shard_rows = shard_rows
        self.max_error_rate = max_error_rate
        self.sft_token_budget = sft_token_budget
        self.budget_stop: int | None = None  # the prompt index where the SFT token budget ran out
        self.progress = DistillProgress()

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        rows = self._generated(start)
        if self.sft_token_budget is not None:
            used, full = 0, False  # what committed shards spent: the budget continues where the last run stopped
            for t in done:
                cols = [t.column(c).to_pylist() for c in ("accepted", "completion_tokens", "reject_reason")]
                for accepted, tokens, why in zip(*cols):
                    used += tokens if accepted else 0
                    full = full or (why or "").startswith(BUDGET_REASON)
            rows = self._within_budget(rows, used, full)
        yield from gated_shards(rows, self.shard_rows, self._gate, start)

    def _within_budget(self, rows: Iterator[dict], used: int, full: bool) -> Iterator[dict]:
        """Accepted rows while their completion tokens fit ``sft_token_budget`` (prompt order, so the
        cut is deterministic); the first that does not fit, and the rest of its prompt, are rejected
        with the reason, and sampling stops after that prompt."""
        budget = self.sft_token_budget
        current = None
        for r in rows:
            if full and r["prompt_index"] != current:
                self.budget_stop = current
                rows.close()  # stop asking the teacher (batches already in flight are discarded)
                return
            current = r["prompt_index"]
            if r["accepted"]:
                if full or used + r["completion_tokens"] > budget:
                    r["accepted"] = False
                    r["reject_reason"] = f"{BUDGET_REASON} {budget:,}"
                    full = True
                else:
                    used += r["completion_tokens"]
            yield r

    def _gate(self, shard: list[dict], start: int) -> None:
        tally = tally_errors((r["error"] for r in shard if r["finish_reason"] == "error"), len(shard))
        if tally.too_many(self.max_error_rate):
            committed = start // self.n
            raise TeacherFailed(
                f"the teacher failed {tally.failed:,} of {len(shard):,} completions of prompts "
                f"{shard[0]['prompt_index']}-{shard[-1]['prompt_index']} ({tally.share:.1%}, above "
                f"--max-error-rate {self.max_error_rate:.1%}); most often ({tally.top_count:,}): {tally.top_error}. "
                f"{committed:,} of {len(self.items):,} prompts are committed; rerun the same command when the "
                f"teacher is back to resume and retry the rest"
            )

    def _generated(self, start: int) -> Iterator[dict]:
        first, skip = divmod(start, self.n)  # shards hold whole prompts, so skip is 0 unless limits changed
        todo = self.items[first:]
        self.progress.skipped_prompts = first
        self.progress.total_prompts = len(self.items)
        if self.on_progress:
            self.on_progress(self.progress)  # the bar knows its total (and what was resumed) from the start
        if not todo:
            return
        engine = self.engine_factory()
        size = engine.batch_prompts(self.batch_prompts) if hasattr(engine, "batch_prompts") else self.batch_prompts
        batches = (todo[i : i + size] for i in range(0, len(todo), size))
        t0 = time.perf_counter()
        results = engine.map(batches)
        try:
            for result in results:
                self.progress.generation_seconds += result.generation_seconds
                self.progress.grading_seconds += result.grading_seconds
                self.progress.rows_seconds += result.rows_seconds
                for prompt_rows in result.rows:
                    p = self.progress
                    p.prompts += 1
                    for r in prompt_rows:
                        p.completions += 1
                        p.accepted += r["accepted"]
                        p.correct += r["status"] == "correct"
                        p.errors += r["finish_reason"] == "error"
                        p.tokens += max(0, r["completion_tokens"] or 0)
                        if skip:
                            skip -= 1
                            continue
                        yield r
                self.progress.elapsed = time.perf_counter() - t0
                if self.on_progress:
                    self.on_progress(self.progress)
        finally:
            try:
                close = getattr(results, "close", None)
                if close is not None:
                    close()  # now, not at garbage collection: a stop raised while closing must surface
            finally:
                engine.close()


def _read_split(files: list[Path], columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    for f in files:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=2048, columns=columns):
            yield from batch.to_pylist()


class AcceptedSource:
    """``accepted``: the accepted rows of the finished ``all`` shards as SFT ``messages``."""

    schema = ACCEPTED_SCHEMA
    _COLUMNS = [f.name for f in ACCEPTED_SCHEMA if f.name != "messages"] + ["prompt", "completion", "reasoning", "accepted"]

    def __init__(self, all_files: list[Path]):
        self.files = all_files

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        index = 0
        for r in _read_split(self.files, self._COLUMNS):
            if not r["accepted"]:
                continue
            if index >= start:
                prompt, content = sft_assistant_text(r["prompt"], r["completion"], r["reasoning"])
                out = {k: r[k] for k in self.schema.names if k != "messages"}
                out["messages"] = prompt + [{"role": "assistant", "content": content}]
                yield out
            index += 1


class PromptsSource:
    """``prompts``: one row per prompt with its outcome counts (the ``all`` rows are grouped by prompt)."""

    schema = DISTILL_PROMPTS_SCHEMA
    _COLUMNS = ["prompt_id", "prompt_index", "domain", "problem", "answer", "prompt", "status",
                "finish_reason", "accepted", "completion_tokens", "prompt_pass_rate"]

    def __init__(self, all_files: list[Path]):
        self.files = all_files

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        index = 0
        group: list[dict[str, Any]] = []
        for r in _read_split(self.files, self._COLUMNS):
            if group and r["prompt_id"] != group[0]["prompt_id"]:
                if index >= start:
                    yield self._summary(group)
                index += 1
                group = []
            group.append(r)
        if group and index >= start:
            yield self._summary(group)

    @staticmethod
    def _summary(group: list[dict[str, Any]]) -> dict[str, Any]:
        first = group[0]
        statuses = [r["status"] for r in group]
        tokens = [r["completion_tokens"] for r in group if r["finish_reason"] != "error" and r["completion_tokens"] >= 0]
        return {
            "prompt_id": first["prompt_id"],
            "prompt_index": first["prompt_index"],
            "domain": first["domain"],
            "problem": first["problem"],
            "answer": first["answer"],
            "prompt": first["prompt"],
            "samples": len(group),
            "correct": statuses.count("correct"),
            "incorrect": statuses.count("incorrect"),
            "no_answer": statuses.count("no_answer"),
            "truncated": statuses.count("truncated"),
            "errors": sum(s in UNGRADABLE for s in statuses),
            "pass_rate": first["prompt_pass_rate"],
            "accepted": sum(bool(r["accepted"]) for r in group),
            "mean_completion_tokens": (sum(tokens) / len(tokens)) if tokens else None,
        }
