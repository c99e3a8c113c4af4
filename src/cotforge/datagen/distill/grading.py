"""Grading completions with the verifier registry, batched and cached."""

from __future__ import annotations

from typing import Any, Sequence


class Grader:
    """Grades completions with the registry's verifiers, batch by batch, with a cache.

    A batch goes through :func:`cotforge.verifiers.pool.verify_batch`: each verifier settles the
    cheap cases in this process and sends the rest (SymPy comparisons, code execution) to the
    process-isolated worker pool, where a hung item is killed at its deadline and becomes a
    ``timeout`` verdict. The cache is keyed by (verifier, gold, completion, truncated), so repeated
    completions (greedy teachers, duplicate samples) are graded once. Verifiers never raise on
    model output; if grading fails anyway, the verdicts are ``error`` naming the exception.
    """

    def __init__(self, options: dict[str, dict[str, Any]] | None = None, workers: int | None = None):
        self.options = options or {}
        self.workers = workers
        self._verifiers: dict[str, Any] = {}
        self._cache: dict[tuple, Any] = {}

    def verifier(self, name: str):
        if name not in self._verifiers:
            from cotforge.verifiers import get_verifier

            self._verifiers[name] = get_verifier(name, **self.options.get(name, {}))
        return self._verifiers[name]

    def grade(self, name: str, gold: str, text: str, truncated: bool):
        return self.grade_many([(name, gold, text, truncated)])[0]

    def grade_many(self, jobs: Sequence[tuple[str, str, str, bool]]) -> list[Any]:
        """One verdict per (verifier name, gold, completion, truncated), in order."""
        from cotforge.verifiers.base import Status, Verdict

        out: list[Any] = [None] * len(jobs)
        todo: dict[str, dict[tuple, list[int]]] = {}
        for i, job in enumerate(jobs):
            hit = self._cache.get(job)
            if hit is not None:
                out[i] = hit
            else:
                todo.setdefault(job[0], {}).setdefault(job, []).append(i)
        for name, unique in todo.items():
            keys = list(unique)
            try:
                verdicts = self._run(name, keys)
            except Exception as exc:
                reason = f"verifier {name} raised {type(exc).__name__}: {exc}"
                verdicts = [Verdict(Status.ERROR, 0.0, None, reason) for _ in keys]
            if len(self._cache) > 200_000:
                self._cache.clear()
            for key, verdict in zip(keys, verdicts):
                self._cache[key] = verdict
                for i in unique[key]:
                    out[i] = verdict
        return out

    def _run(self, name: str, keys: list[tuple[str, str, str, bool]]) -> list[Any]:
        verifier = self.verifier(name)
        try:
            from cotforge.verifiers.pool import verify_batch
        except ImportError:  # pragma: no cover - the pool ships with the verifiers
            return [verifier.verify(gold, text, truncated=trunc) for _, gold, text, trunc in keys]
        return verify_batch(verifier, [k[1] for k in keys], [k[2] for k in keys],
                            truncated=[k[3] for k in keys], workers=self.workers)
