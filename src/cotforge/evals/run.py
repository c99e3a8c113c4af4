"""The entry point the CLI and the trainers' recipe stages call: :func:`run_eval`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cotforge.datagen.backends.failures import MAX_ERROR_RATE, TRANSPORT_OPTIONS, check_max_error_rate
from cotforge.errors import UsageError
from cotforge.evals.runner import (
    FAMILY, RAW_TEMPLATE, SHARD_SAMPLES, VERSION, BenchPlan, EvalSource, LazyGenerator, Progress,
    build_generator_factory, chat_template_record, library_versions, model_record, redact,
)

RUN_NAME = "cotforge-eval"


def _per_bench(value: Any, names: list[str], option: str) -> dict[str, Any]:
    """A value for every benchmark, or a {bench: value} mapping naming only known benchmarks."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise UsageError(f"{option}: {', '.join(unknown)} not among the benchmarks run ({', '.join(names)})")
        return dict(value)
    return {n: value for n in names} if value is not None else {}


def check_verifier_options(verifier_options: dict[str, Any] | None, used: dict[str, str]) -> None:
    """Options for a verifier no benchmark of the run uses would be dropped silently: refuse them.
    ``used``: benchmark -> its verifier."""
    unused = sorted(set(verifier_options or {}) - set(used.values()))
    if unused:
        uses = ", ".join(f"{b} uses {v}" for b, v in used.items())
        raise UsageError(f"--verifier-opt {unused[0]}.*: no benchmark of this run uses the verifier {unused[0]!r} ({uses})")


def plan_benchmarks(
    benches: list[str] | str, *, data: dict[str, str | Path] | None, prompt: str | dict[str, str] | None,
    limit: int | None, preset: str | None, overrides: dict[str, Any], seed: int,
    verifier_options: dict[str, dict[str, Any]] | None, verify_workers: int | None,
    grade_in_workers: bool | None = None,
) -> list[BenchPlan]:
    from cotforge.datagen.backends import SamplingParams
    from cotforge.evals.benchmarks import get_benchmark, parse_benches
    from cotforge.evals.grading import Grader
    from cotforge.evals.presets import resolve_sampling

    names = parse_benches(benches)
    check_verifier_options(verifier_options, {name: get_benchmark(name).verifier for name in names})
    data_map = _per_bench(data, names, "--data") if data else {}
    prompts = _per_bench(prompt, names, "--prompt")
    plans = []
    for name in names:
        bench = get_benchmark(name)
        loaded = bench.load(data_map.get(name), prompt=prompts.get(name), limit=limit)
        sampling = resolve_sampling(preset, bench.default_sampling, overrides, seed)
        params = SamplingParams.from_flags(sampling)  # a bad value names its flag (--n 0, --max-tokens 0)
        options = (verifier_options or {}).get(bench.verifier, {})
        grader = Grader(bench, options, verify_workers, in_workers=grade_in_workers)
        plans.append(BenchPlan(bench, loaded, params, grader, grader.identity()))
    return plans


def run_eval(
    model: str,
    benches: list[str] | str,
    out: str | Path,
    *,
    backend: str = "hf",
    n: int | None = None,
    preset: str | None = None,
    limit: int | None = None,
    data: dict[str, str | Path] | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int = 0,
    chat_template: bool | None = None,
    backend_options: dict | None = None,
    prompt: str | dict[str, str] | None = None,
    verifier_options: dict[str, dict[str, Any]] | None = None,
    overwrite: bool = False,
    generator: Any = None,
    batch_questions: int = 16,
    shard_questions: int | None = None,
    verify_workers: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    command: str | None = None,
    plots: bool = True,
    engine: str = "local",
    workers: int = 1,
    ray_options: dict[str, Any] | None = None,
    grade_in_workers: bool | None = None,
    max_error_rate: float = MAX_ERROR_RATE,
    retry_errors: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``benches`` into the run folder ``out``; returns the results.json content.

    ``backend``: hf, openai, vllm or replay (for replay ``model`` is the recorded completions'
    path). ``chat_template``: True/None render prompts with the model's chat template, False sends
    the raw text (base models; hf and vllm). ``prompt``: a template name (or one per benchmark).
    ``verifier_options``: {verifier name: options}, passed to the verifier and recorded.
    ``generator``: a ready backend object (tests). ``plots``: draw the card's PNG plots.
    ``engine="ray"`` spreads each generation batch over ``workers`` Ray actors, one backend each
    (``ray_options``: address, cpus_per_worker, gpus_per_worker, num_cpus). ``grade_in_workers``: run
    the whole verification in the verifier pool's processes (same verdicts; see
    :mod:`cotforge.evals.grading`). ``max_error_rate``: the share of a shard's samples that may be
    failed generations (after the backend's retries; they are ``error`` rows, scored as wrong);
    above it the run raises :class:`~cotforge.datagen.backends.failures.GenerationFailed` before
    the shard is committed (an outage never becomes a score), and a rerun resumes there. Rerunning
    on an interrupted folder resumes it; options that cannot change a sample (``base_url``,
    ``api_key``, ``max_concurrency``, timeouts, retries) may differ between the runs.
    ``retry_errors``: once the run is finished, ask the model again for its failed generations and
    rewrite it (:mod:`cotforge.evals.retry`); the counts are in ``results["retried_errors"]``.
    """
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.shards import ShardLimits

    from cotforge.datagen.backends import available as backends_available

    if backend not in backends_available():
        raise UsageError(f"--backend {backend!r}: choose one of {', '.join(backends_available())}")
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine {engine!r}: choose local or ray")
    if engine == "ray" and generator is not None:
        raise UsageError("--engine ray builds one backend per worker; it cannot use a ready generator object")
    max_error_rate = check_max_error_rate(max_error_rate)
    if not isinstance(batch_questions, int) or batch_questions < 1:
        raise UsageError(f"--batch-questions {batch_questions!r}: must be an integer >= 1")
    options = dict(backend_options or {})
    raw = chat_template is False
    if raw:
        if backend == "openai":
            raise UsageError("--raw-prompt: the openai backend sends chat messages; raw prompts need hf or vllm")
        if backend in ("hf", "vllm"):
            options.setdefault("chat_template", RAW_TEMPLATE)
    overrides = {"n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
    plans = plan_benchmarks(benches, data=data, prompt=prompt, limit=limit, preset=preset, overrides=overrides,
                            seed=seed, verifier_options=verifier_options, verify_workers=verify_workers,
                            grade_in_workers=grade_in_workers)
    out = Path(out)
    from cotforge.evals.rescoring import finish_interrupted_rewrites

    finish_interrupted_rewrites(out)  # a rescore or retry stopped mid-swap: its finished run takes the place
    model_rec = model_record(model, backend, options)
    build_config = {
        "model": model_rec,
        "backend": backend,
        # where the server is and how hard to push it cannot change a sample: not part of the identity
        "backend_options": redact({k: v for k, v in options.items() if k != "chat_template" and k not in TRANSPORT_OPTIONS}),
        "chat_template_override": options.get("chat_template"),
        "prompt_mode": "raw" if raw else "chat",
        "preset": preset,
        "benchmarks": {
            p.benchmark.name: {
                "data": p.loaded.record, "prompt": p.loaded.prompt.to_dict(), "sampling": p.params.to_dict(),
                "verifier": p.verifier,
            }
            for p in plans
        },
    }
    max_n = max(p.params.n for p in plans)
    shard_q = shard_questions or max(1, SHARD_SAMPLES // max_n)
    writer = DatasetWriter(
        out, name=RUN_NAME, family=FAMILY, version=VERSION, build_config=build_config,
        seeds={"sampling_seed": seed}, command=command or f"cotforge eval run --model {model} --out {out}",
        overwrite=overwrite, limits=ShardLimits(max_rows=shard_q * max_n, max_bytes=1 << 62),
        inputs=[{"benchmark": p.benchmark.name, **p.loaded.record} for p in plans],
    )
    def make_lazy() -> LazyGenerator:
        if generator is not None:
            return LazyGenerator(lambda: generator)
        if engine == "ray":
            from cotforge.evals.ray_engine import RayGenerator

            return LazyGenerator(lambda: RayGenerator(backend, model, options, workers=workers, **(ray_options or {})))
        return LazyGenerator(build_generator_factory(model, backend, options))

    lazy = make_lazy()
    t0 = time.perf_counter()
    this_run: dict[str, int] = {}
    try:
        for p in plans:
            # shards hold whole questions, so a resume can skip them (set per benchmark: n may differ)
            writer.limits = ShardLimits(max_rows=shard_q * p.params.n, max_bytes=1 << 62)
            source = EvalSource(p, lazy, model=model, backend=backend, batch_questions=batch_questions,
                                on_progress=on_progress, shard_rows=writer.limits.max_rows, max_error_rate=max_error_rate)
            result = writer.write_split(p.benchmark.name, "test", source)
            this_run[p.benchmark.name] = result.written_rows
    finally:
        template = chat_template_record(lazy.generator, raw) if lazy.generator is not None else None
        if generator is None:
            lazy.close()
    elapsed = time.perf_counter() - t0
    from cotforge.evals.finish import finish_run

    results = finish_run(
        out, writer, plans, model=model, backend=backend,
        environment={"libraries": library_versions(), "chat_template": template},
        run_stats={"seconds": round(elapsed, 3), "samples_generated_this_run": this_run, "engine": engine,
                   "workers": workers if engine == "ray" else 1,
                   "grading": "workers" if plans and plans[0].grader.in_workers else "in-process"}, plots=plots,
    )
    if retry_errors:
        from cotforge.evals.retry import retry_failed_samples

        again = make_lazy()
        try:
            retried, counts = retry_failed_samples(out, plans, again, model=model, backend=backend,
                                                   batch_questions=batch_questions, plots=plots)
        finally:
            if generator is None:
                again.close()
        results = {**(retried or results), "retried_errors": counts}
    return results
