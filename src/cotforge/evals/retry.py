"""``--retry-errors``: ask the model again for the failed generations of a finished run.

A run keeps the failed generations it could commit (at most ``--max-error-rate`` of a shard) as
``error`` rows, scored as wrong. ``retry_failed_samples`` regenerates exactly those samples (the
questions that hold one, same sampling; sample j depends only on (seed, question id, j), so a
retried sample is the one an uninterrupted run would hold), grades them, and rewrites the run
beside itself with every other row as it was; the new folder is swapped in as a rescore's is
(:func:`cotforge.store.atomic.replace_folder`), so a crash leaves the old run or the new one.
Failures a retry cannot fix (a prompt over the context limit) are left as they are, and so is
anything that fails again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.evals.schema import EVAL_SAMPLE_SCHEMA

_COLUMNS = ["question_index", "sample_index", "finish_reason", "error"]


def failed_samples(files: list[Path]) -> dict[int, set[int]]:
    """question index -> sample indices whose generation failed in a way a retry could fix."""
    from cotforge.datagen.backends.failures import transient_error

    out: dict[int, set[int]] = {}
    for f in files:
        t = pq.read_table(f, columns=_COLUMNS).to_pylist()
        for r in t:
            if r["finish_reason"] == "error" and transient_error(r["error"]):
                out.setdefault(r["question_index"], set()).add(r["sample_index"])
    return out


class _PatchedSource:
    """A benchmark's rows as committed, with the retried samples put in their place."""

    schema: pa.Schema = EVAL_SAMPLE_SCHEMA

    def __init__(self, files: list[Path], replacements: dict[tuple[int, int], dict[str, Any]]):
        self.files, self.replacements = files, replacements

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict[str, Any]]:
        skip = start
        for f in self.files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=2048):
                for r in batch.to_pylist():
                    if skip:
                        skip -= 1
                        continue
                    yield self.replacements.get((r["question_index"], r["sample_index"]), r)


def _regenerate(plan: Any, lazy: Any, failed: dict[int, set[int]], *, model: str, backend: str,
                batch_questions: int) -> dict[tuple[int, int], dict[str, Any]]:
    from cotforge.datagen.backends import GenerationRequest
    from cotforge.evals.runner import sample_rows

    items = plan.loaded.items
    todo = sorted(failed)
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for k in range(0, len(todo), batch_questions):
        chunk = todo[k : k + batch_questions]
        completions = lazy.get().generate([GenerationRequest(items[q].id, items[q].messages) for q in chunk], plan.params)
        rows = []
        for q, samples in zip(chunk, completions):
            wanted = [c for c in samples if c.sample_index in failed[q]]
            rows += sample_rows(plan, [items[q]], [wanted], model, backend, q)
        for r, v in zip(rows, plan.grader.grade(rows)):
            r.update(v)
            out[(r["question_index"], r["sample_index"])] = r
    return out


def retry_failed_samples(out: Path, plans: list[Any], lazy: Any, *, model: str, backend: str,
                         batch_questions: int, plots: bool = True) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """Retry the failed generations of the finished run ``out`` with ``lazy`` (a
    :class:`~cotforge.evals.runner.LazyGenerator`: no model is built when nothing failed); returns
    (the new results, or None when there was nothing to retry, and {"retried", "still_failed"})."""
    from cotforge.evals.finish import finish_run
    from cotforge.evals.rescoring import leftover
    from cotforge.evals.results import bench_files
    from cotforge.evals.run import RUN_NAME
    from cotforge.evals.runner import FAMILY, VERSION
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.manifest import manifest_shards, read_manifest
    from cotforge.store.shards import ShardLimits

    manifest = read_manifest(out)
    files = {p.benchmark.name: bench_files(out, p.benchmark.name, manifest) for p in plans}
    failed = {name: failed_samples(fs) for name, fs in files.items()}
    asked = sum(len(s) for f in failed.values() for s in f.values())
    if not asked:
        return None, {"retried": 0, "still_failed": 0}
    t0 = time.perf_counter()
    replacements = {p.benchmark.name: _regenerate(p, lazy, failed[p.benchmark.name], model=model, backend=backend,
                                                  batch_questions=batch_questions) if failed[p.benchmark.name] else {}
                    for p in plans}
    still = sum(r["finish_reason"] == "error" for rows in replacements.values() for r in rows.values())
    target = leftover(out, "retry")
    shards = manifest_shards(manifest)
    writer = DatasetWriter(
        target, name=RUN_NAME, family=FAMILY, version=VERSION, build_config=manifest["build_config"],
        seeds=manifest.get("seeds", {}), command=manifest.get("command", ""), overwrite=False,
        limits=ShardLimits(max_rows=1, max_bytes=1 << 62), inputs=manifest.get("inputs", []),
    )
    for p in plans:
        name = p.benchmark.name
        # the same shard boundaries as the run: whole questions per shard, so a resume still skips them
        writer.limits = ShardLimits(max_rows=max([s.rows for s in shards[f"{name}/test"]] + [1]), max_bytes=1 << 62)
        writer.write_split(name, "test", _PatchedSource(files[name], replacements[name]))
    previous = manifest.get("stats", {})
    counts = {"retried": asked, "still_failed": still}
    results = finish_run(
        target, writer, plans, model=model, backend=backend, environment=dict(previous.get("environment", {})),
        run_stats={**previous.get("run", {}), "retried_errors": {**counts, "seconds": round(time.perf_counter() - t0, 3)}},
        plots=plots,
    )
    from cotforge.store.atomic import replace_folder

    replace_folder(target, out)
    return results, counts
