"""``rescore``: regrade a run's saved samples (a new verifier version, other options) - no generation.

The samples are read shard by shard from the run, regraded through the verifier pool and written
as a new run folder with the same layout; by default it replaces the old one (written beside it,
then swapped in with two renames, so a crash leaves the old run intact). The build config records
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
    try:
        manifest = read_manifest(run)
    except FileNotFoundError:
        raise UsageError(f"{run}: not a finished eval run (no manifest.json); finish it with its run command first") from None
    if manifest.get("family") != FAMILY:
        raise UsageError(f"{run}: not an eval run (dataset family {manifest.get('family')!r})")
    config = copy.deepcopy(manifest["build_config"])
    target = Path(out) if out is not None else run.parent / f".{run.name}.rescore-tmp"
    if out is not None and target.resolve() == run.resolve():
        target = run.parent / f".{run.name}.rescore-tmp"
        out = None
    if out is None and target.exists():
        shutil.rmtree(target)  # a leftover of a rescore that crashed before its swap
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
        swap_in(target, run, "rescore")
    return results


def swap_in(new: Path, run: Path, what: str) -> None:
    """Replace the folder ``run`` by ``new`` with two renames (the old one is kept aside until the
    new one is in place, so a crash leaves one of them whole under ``.<run>.<what>-old``)."""
    old = run.parent / f".{run.name}.{what}-old"
    if old.exists():
        shutil.rmtree(old)
    run.rename(old)
    new.rename(run)
    shutil.rmtree(old, ignore_errors=True)


def _shards(manifest: dict[str, Any]):
    from cotforge.store.manifest import manifest_shards

    return manifest_shards(manifest).values()
