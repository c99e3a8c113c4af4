"""``rescore``: regrade a run's saved samples (a new verifier version, other options) - no generation.

The samples are read shard by shard from the run, regraded through the verifier pool and written
as a new run folder with the same layout; by default it replaces the old one (written beside it,
then swapped in by :func:`cotforge.store.atomic.replace_folder`: one atomic exchange where the
kernel has it, so the run folder is always the old run or the new one; elsewhere two renames, and
the next run, rescore or retry completes a swap cut short between them). The build config records
the verifier identity the scores now come from.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.errors import UsageError
from cotforge.evals.runner import BenchPlan
from cotforge.evals.schema import EVAL_SAMPLE_SCHEMA

_BATCH = 2048


@dataclass(frozen=True)
class _RecordedPrompt:
    record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)


@dataclass
class _Recorded:
    """What ``finish_run`` needs of a loaded benchmark, taken from the run's build config."""

    record: dict[str, Any]
    prompt: _RecordedPrompt
    notes: list[str] = field(default_factory=list)


class RescoreSource:
    schema: pa.Schema = EVAL_SAMPLE_SCHEMA

    def __init__(self, files: list[Path], plan: BenchPlan):
        self.files, self.plan = files, plan
        self.regraded = 0
        self.changed = 0

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict[str, Any]]:
        skip = start  # rows already rescored by an interrupted rescore into the same folder
        identity = self.plan.verifier
        for f in self.files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=_BATCH):
                rows = batch.to_pylist()
                if skip >= len(rows):
                    skip -= len(rows)
                    continue
                rows, skip = rows[skip:], 0
                for r, v in zip(rows, self.plan.grader.grade(rows)):
                    self.changed += r["status"] != v["status"]
                    r.update(v)
                    r["verifier"], r["verifier_version"] = identity["name"], identity["version"]
                    self.regraded += 1
                    yield r


def rescore(
    run: str | Path,
    *,
    out: str | Path | None = None,
    verifier_options: dict[str, dict[str, Any]] | None = None,
    verify_workers: int | None = None,
    plots: bool = True,
    grade_in_workers: bool | None = None,
) -> dict[str, Any]:
    """Regrade every sample of ``run``; returns the new results.json content.

    ``verifier_options``: {verifier name: options} replacing the recorded ones for that verifier
    (others keep theirs). ``out``: write the regraded run there instead of replacing ``run``.
    ``grade_in_workers``: as for :func:`cotforge.evals.run.run_eval`.
    """
    from cotforge.datagen.backends import SamplingParams
    from cotforge.evals.benchmarks import get_benchmark
    from cotforge.evals.finish import finish_run
    from cotforge.evals.grading import Grader
    from cotforge.evals.results import bench_files
    from cotforge.evals.run import RUN_NAME
    from cotforge.evals.runner import FAMILY, VERSION
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.manifest import read_manifest
    from cotforge.store.shards import ShardLimits

    run = Path(run)
    finish_interrupted_rewrites(run)  # first: a swap cut short left the finished run beside its place
    if out is not None and Path(out).resolve() == run.resolve():
        out = None
    target = Path(out) if out is not None else leftover(run, "rescore")
    try:
        manifest = read_manifest(run)
    except FileNotFoundError:
        raise UsageError(f"{run}: not a finished eval run (no manifest.json); finish it with its run command first") from None
    if manifest.get("family") != FAMILY:
        raise UsageError(f"{run}: not an eval run (dataset family {manifest.get('family')!r})")
    config = copy.deepcopy(manifest["build_config"])
    from cotforge.evals.run import check_verifier_options

    check_verifier_options(verifier_options, {name: get_benchmark(name).verifier for name in config["benchmarks"]})
    plans, sources = [], []
    for name, entry in config["benchmarks"].items():
        bench = get_benchmark(name)
        recorded = entry["verifier"]
        options = (verifier_options or {}).get(bench.verifier, recorded.get("options", {}))
        grader = Grader(bench, options, verify_workers, in_workers=grade_in_workers)
        identity = grader.identity()
        entry["verifier"] = identity
        plan = BenchPlan(bench, _Recorded(entry["data"], _RecordedPrompt(entry["prompt"])),
                         SamplingParams.from_dict(entry["sampling"]), grader, identity)
        plans.append(plan)
        sources.append(RescoreSource(bench_files(run, name, manifest), plan))
    config["rescored_from"] = manifest.get("content_hash")
    rows_per_shard = max([s.rows for shards in _shards(manifest) for s in shards] + [1])
    writer = DatasetWriter(
        target, name=RUN_NAME, family=FAMILY, version=VERSION, build_config=config, seeds=manifest.get("seeds", {}),
        command=manifest.get("command", ""), overwrite=False,
        limits=ShardLimits(max_rows=rows_per_shard, max_bytes=1 << 62), inputs=manifest.get("inputs", []),
    )
    t0 = time.perf_counter()
    for plan, source in zip(plans, sources):
        writer.write_split(plan.benchmark.name, "test", source)
    environment = dict(manifest.get("stats", {}).get("environment", {}))
    from cotforge.evals.runner import library_versions

    environment["libraries_at_rescore"] = library_versions()
    results = finish_run(
        target, writer, plans, model=config["model"]["model"], backend=config["backend"], environment=environment,
        run_stats={"rescore_seconds": round(time.perf_counter() - t0, 3),
                   "regraded_samples": sum(s.regraded for s in sources),
                   "changed_status": sum(s.changed for s in sources)},
        plots=plots, extra={"rescored_from": manifest.get("content_hash")},
    )
    if out is None:
        from cotforge.store.atomic import replace_folder

        replace_folder(target, run)
    return results


REWRITES = ("rescore", "retry")


def rewrite_folder(run: Path, what: str) -> Path:
    """Where a rewrite of ``run`` (``what``: rescore or retry) builds its new folder."""
    return run.parent / f".{run.name}.{what}-tmp"


def finish_interrupted_rewrites(run: Path) -> None:
    """A rewrite that finished its new folder but was stopped before the swap completed (possible
    only where the kernel has no atomic exchange) is completed, so ``run`` is the new run."""
    from cotforge.store import layout
    from cotforge.store.atomic import finish_replace

    for what in REWRITES:
        new = rewrite_folder(run, what)
        if new.is_dir() and (new / layout.MANIFEST).is_file() and not (new / layout.JOURNAL).exists():
            finish_replace(new, run)


def leftover(run: Path, what: str) -> Path:
    """The folder a rewrite of ``run`` builds in, after completing an interrupted swap and removing
    what an earlier rewrite left unfinished there."""
    finish_interrupted_rewrites(run)
    target = rewrite_folder(run, what)
    if target.exists():
        shutil.rmtree(target)
    return target


def _shards(manifest: dict[str, Any]):
    from cotforge.store.manifest import manifest_shards

    return manifest_shards(manifest).values()
