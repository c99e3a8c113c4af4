"""Grading eval samples with :mod:`cotforge.verifiers` - the only place an eval score comes from.

Every batch goes through :func:`cotforge.verifiers.pool.verify_batch`. Verifier options are passed
through as given and recorded with the verifier's name and version; a verifier whose ``verify``
accepts ``question`` (a restatement guard) receives the question text.

Two things keep grading cheap without changing a verdict:

- Identical samples are graded once per run: rows with the same (gold, per-item options,
  question, response, truncation) share one verdict, within a batch and across the batches of a
  run (replayed and greedy outputs repeat a lot). Timeouts and errors are not remembered, so a
  load-dependent verdict is asked for again.
- ``in_workers`` (off by default; ``run_eval(grade_in_workers=True)``, ``--grade-in-workers`` or
  ``COTFORGE_EVAL_GRADE_IN_WORKERS=1``): the whole verification of every item, also the cheap,
  SymPy-free part that verifiers otherwise settle in this process, runs in the verifier pool's
  worker processes, so the string work of the choice and math verifiers can use every core instead
  of contending for this process's GIL with generation and shard writing. The verdicts are the
  verifier's own ``verify`` (``tests/evals/test_grading.py`` checks they equal the in-process
  ones). It is not the default because on a machine loaded by other jobs it measured no faster
  (``bench/eval_bench.py`` runs both modes; see docs/evals.md).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Sequence
from typing import Any

from cotforge.errors import UsageError

#: Distinct samples a run remembers verdicts of (a 16-byte key and a small dict each).
MEMO_SIZE = 200_000


class InWorker:
    """A verifier seen without its ``presettle``: ``verify_batch`` then sends every item to the
    pool, where the worker calls the verifier's own ``verify`` (which settles cheap cases itself)."""

    def __init__(self, verifier: Any):
        self.verifier = verifier
        self.name = getattr(verifier, "name", type(verifier).__name__)
        self.version = getattr(verifier, "version", "")
        timeout = getattr(verifier, "timeout", None)
        if timeout is not None:
            self.timeout = timeout

    def verify(self, gold: Any, response: Any, **kwargs: Any) -> Any:
        return self.verifier.verify(gold, response, **kwargs)


def _default_in_workers() -> bool:
    return os.environ.get("COTFORGE_EVAL_GRADE_IN_WORKERS", "").strip().lower() in ("1", "true", "yes")


class Grader:
    def __init__(self, benchmark: Any, options: dict[str, Any] | None = None, workers: int | None = None,
                 *, in_workers: bool | None = None):
        from cotforge.verifiers import get_verifier
        from cotforge.verifiers.cache import LRU

        self.benchmark = benchmark
        self.options = {**benchmark.verifier_options, **(options or {})}
        try:
            self.verifier = get_verifier(benchmark.verifier, **self.options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"verifier {benchmark.verifier!r} options {self.options}: {exc}") from None
        self.workers = workers
        try:
            params = inspect.signature(self.verifier.verify).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins
            params = {}
        self.takes_question = "question" in params
        self.in_workers = _default_in_workers() if in_workers is None else bool(in_workers)
        # Verifiers without presettle already run whole in the pool (code); wrapping changes nothing.
        self._target = InWorker(self.verifier) if self.in_workers and hasattr(self.verifier, "presettle") else self.verifier
        self._memo: LRU[dict[str, Any]] = LRU(MEMO_SIZE)
        self.graded = 0  # samples sent to the verifier (after de-duplication), for benchmarks and tests

    def identity(self) -> dict[str, Any]:
        return {
            "name": getattr(self.verifier, "name", self.benchmark.verifier),
            "version": str(getattr(self.verifier, "version", "")),
            "options": self.options,
            "question_passed": self.takes_question,
        }

    def _key(self, r: dict[str, Any]) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        parts = (r["gold"], r["verify_kwargs"] or "", r["question"] if self.takes_question else "", r["response"] or "")
        for p in parts:
            b = str(p).encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        h.update(b"T" if r["finish_reason"] == "length" else b"F")
        return h.digest()

    def grade(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdict fields (status, score, correct, extracted, reason) for each row, in order.

        Rows need ``gold`` (JSON), ``response``, ``finish_reason``, ``error``, ``verify_kwargs``
        (JSON) and ``question``. A failed generation is an ``error`` row and is not graded.
        """
        from cotforge.verifiers.pool import verify_batch

        out: list[dict[str, Any] | None] = [None] * len(rows)
        todo: dict[bytes, list[int]] = {}
        for i, r in enumerate(rows):
            if r["finish_reason"] == "error":
                out[i] = {"status": "error", "score": 0.0, "correct": False, "extracted": None,
                          "reason": f"generation failed: {r.get('error') or 'unknown'}"}
                continue
            key = self._key(r)
            known = self._memo.get(key)
            if known is not None:
                out[i] = dict(known)
            else:
                todo.setdefault(key, []).append(i)
        if todo:
            first = [idxs[0] for idxs in todo.values()]
            kwargs = []
            for i in first:
                kw = json.loads(rows[i]["verify_kwargs"] or "{}")
                if self.takes_question:
                    kw["question"] = rows[i]["question"]
                kwargs.append(kw)
            verdicts = verify_batch(
                self._target,
                [json.loads(rows[i]["gold"]) for i in first],
                [rows[i]["response"] for i in first],
                truncated=[rows[i]["finish_reason"] == "length" for i in first],
                kwargs=kwargs,
                workers=self.workers,
            )
            self.graded += len(first)
            for (key, idxs), v in zip(todo.items(), verdicts):
                d = {"status": v.status.value, "score": float(v.score), "correct": v.correct,
                     "extracted": v.extracted, "reason": v.reason}
                if v.status.value not in ("timeout", "error"):
                    self._memo.put(key, d)
                for i in idxs:
                    out[i] = dict(d)
        return out  # type: ignore[return-value]

    def equivalences(self, per_question: Sequence[tuple[Any, list[str | None]]]) -> list[dict[tuple[str, str], bool]]:
        """Which pairs of distinct extracted answers of one question the verifier calls equal.

        ``per_question``: (verify kwargs, answers) per question. Answer ``b`` is checked against
        ``a`` taken as the gold; the benchmark's ``equivalence_wrap`` turns ``b`` into a response.
        Each unordered pair of one question is checked once.
        """
        from cotforge.verifiers.pool import verify_batch

        wrap = self.benchmark.equivalence_wrap
        out: list[dict[tuple[str, str], bool]] = [{} for _ in per_question]
        if wrap is None:
            return out
        pairs, kwargs, owner = [], [], []
        for q, (kw, answers) in enumerate(per_question):
            distinct = list(dict.fromkeys(a for a in answers if a is not None))
            for i, a in enumerate(distinct):
                for b in distinct[i + 1:]:
                    pairs.append((a, b))
                    kwargs.append(dict(kw))
                    owner.append(q)
        if not pairs:
            return out
        verdicts = verify_batch(
            self._target, [a for a, _ in pairs], [wrap[0] + b + wrap[1] for _, b in pairs],
            kwargs=kwargs, workers=self.workers,
        )
        for q, pair, v in zip(owner, pairs, verdicts):
            out[q][pair] = v.correct
        return out
