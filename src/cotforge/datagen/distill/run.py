"""The entry point: :func:`distill` and the command line that rebuilds a dataset."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from cotforge.datagen.backends.failures import MAX_ERROR_RATE, NO_RETRY_BACKENDS, check_max_error_rate
from cotforge.datagen.distill.config import ENGINES, FAMILY, DistillConfig, redact, short_hash
from cotforge.datagen.distill.items import make_items
from cotforge.datagen.distill.sources import AcceptedSource, AllSource, DistillProgress, LocalEngine, PromptsSource
from cotforge.datagen.distill.sft import SFT_CONFIGS, SFTSource
from cotforge.datagen.distill.stats import distill_stats
from cotforge.datagen.distill.worker import DistillWorker, build_generator
from cotforge.errors import UsageError


def rebuild_command(out: str | Path, cfg: DistillConfig, input_desc: str, columns: dict[str, str], domain: str,
                    limit: int | None, config: str | None = None, split: str | None = None) -> str:
    """The ``cotforge distill`` command line that rebuilds this dataset: every option that decides rows."""
    from cotforge.datagen.inputs import command_path
    from cotforge.datagen.presets import get_preset

    q = shlex.quote
    # local paths absolute: typed relative, they would read as Hub ids from another directory
    parts = ["cotforge distill", f"--input {command_path(input_desc)}", f"--out {q(str(Path(out).resolve()))}",
             f"--backend {cfg.backend}", f"--model {command_path(cfg.model)}"]
    if config:
        parts.append(f"--config {config}")
    if split:
        parts.append(f"--split {split}")
    if cfg.preset != "none":
        parts.append(f"--preset {cfg.preset}")
    parts += [f"--column {k}={v}" for k, v in columns.items()]
    parts.append(f"--domain {domain}")
    if limit is not None:
        parts.append(f"--limit {limit}")
    preset_template = get_preset(cfg.preset).template.to_dict()
    if cfg.template.get("system") != preset_template["system"]:
        parts.append(f"--system {q(cfg.template.get('system') or '')}")
    if cfg.template.get("user") != preset_template["user"]:
        parts.append(f"--user-template {q(cfg.template['user'])}")
    s = cfg.params()
    parts += [f"--n {s.n}", f"--temperature {s.temperature}", f"--top-p {s.top_p}", f"--top-k {s.top_k}",
              f"--max-tokens {s.max_tokens}", f"--seed {s.seed}"]
    parts += [f"--stop {q(stop)}" for stop in s.stop]
    parts.append(f"--keep {cfg.keep}")
    if cfg.max_per_prompt:
        parts.append(f"--max-per-prompt {cfg.max_per_prompt}")
    parts.append(f"--finish {','.join(cfg.finish_reasons)}")
    if cfg.min_completion_tokens:
        parts.append(f"--min-tokens {cfg.min_completion_tokens}")
    if cfg.max_completion_tokens is not None:
        parts.append(f"--max-completion-tokens {cfg.max_completion_tokens}")
    parts += [f"--verifier {d}={v}" for d, v in cfg.verifiers.items()]
    parts += [f"--verifier-opt {q(f'{name}.{k}={json.dumps(v)}')}" for name, opts in cfg.verifier_options.items()
              for k, v in opts.items()]
    parts += [f"--backend-opt {q(f'{k}={json.dumps(v)}')}" for k, v in redact(cfg.backend_options).items()]
    if cfg.token_counter:
        parts.append(f"--tokenizer {command_path(cfg.token_counter)}")
    if cfg.shard_prompts:
        parts.append(f"--shard-prompts {cfg.shard_prompts}")
    extra = [f for f in cfg.sft_formats if f != "messages"]
    if tuple(cfg.sft_formats) != get_preset(cfg.preset).sft_formats:
        parts.append(f"--sft-formats {','.join(extra) or 'messages'}")
    if cfg.sft_token_budget is not None:
        parts.append(f"--sft-token-budget {cfg.sft_token_budget}")
    parts += [f"--keep-column {q(c)}" for c in cfg.metadata_columns]
    return " ".join(parts)


def distill(
    problems: Sequence[Any],
    out: str | Path,
    cfg: DistillConfig,
    *,
    generator: Any = None,
    engine: str = "local",
    workers: int = 1,
    batch_prompts: int = 16,
    retries: int = 2,
    retry_wait: float = 1.0,
    overwrite: bool = False,
    inputs: list[dict[str, Any]] | None = None,
    command: str | None = None,
    on_progress: Callable[[DistillProgress], None] | None = None,
    name: str = "cotforge-distill",
    version: str = "1.0.0",
    ray_options: dict[str, Any] | None = None,
    max_error_rate: float = MAX_ERROR_RATE,
    retry_errors: bool = False,
    _card_path: Path | None = None,
) -> dict[str, Any]:
    """Distill ``problems`` (:class:`~cotforge.datagen.inputs.Problem` rows) into the dataset ``out``.

    ``generator``: a ready :class:`~cotforge.datagen.backends.Generator` (local engine only);
    otherwise each worker builds ``get_backend(cfg.backend, model=cfg.model, **cfg.backend_options)``.
    Returns the manifest. Rerunning on an interrupted folder resumes it.

    ``max_error_rate``: the share of a shard's completions that may be failed requests (after their
    retries) and still be committed as error rows; above it the run raises :class:`TeacherFailed`
    before committing that shard, and a rerun resumes there (prompts over the context limit are
    data, not failures, and never count).

    ``retry_errors``: when ``out`` is a finished dataset of this build holding such failed rows,
    rebuild it asking the teacher again for those samples only (see :mod:`.retry`).
    """
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.shards import ShardLimits

    cfg.validate()
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if workers < 1:
        raise UsageError(f"--workers {workers}: must be >= 1")
    if batch_prompts < 1:
        raise UsageError(f"--batch-prompts {batch_prompts}: must be >= 1")
    if retries < 0:
        raise UsageError(f"--retries {retries}: must be >= 0")
    max_error_rate = check_max_error_rate(max_error_rate)
    if engine == "ray" and generator is not None:
        raise UsageError("--engine ray builds one backend per worker; it cannot use a ready generator object")
    from cotforge.datagen.inputs import check_out_apart

    check_out_apart(out, [r.get("path") for r in inputs or ()])
    items, duplicates = make_items(problems, cfg)
    if not items:
        raise UsageError("input: no prompts to distill")
    out = Path(out)
    build_config = cfg.resolved()
    build_config["prompts"] = short_hash("prompt-set", [it.prompt_id for it in items])
    build_config["n_prompts"] = len(items)
    # record the prompt format that was used: a template the rows never saw is not provenance
    from_column = sum(bool(p.messages) for p in problems)
    if from_column == len(problems):
        build_config["template"] = None
        build_config["prompt_source"] = "input prompt column"
    elif from_column:
        build_config["prompt_source"] = f"input prompt column ({from_column} rows), template (the rest)"
    else:
        build_config["prompt_source"] = "template"
    if retry_errors:
        from cotforge.datagen.distill import retry

        retry.finish_swap(out)
        tmp = out.with_name(out.name + retry.RETRY_SUFFIX)
        if (out / "manifest.json").is_file() and (tmp.exists() or retry.failed_rows(out)):
            from cotforge.datagen.backends.replay import ReplayGenerator
            from cotforge.store import atomic

            existing = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("build_hash")
            mine = atomic.stable_hash({"family": FAMILY, "version": version, "config": build_config})
            if existing != mine:
                raise UsageError(f"--out {out}: holds a different build (build hash {str(existing)[:12]}, this one "
                                 f"{mine[:12]}); --retry-errors retries the failed rows of the same build only")
            if engine != "local":
                raise UsageError("--retry-errors: runs with --engine local")
            teacher = generator if generator is not None else build_generator(cfg, retries)
            prior = retry.PriorGenerator(ReplayGenerator(out, check_params=False), teacher)
            manifest = distill(problems, tmp, cfg, generator=prior, batch_prompts=batch_prompts, retries=retries,
                               retry_wait=retry_wait, inputs=inputs, command=command, on_progress=on_progress,
                               name=name, version=version, max_error_rate=max_error_rate, _card_path=out)
            manifest["stats"]["run"]["errors_retried"] = prior.retried
            retry.finish_swap(out)
            return manifest
    writer = DatasetWriter(
        out, name=name, family=FAMILY, version=version, build_config=build_config,
        seeds={"sampling_seed": cfg.params().seed}, command=command or f"cotforge distill --out {out}",
        overwrite=overwrite, limits=ShardLimits(max_rows=cfg.shard_rows(), max_bytes=1 << 62), inputs=inputs,
    )

    def engine_factory():
        if engine == "ray":
            from cotforge.datagen.ray_engine import RayEngine

            return RayEngine(cfg, workers=workers, retries=retries, retry_wait=retry_wait, **(ray_options or {}))
        return LocalEngine(DistillWorker(cfg, generator, retries=retries, retry_wait=retry_wait))

    # a replayed file lacks the same samples on every rerun: stopping to "retry" them would loop
    gate = max_error_rate if cfg.backend not in NO_RETRY_BACKENDS else 1.0
    source = AllSource(items, cfg.n, engine_factory, batch_prompts=batch_prompts, on_progress=on_progress,
                       shard_rows=cfg.shard_rows(), max_error_rate=gate,
                       sft_token_budget=cfg.sft_token_budget)
    t0 = time.perf_counter()
    all_result = writer.write_split("all", "train", source)
    all_files = [out / s.path for s in all_result.shards]
    writer.write_split("accepted", "train", AcceptedSource(all_files))  # `messages`: always written
    for fmt in cfg.sft_formats:
        if fmt != "messages":
            writer.write_split(SFT_CONFIGS[fmt], "train", SFTSource(fmt, all_files))
    writer.write_split("prompts", "train", PromptsSource(all_files))
    elapsed = time.perf_counter() - t0

    from cotforge.datagen.presets import get_preset
    from cotforge.datagen.reasoning_stats import token_method
    from cotforge.hub.distill_card import render_distill_card

    stats = distill_stats(out, writer.results)
    stats["token_count_method"] = token_method(cfg.token_counter)
    stats["run"] = {
        "engine": engine, "workers": workers, "batch_prompts": batch_prompts, "retries": retries,
        "completions_this_run": source.progress.completions, "prompts_resumed": source.progress.skipped_prompts,
        "seconds": round(elapsed, 3),
        "generation_seconds": round(source.progress.generation_seconds, 3),
        "grading_seconds": round(source.progress.grading_seconds, 3),
        "row_building_seconds": round(source.progress.rows_seconds, 3),
    }
    notes = []
    if cfg.sft_token_budget is not None:
        committed = stats["prompts"]
        if committed < len(items):
            notes.append(f"--sft-token-budget {cfg.sft_token_budget:,}: the accepted completions reached it at prompt "
                         f"{committed - 1}, so {len(items) - committed:,} of {len(items):,} prompts were not sampled.")
    if duplicates:
        notes.append(f"{duplicates} duplicate prompts in the input (same messages, answer and domain) were dropped.")
    card_path = _card_path or out
    return writer.finish(notes=notes, stats=stats, render_card=lambda m: render_distill_card(
        m, card_path, preset_notes=get_preset(cfg.preset).notes))
