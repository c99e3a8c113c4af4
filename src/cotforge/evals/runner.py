"""``run_eval``: generate, grade and store every sample of a set of benchmarks, resumably.

A run is a dataset folder (:class:`cotforge.store.dataset.DatasetWriter`): one config per
benchmark, split ``test``, one row per sample. Samples are committed shard by shard (whole
questions per shard); after a crash or ``kill -9`` the same call finds the journal, keeps every
committed shard whose hash still matches and generates only the questions after them. Sample j of
a question depends only on (seed, question id, j) (the backends' per-sample seeding), so a resumed
run holds the samples an uninterrupted one would. Grading a batch overlaps the generation of the
next ones (threads; the verifier pool serves concurrent callers).

Everything that moves a score is in the build config, so it is in the manifest and a changed
setting cannot silently resume an older run: model, backend and its options, chat or raw mode,
per benchmark the data hash, prompt template hash, sampling parameters and verifier identity.
"""

from __future__ import annotations

import functools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cotforge.evals.schema import EVAL_SAMPLE_SCHEMA

FAMILY = "eval"
VERSION = "1.0.0"
#: Raw-prompt mode (base models): the messages' contents are concatenated, no chat markup.
RAW_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% if not loop.last %}\n\n{% endif %}{% endfor %}"
#: Target samples per shard: small enough that a crash loses little, big enough for few files.
SHARD_SAMPLES = 512
_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass
class Progress:
    """What the progress callback receives after each graded batch."""

    benchmark: str
    total_samples: int
    done_samples: int = 0  # including samples resumed from an earlier run
    resumed_samples: int = 0
    correct: int = 0  # this run's graded samples only
    graded: int = 0
    tokens: int = 0
    elapsed: float = 0.0

    @property
    def score(self) -> float:
        return self.correct / self.graded if self.graded else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class BenchPlan:
    benchmark: Any
    loaded: Any
    params: Any  # SamplingParams
    grader: Any
    verifier: dict[str, Any] = field(default_factory=dict)


def redact(options: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in options.items()}


class LazyGenerator:
    """Builds the backend on first use, so re-opening a finished run needs no model."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self.generator: Any = None

    def get(self) -> Any:
        if self.generator is None:
            self.generator = self.factory()
        return self.generator

    def close(self) -> None:
        if self.generator is not None and hasattr(self.generator, "close"):
            self.generator.close()


def sample_rows(plan: BenchPlan, items: list[Any], completions: list[list[Any]], model: str, backend: str,
                first_index: int, count_tokens: Any = None) -> list[dict[str, Any]]:
    """The ungraded rows of a batch: one per (question, sample)."""
    from cotforge.datagen.reasoning_stats import completion_stats

    name = plan.benchmark.name
    sampling = plan.params.to_dict()
    verifier = plan.verifier
    rows = []
    for qi, (item, samples) in enumerate(zip(items, completions)):
        gold = json.dumps(item.gold, sort_keys=True, ensure_ascii=False)
        meta = json.dumps(item.meta, sort_keys=True, ensure_ascii=False)
        vkw = json.dumps(item.verify_kwargs, sort_keys=True)
        for c in samples:
            stats = completion_stats(c.text, c.reasoning, c.completion_tokens, count_tokens)
            rows.append({
                "id": f"{name}/{item.id}/{c.sample_index}", "benchmark": name, "question_id": item.id,
                "question_index": first_index + qi, "sample_index": c.sample_index, "question": item.question,
                "gold": gold, "prompt": item.messages, "response": c.text, "reasoning": c.reasoning,
                "finish_reason": c.finish_reason, "error": c.error, "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens, "think_tokens": stats.think_tokens,
                "answer_tokens": stats.answer_tokens, "reflection": stats.reflection,
                "branching": c.text.lower().count("alternatively,"),
                "verifier": verifier["name"], "verifier_version": verifier["version"],
                "meta": meta, "verify_kwargs": vkw, "model": model, "backend": backend, "sampling": sampling,
            })
    return rows


class EvalSource:
    """One benchmark's rows for the store: questions in order, n rows each, batch by batch."""

    schema: pa.Schema = EVAL_SAMPLE_SCHEMA

    def __init__(self, plan: BenchPlan, generator: LazyGenerator, *, model: str, backend: str, batch_questions: int,
                 overlap: int | None = None, on_progress: Callable[[Progress], None] | None = None,
                 shard_rows: int | None = None, max_error_rate: float = 1.0):
        self.plan, self.generator = plan, generator
        self.model, self.backend = model, backend
        self.batch_questions = max(1, batch_questions)
        self.overlap = max(1, overlap if overlap is not None else default_overlap(plan.grader))
        self.on_progress = on_progress
        # the store's shard size: rows are handed over a whole shard at a time, after the gate
        self.shard_rows = shard_rows
        self.max_error_rate = max_error_rate
        n = plan.params.n
        self.progress = Progress(plan.benchmark.name, len(plan.loaded.items) * n)

    def _generate(self, batch: list[Any]) -> list[list[Any]]:
        from cotforge.datagen.backends import GenerationRequest

        requests = [GenerationRequest(it.id, it.messages) for it in batch]
        return self.generator.get().generate(requests, self.plan.params)

    def _grade(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r, v in zip(rows, self.plan.grader.grade(rows)):
            r.update(v)
        return rows

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict[str, Any]]:
        """Rows ``start``.. in order, a shard at a time: a shard whose failed generations pass
        ``max_error_rate`` raises :class:`GenerationFailed` before any of it reaches the store."""
        from cotforge.datagen.backends.failures import gated_shards

        return gated_shards(self._graded(start), self.shard_rows, self._gate, start)

    def _gate(self, shard: list[dict[str, Any]], start: int) -> None:
        from cotforge.datagen.backends.failures import NO_RETRY_BACKENDS, GenerationFailed, tally_errors

        if self.backend in NO_RETRY_BACKENDS:
            return  # a recorded file lacks the same samples on every rerun (through Ray too)
        # failed generations only: an ``error`` verdict of a generated sample (a sandbox that could
        # not start) is the grader's, and a rerun would not ask the model again for it
        tally = tally_errors((r["error"] for r in shard if r["finish_reason"] == "error"), len(shard))
        if not tally.too_many(self.max_error_rate):
            return
        n, total = self.plan.params.n, len(self.plan.loaded.items)
        raise GenerationFailed(
            f"{self.plan.benchmark.name}: the model failed {tally.failed:,} of {len(shard):,} samples of questions "
            f"{shard[0]['question_index']}-{shard[-1]['question_index']} ({tally.share:.1%}, above --max-error-rate "
            f"{self.max_error_rate:.1%}); most often ({tally.top_count:,}): {tally.top_error}. {start // n:,} of "
            f"{total:,} questions are committed; rerun the same command when the model is back to resume and "
            f"generate the rest"
        )

    def _graded(self, start: int) -> Iterator[dict[str, Any]]:
        n = self.plan.params.n
        items = self.plan.loaded.items
        first, skip = divmod(start, n)  # shards hold whole questions, so skip is 0 unless limits changed
        p = self.progress
        p.done_samples = p.resumed_samples = start
        if self.on_progress:
            self.on_progress(p)
        t0 = time.perf_counter()
        starts = range(first, len(items), self.batch_questions)
        with ThreadPoolExecutor(max_workers=self.overlap, thread_name_prefix="cotforge-eval-grade") as pool:
            pending: deque = deque()

            def finish_one() -> Iterator[dict[str, Any]]:
                nonlocal skip
                graded = pending.popleft().result()
                for r in graded:
                    p.done_samples += 1
                    p.graded += r["status"] != "error"
                    p.correct += bool(r["correct"])
                    p.tokens += max(0, r["completion_tokens"] or 0)
                p.elapsed = time.perf_counter() - t0
                if self.on_progress:
                    self.on_progress(p)
                for r in graded:
                    if skip:
                        skip -= 1
                        continue
                    yield r

            try:
                for s in starts:
                    batch = items[s : s + self.batch_questions]
                    completions = self._generate(batch)
                    rows = sample_rows(self.plan, batch, completions, self.model, self.backend, s)
                    pending.append(pool.submit(self._grade, rows))
                    while len(pending) >= self.overlap:
                        yield from finish_one()
                while pending:
                    yield from finish_one()
            finally:
                for f in pending:
                    f.cancel()


def default_overlap(grader: Any) -> int:
    """Batches graded at once (:func:`cotforge.verifiers.pool.grading_overlap` for the grader's
    pool size): one slow item must not leave the pool's workers idle behind it."""
    from cotforge.verifiers.pool import grading_overlap

    return grading_overlap(getattr(grader, "workers", None))


def build_generator_factory(model: str, backend: str, options: dict[str, Any]) -> Callable[[], Any]:
    from cotforge.datagen.backends import get_backend

    def factory() -> Any:
        if backend == "replay":
            return get_backend("replay", path=model, **options)
        return get_backend(backend, model=model, **options)

    return factory


def chat_template_record(generator: Any, raw: bool) -> dict[str, Any]:
    """The chat template that rendered the prompts and its hash (None where the server renders)."""
    import hashlib

    tok = getattr(generator, "tokenizer", None)
    if tok is None:
        engine = getattr(generator, "_engine", None)
        tok = getattr(engine, "tokenizer", None)
    template = getattr(tok, "chat_template", None) if tok is not None else None
    if isinstance(template, dict):  # some tokenizers keep several named templates
        template = json.dumps(template, sort_keys=True)
    return {
        "mode": "raw" if raw else "chat",
        "sha256": hashlib.sha256(template.encode()).hexdigest() if isinstance(template, str) else None,
        "where": "tokenizer" if isinstance(template, str) else "not visible to the harness (server side or replay)",
    }


def model_record(model: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {"model": model, "backend": backend, "revision": options.get("revision")}
    p = Path(model)
    if backend != "replay" and (p / "config.json").is_file():
        from cotforge.store.atomic import sha256_file

        rec["config_sha256"] = sha256_file(p / "config.json")
        weights = sorted(p.glob("*.safetensors"))
        if weights:  # size + mtime-free identity: the first weight file's hash would be slow
            rec["weights"] = {w.name: w.stat().st_size for w in weights}
    if backend == "replay" and p.is_file():
        from cotforge.store.atomic import sha256_file

        rec["replay_sha256"] = sha256_file(p)
    return rec


def library_versions() -> dict[str, str | None]:
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)  # reading package metadata costs ~30 ms; a process's libraries do not change under it
def _library_versions() -> dict[str, str | None]:
    from importlib import metadata

    out = {}
    for name in ("cotforge", "math-verify", "sympy", "transformers", "torch", "vllm", "datasets", "pyarrow", "latex2sympy2_extended"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
