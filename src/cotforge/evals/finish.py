"""Closing a run (after ``run`` or ``rescore``): scores, results.json, plots, card, manifest."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cotforge.evals.results import RESULTS, bench_results, table_for_results

log = logging.getLogger(__name__)


def _previous_environment(out: Path) -> dict[str, Any]:
    from cotforge.store.manifest import read_manifest

    try:
        return read_manifest(out).get("stats", {}).get("environment", {})
    except (FileNotFoundError, ValueError):
        return {}


def finish_run(
    out: Path, writer: Any, plans: list[Any], *, model: str, backend: str, environment: dict[str, Any],
    run_stats: dict[str, Any], plots: bool = True, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from cotforge.evals.card import render_eval_card
    from cotforge.store import atomic
    from cotforge.store.manifest import build_manifest

    if environment.get("chat_template") is None:  # resumed with nothing to generate: keep what was recorded
        environment["chat_template"] = _previous_environment(out).get("chat_template")
    # Scores are computed from the committed shards (exactly what load_dataset will read).
    interim = build_manifest(
        name=writer.name, family=writer.family, version=writer.version, command=writer.command,
        build_config=writer.build_config, build_hash=writer.build_hash, seeds=writer.seeds, inputs=writer.inputs,
        splits=writer.results, notes=[], stats={},
    )
    benchmarks: dict[str, Any] = {}
    notes: list[str] = []
    for p in plans:
        name = p.benchmark.name
        table = table_for_results(out, name, interim)
        b = bench_results(table, p.benchmark, p.grader)
        b.update({"title": p.benchmark.title, "verifier": p.verifier, "prompt": p.loaded.prompt.to_dict(),
                  "sampling": p.params.to_dict(), "data": p.loaded.record})
        benchmarks[name] = b
        notes += [f"{name}: {n}" for n in p.loaded.notes]
        if b.get("note"):
            notes.append(f"{name}: {b['note']}")
    results = {"format": "cotforge-eval-results/1", "model": model, "backend": backend, "benchmarks": benchmarks,
               "environment": environment, **(extra or {})}
    atomic.write_json(out / RESULTS, results)
    plot_names: list[str] = []
    if plots:
        try:
            from cotforge.evals.report import plot_run

            plot_names = [str(p.relative_to(out)) for p in plot_run(out, results, manifest=interim)]
        except ImportError as exc:  # matplotlib missing: the card says so instead of failing the run
            notes.append(f"plots not drawn: {exc}")
    stats = {"environment": environment, "run": run_stats,
             "scores": {k: {"avg@n": v["avg@n"], "stderr": v["stderr"], "n": v["n"]} for k, v in benchmarks.items()}}
    writer.finish(notes=notes, stats=stats, render_card=lambda m: render_eval_card(m, results, out, plot_names))
    return results
