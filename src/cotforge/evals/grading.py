"""Grading eval samples with :mod:`cotforge.verifiers` - the only place an eval score comes from.

Every batch goes through :func:`cotforge.verifiers.pool.verify_batch` (cheap cases settled in this
process, SymPy and code in the isolated worker pool with hard deadlines). Verifier options are
passed through as given and recorded with the verifier's name and version; a verifier whose
``verify`` accepts ``question`` (a restatement guard) receives the question text.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

from cotforge.errors import UsageError


class Grader:
    def __init__(self, benchmark: Any, options: dict[str, Any] | None = None, workers: int | None = None):
        from cotforge.verifiers import get_verifier

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

    def identity(self) -> dict[str, Any]:
        return {
            "name": getattr(self.verifier, "name", self.benchmark.verifier),
            "version": str(getattr(self.verifier, "version", "")),
            "options": self.options,
            "question_passed": self.takes_question,
        }

    def grade(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdict fields (status, score, correct, extracted, reason) for each row, in order.

        Rows need ``gold`` (JSON), ``response``, ``finish_reason``, ``error``, ``verify_kwargs``
        (JSON) and ``question``. A failed generation is an ``error`` row and is not graded.
        """
        from cotforge.verifiers.pool import verify_batch

        out: list[dict[str, Any] | None] = [None] * len(rows)
        todo = []
        for i, r in enumerate(rows):
            if r["finish_reason"] == "error":
                out[i] = {"status": "error", "score": 0.0, "correct": False, "extracted": None,
                          "reason": f"generation failed: {r.get('error') or 'unknown'}"}
            else:
                todo.append(i)
        if todo:
            kwargs = []
            for i in todo:
                kw = json.loads(rows[i]["verify_kwargs"] or "{}")
                if self.takes_question:
                    kw["question"] = rows[i]["question"]
                kwargs.append(kw)
            verdicts = verify_batch(
                self.verifier,
                [json.loads(rows[i]["gold"]) for i in todo],
                [rows[i]["response"] for i in todo],
                truncated=[rows[i]["finish_reason"] == "length" for i in todo],
                kwargs=kwargs,
                workers=self.workers,
            )
            for i, v in zip(todo, verdicts):
                out[i] = {"status": v.status.value, "score": float(v.score), "correct": v.correct,
                          "extracted": v.extracted, "reason": v.reason}
        return out  # type: ignore[return-value]

    def equivalences(self, per_question: Sequence[tuple[Any, list[str | None]]]) -> list[dict[tuple[str, str], bool]]:
        """Which pairs of distinct extracted answers of one question the verifier calls equal.

        ``per_question``: (verify kwargs, answers) per question. Answer ``b`` is checked against
        ``a`` taken as the gold; the benchmark's ``equivalence_wrap`` turns ``b`` into a response.
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
            self.verifier, [a for a, _ in pairs], [wrap[0] + b + wrap[1] for _, b in pairs],
            kwargs=kwargs, workers=self.workers,
        )
        for q, pair, v in zip(owner, pairs, verdicts):
            out[q][pair] = v.correct
        return out
