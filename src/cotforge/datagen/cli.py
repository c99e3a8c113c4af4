"""``cotforge distill | pairs | silver | decontam | demo``: the datagen commands.

Each command is a thin layer over a plain function (``distill``, ``build_pairs``,
``build_silver``, ``decontaminate``, :func:`run_demo`); only typer is imported at module level.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import typer

from cotforge.errors import UsageError


def _kv(specs: List[str] | None, option: str) -> dict[str, Any]:
    """``["batch_size=8", "dtype=float32"]`` -> dict; values are JSON when they parse (8, true, "x")."""
    out: dict[str, Any] = {}
    for spec in specs or ():
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {spec!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


@contextlib.contextmanager
def distill_progress(enabled: bool | None) -> Iterator[Callable[[Any], None] | None]:
    """A rich bar over prompts showing acceptance rate and tokens/s (stderr; off when not a terminal)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]distill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("distill", total=None, info="")

        def update(p: Any) -> None:
            bar.update(
                task, total=p.total_prompts or None, completed=p.skipped_prompts + p.prompts,
                info=f"accepted {p.acceptance_rate:.1%} | {p.tokens_per_s:,.0f} tok/s | errors {p.errors}",
            )

        yield update


def _preset_help() -> str:
    from cotforge.datagen.presets import PRESETS

    lines = []
    for p in PRESETS.values():
        notes = " ".join(p.notes)
        lines.append(f"{p.name}: {p.description}" + (f" Note: {notes}" if notes else ""))
    return "Recipe preset. " + " | ".join(lines)


PRESET_HELP = _preset_help()


def register(app: typer.Typer) -> None:
    """Add the datagen commands to the ``cotforge`` app."""

    @app.command("distill")
    def distill_cmd(
        input: str = typer.Option(..., "--input", "-i", help="cotforge dataset folder, Parquet/JSONL file, or Hub dataset id."),
        out: str = typer.Option(..., "--out", "-o", help="Output dataset folder."),
        backend: str = typer.Option(..., "--backend", help="hf, openai, vllm or replay."),
        model: Optional[str] = typer.Option(None, "--model", help="Teacher model (path or id); for replay, the recorded completions. Default: the preset's."),
        preset: Optional[str] = typer.Option(None, "--preset", help=PRESET_HELP),
        config: Optional[str] = typer.Option(None, "--config", help="Config of an input cotforge dataset / Hub dataset; several comma-separated (e.g. 3ppl,4ppl,5ppl,6ppl,7ppl) are read one after another into one run."),
        split: Optional[str] = typer.Option(None, "--split", help="Split of the input (default: train)."),
        column: List[str] = typer.Option([], "--column", help="Column mapping FIELD=COLUMN for problem, answer, domain, prompt (repeatable)."),
        domain: Optional[str] = typer.Option(None, "--domain", help="Domain of rows without a domain column (default: the preset's, else math)."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N input rows (of each --config)."),
        keep_column: List[str] = typer.Option([], "--keep-column", help="Input column to carry into every row's `metadata` (repeatable), e.g. level, subject, an id."),
        sft_formats: Optional[str] = typer.Option(None, "--sft-formats", help="SFT configs besides `accepted` (messages): prompt_completion, text (comma-separated). Default: the preset's, else prompt_completion."),
        sft_token_budget: Optional[int] = typer.Option(None, "--sft-token-budget", help="Stop sampling once the accepted completions hold this many tokens (needs token counts: --tokenizer where the backend reports none)."),
        n: Optional[int] = typer.Option(None, "--n", help="Candidates per prompt (N)."),
        temperature: Optional[float] = typer.Option(None, "--temperature"),
        top_p: Optional[float] = typer.Option(None, "--top-p"),
        top_k: Optional[int] = typer.Option(None, "--top-k", help="-1: off."),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Max new tokens per completion."),
        stop: List[str] = typer.Option([], "--stop", help="Stop string (repeatable; kept in the text)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed (default: 0)."),
        keep: Optional[str] = typer.Option(None, "--keep", help="correct (keep-k-correct) or all (keep wrong traces too)."),
        max_per_prompt: Optional[int] = typer.Option(None, "--max-per-prompt", help="Keep at most k per prompt."),
        finish: Optional[str] = typer.Option(None, "--finish", help="Accepted finish reasons, e.g. 'stop' or 'stop,length'."),
        min_tokens: Optional[int] = typer.Option(None, "--min-tokens", help="Reject completions shorter than this."),
        max_completion_tokens: Optional[int] = typer.Option(None, "--max-completion-tokens", help="Reject completions longer than this."),
        system: Optional[str] = typer.Option(None, "--system", help="System prompt (overrides the preset's)."),
        user_template: Optional[str] = typer.Option(None, "--user-template", help="User message with {problem} (overrides the preset's)."),
        verifier: List[str] = typer.Option([], "--verifier", help="DOMAIN=VERIFIER override (repeatable)."),
        verifier_opt: List[str] = typer.Option([], "--verifier-opt", help="VERIFIER.KEY=VALUE option (repeatable), e.g. kk.scoring=exact."),
        backend_opt: List[str] = typer.Option([], "--backend-opt", help="Backend option KEY=VALUE (repeatable), e.g. batch_size=8."),
        tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="Tokenizer for exact think/answer token counts."),
        engine: str = typer.Option("local", "--engine", help="local or ray."),
        workers: int = typer.Option(1, "--workers", help="Ray workers (one backend each)."),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs per Ray worker (1 for one vLLM replica per GPU)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Connect to a running Ray cluster."),
        batch_prompts: int = typer.Option(16, "--batch-prompts", help="Prompts per generate call (vllm: at least 256, its continuous batching works inside one call; openai: prompts are submitted one by one, up to max_concurrency in flight)."),
        shard_prompts: Optional[int] = typer.Option(None, "--shard-prompts", help="Prompts per `all` shard, the unit a kill can lose (default: min(64, 1024 / N))."),
        retries: int = typer.Option(2, "--retries", help="Retries of a failed generation request before it is recorded as an error (backends that retry themselves, e.g. openai, keep their own default when it is higher)."),
        max_error_rate: float = typer.Option(0.01, "--max-error-rate", help="Stop (exit 1, nothing of the shard committed; rerun to resume) when more than this share of a shard's completions are failed requests."),
        retry_errors: bool = typer.Option(False, "--retry-errors", help="On a finished dataset of the same build: ask the teacher again for its failed generations only, and replace it."),
        name: str = typer.Option("cotforge-distill", "--name", help="Dataset name in the manifest and card."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different build in --out."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ):
        """Sample N candidates per prompt from a teacher, grade them, keep the good ones (resumable)."""
        from cotforge.datagen.distill import config_from_preset, distill, rebuild_command
        from cotforge.datagen.distill.config import TeacherFailed
        from cotforge.datagen.inputs import (
            PROBLEM_FIELDS, check_out_apart, family_defaults, load_problems, open_input, parse_column_map,
        )
        from cotforge.datagen.presets import get_preset

        p = get_preset(preset)
        if limit is not None and limit < 1:
            raise UsageError(f"--limit {limit}: must be >= 1 (omit it to use every input row)")
        if n is not None and n < 1:
            raise UsageError(f"--n {n}: must be >= 1 (candidates per prompt)")
        columns = parse_column_map(column, PROBLEM_FIELDS)
        template = p.template.to_dict()
        if system is not None:
            template["system"] = system or None
        if user_template is not None:
            if "{problem}" not in user_template:
                raise UsageError("--user-template: must contain {problem}")
            template["user"] = user_template
        verifier_options: dict[str, dict[str, Any]] = {}
        for k, v in _kv(verifier_opt, "--verifier-opt").items():
            vname, dot, key = k.partition(".")
            if not dot:
                raise UsageError(f"--verifier-opt {k}: expected VERIFIER.KEY=VALUE")
            verifier_options.setdefault(vname, {})[key] = v
        cfg = config_from_preset(
            preset, backend=backend, model=model,
            sampling={"n": n, "temperature": temperature, "top_p": top_p, "top_k": top_k, "max_tokens": max_tokens,
                      "stop": list(stop) or None, "seed": seed},
            keep=keep, max_per_prompt=max_per_prompt, finish_reasons=_csv(finish),
            min_completion_tokens=min_tokens, max_completion_tokens=max_completion_tokens,
            template=template, verifiers={k: str(v) for k, v in _kv(verifier, "--verifier").items()} or None,
            verifier_options=verifier_options or None, backend_options=_kv(backend_opt, "--backend-opt") or None,
            token_counter=tokenizer, shard_prompts=shard_prompts,
            sft_formats=("messages", *(f for f in _csv(sft_formats) if f != "messages")) if sft_formats is not None else None,
            sft_token_budget=sft_token_budget, metadata_columns=tuple(keep_column) or None,
        )
        cfg.validate()
        check_out_apart(out, [input])
        configs = list(_csv(config) or ()) or [None]
        sources = [open_input(input, config=c, split=split) for c in configs]
        src = sources[0]
        family_columns, family_domain = family_defaults(src)
        if not columns and family_columns:  # e.g. a cotforge K&K dataset: quiz + R1 prompt, kk verifier
            columns = dict(family_columns)
            if preset is not None or system is not None or user_template is not None:
                # a prompt format was asked for: honour it rather than the dataset's own prompt column
                columns.pop("prompt", None)
        dom = domain or family_domain or p.domain
        problems = [p for source in sources
                    for p in load_problems(source, columns, default_domain=dom, limit=limit, keep_columns=keep_column)]
        t0 = time.perf_counter()
        try:
            with distill_progress(None if progress else False) as on_progress:
                manifest = distill(
                    problems, out, cfg, engine=engine, workers=workers, batch_prompts=batch_prompts, retries=retries,
                    overwrite=overwrite, inputs=[source.record for source in sources], name=name, on_progress=on_progress,
                    command=rebuild_command(out, cfg, input, columns, dom, limit, config, split),
                    ray_options={"address": ray_address, "gpus_per_worker": gpus_per_worker} if engine == "ray" else None,
                    max_error_rate=max_error_rate, retry_errors=retry_errors,
                )
        except TeacherFailed as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        s = manifest["stats"]
        failed = int(s["finish_reasons"].get("error", 0))
        sft = "unknown" if s["accepted"] and s["sft_tokens_unknown"] == s["accepted"] else f"{s['sft_tokens']:,}"
        typer.echo(
            f"wrote {s['completions']:,} completions for {s['prompts']:,} prompts to {out}: {s['accepted']:,} accepted "
            f"({s['acceptance_rate']:.1%}), {failed:,} failed to generate, {sft} SFT tokens, "
            f"{time.perf_counter() - t0:.1f}s"
        )
        if s["sft_tokens_unknown"] and not cfg.token_counter:
            typer.echo(f"note: {s['sft_tokens_unknown']:,} accepted completions have no token count (the {backend} "
                       f"backend reported none), so SFT tokens leave them out; pass --tokenizer <the teacher's "
                       f"tokenizer> to count them (a new build: add --overwrite)")
        if s["run"]["prompts_resumed"]:
            typer.echo(f"resumed: {s['run']['prompts_resumed']:,} prompts were already committed")
        for note in manifest["notes"]:
            typer.echo(f"note: {note}")
        typer.echo(f"content hash {manifest['content_hash']}")
        if failed:
            top = s["top_errors"][0] if s["top_errors"] else {"error": "unknown", "count": failed}
            if failed == s["completions"]:
                typer.echo(f"error: every completion failed to generate ({failed:,} of {failed:,}); "
                           f"{top['error']}", err=True)
                raise typer.Exit(1)
            typer.echo(f"warning: {failed:,} completions failed to generate (kept in `all` with the reason); "
                       f"most often ({top['count']:,}): {top['error']}; rerun with --retry-errors to ask again "
                       f"for them", err=True)

    @app.command("pairs")
    def pairs_cmd(
        input: List[str] = typer.Option(..., "--input", "-i", help="Distill dataset (its `all` config) or rollout file (repeatable)."),
        out: str = typer.Option(..., "--out", "-o", help="Output dataset folder."),
        strategy: str = typer.Option("shortest_longest", "--strategy", help="random, shortest_longest or margin."),
        max_per_prompt: int = typer.Option(1, "--max-per-prompt", help="At most this many pairs per prompt."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random strategy."),
        rejected_status: str = typer.Option("incorrect", "--rejected-status", help="Verdicts usable as rejected, e.g. 'incorrect,no_answer'."),
        min_margin: int = typer.Option(0, "--min-margin", help="Minimum length difference, in tokens (characters for pairs whose sides lack token counts)."),
        reuse: bool = typer.Option(True, "--reuse/--no-reuse", help="Let a completion appear in several pairs to fill the cap."),
        name: str = typer.Option("cotforge-pairs", "--name"),
        overwrite: bool = typer.Option(False, "--overwrite"),
    ):
        """DPO pairs: a correct and an incorrect completion for the same prompt (TRL preference format)."""
        from cotforge.datagen.pairs import PairsConfig, build_pairs

        cfg = PairsConfig(strategy=strategy, max_per_prompt=max_per_prompt, seed=seed,
                          rejected_statuses=_csv(rejected_status) or (), reuse=reuse, min_margin=min_margin)
        manifest = build_pairs(input, out, cfg, overwrite=overwrite, name=name)
        s = manifest["stats"]
        typer.echo(f"wrote {s['pairs']:,} pairs from {s['prompts_with_pairs']:,} of {s['prompts']:,} prompts to {out}")
        typer.echo(f"content hash {manifest['content_hash']}")
        if not s["pairs"]:  # an empty preference set is never what was asked for
            typer.echo(
                f"error: no pairs: of {s['prompts']:,} prompts, {s['prompts_without_correct']:,} have no correct "
                f"completion, {s['prompts_without_rejected']:,} none with status {rejected_status!r} and "
                f"{s['prompts_without_either']:,} neither" + (f" (or none with a length margin >= {min_margin})"
                                                              if min_margin else ""), err=True)
            raise typer.Exit(1)

    @app.command("silver")
    def silver_cmd(
        input: str = typer.Option(..., "--input", "-i", help="Web rows: Parquet/JSONL file, cotforge dataset or Hub id."),
        out: str = typer.Option(..., "--out", "-o"),
        config: Optional[str] = typer.Option(None, "--config"),
        split: Optional[str] = typer.Option(None, "--split"),
        column: List[str] = typer.Option([], "--column", help="FIELD=COLUMN for question, solution, answer (repeatable)."),
        limit: Optional[int] = typer.Option(None, "--limit"),
        extractor: str = typer.Option("rules", "--extractor", help="rules, model or rules_then_model."),
        extractor_backend: Optional[str] = typer.Option(None, "--extractor-backend"),
        extractor_model: Optional[str] = typer.Option(None, "--extractor-model"),
        teacher_samples: int = typer.Option(0, "--teacher-samples", help="k teacher samples per prompt (0: no teacher filter)."),
        teacher_min_agree: int = typer.Option(1, "--teacher-min-agree"),
        teacher_backend: Optional[str] = typer.Option(None, "--teacher-backend", help="hf, openai, vllm or replay (required with --teacher-samples)."),
        teacher_model: Optional[str] = typer.Option(None, "--teacher-model", help="Model the teacher backend serves or loads (required with --teacher-samples)."),
        teacher_temperature: float = typer.Option(0.7, "--teacher-temperature"),
        teacher_max_tokens: int = typer.Option(4096, "--teacher-max-tokens"),
        backend_opt: List[str] = typer.Option([], "--backend-opt", help="Backend option KEY=VALUE (repeatable)."),
        max_answer_chars: int = typer.Option(60, "--max-answer-chars"),
        max_answer_words: int = typer.Option(6, "--max-answer-words"),
        instruction: Optional[str] = typer.Option(None, "--instruction", help="Appended to the question in the prompt ('' for none)."),
        dedupe: bool = typer.Option(True, "--dedupe/--no-dedupe"),
        max_error_rate: float = typer.Option(0.01, "--max-error-rate", help="Stop (exit 1, the chunk not committed; rerun to resume) when more than this share of a chunk's model calls failed."),
        name: str = typer.Option("cotforge-silver", "--name"),
        overwrite: bool = typer.Option(False, "--overwrite"),
    ):
        """Noisy web Q&A -> RL problems with short verifiable answers; every drop kept with its reason."""
        from cotforge.datagen.inputs import check_out_apart, open_input, parse_column_map
        from cotforge.datagen.silver import DEFAULT_INSTRUCTION, SilverConfig, build_silver

        cfg = SilverConfig(
            extractor=extractor, max_answer_chars=max_answer_chars, max_answer_words=max_answer_words,
            instruction=DEFAULT_INSTRUCTION if instruction is None else instruction, dedupe=dedupe,
            teacher_samples=teacher_samples, teacher_min_agree=teacher_min_agree,
            extractor_backend=extractor_backend, extractor_model=extractor_model,
            teacher_backend=teacher_backend, teacher_model=teacher_model,
            teacher_sampling={"temperature": teacher_temperature, "max_tokens": teacher_max_tokens},
            backend_options=_kv(backend_opt, "--backend-opt") or None,
        )
        cfg.validate()
        cfg.check_backends()
        columns = parse_column_map(column, ("question", "solution", "answer"))
        check_out_apart(out, [input])
        from cotforge.datagen.distill.config import TeacherFailed

        if limit is not None and limit < 1:
            raise UsageError(f"--limit {limit}: must be >= 1 (omit it to use every input row)")
        src = open_input(input, config=config, split=split)
        try:
            manifest = build_silver(src, out, cfg, columns=columns, limit=limit, overwrite=overwrite, name=name,
                                    max_error_rate=max_error_rate)
        except TeacherFailed as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        s = manifest["stats"]
        typer.echo(f"kept {s['kept']:,} of {s['input_rows']:,} rows ({s['keep_rate']:.1%}) in {out}")
        for code, count in s["drop_reasons"].items():
            typer.echo(f"  dropped {count:,}: {code}")
        typer.echo(f"content hash {manifest['content_hash']}")

    @app.command("decontam")
    def decontam_cmd(
        input: str = typer.Option(..., "--input", "-i", help="cotforge dataset folder to check."),
        out: str = typer.Option(..., "--out", "-o", help="Output dataset folder (flagged or filtered copy)."),
        ngram: int = typer.Option(8, "--ngram", help="Word n-gram length (8: 97% of injected MATH-500 items caught vs 70% at 13, 0.08% false positives on GSM8K; bench/decontam_bench.py)."),
        min_ngram: Optional[int] = typer.Option(None, "--min-ngram", help="Lower n for benchmarks of short items (5th percentile), not below this (default: off)."),
        benchmark: List[str] = typer.Option([], "--benchmark", help="Benchmarks to check (repeatable or comma-separated) (default: all)."),
        completions: bool = typer.Option(False, "--completions", help="Check completion text too."),
        mode: str = typer.Option("flag", "--mode", help="flag (add columns) or drop (move contaminated rows out)."),
        column: List[str] = typer.Option([], "--column", help="Text columns to check (repeatable) (default: known prompt columns)."),
        min_coverage: Optional[float] = typer.Option(None, "--min-coverage", help="Share of an item's n-grams a row must hold (default: any one; K&K 0.5)."),
        data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Benchmark data (default: $COTFORGE_SHARED_DATA or <repo>/../shared/data)."),
        overwrite: bool = typer.Option(False, "--overwrite"),
    ):
        """Flag or drop rows sharing an n-gram with any known benchmark (DuckDB over the shards)."""
        from cotforge.datagen.decontam import BENCHMARKS, DecontamConfig, decontaminate

        names = tuple(b for spec in benchmark for b in (_csv(spec) or ())) or tuple(BENCHMARKS)
        cfg = DecontamConfig(ngram=ngram, min_ngram=ngram if min_ngram is None else min_ngram, benchmarks=names,
                             completions=completions, mode=mode, columns=tuple(column), min_coverage=min_coverage)
        manifest = decontaminate(input, out, cfg, data_dir=data_dir, overwrite=overwrite)
        report = manifest["stats"]["decontam"]
        typer.echo(f"{report['contaminated_rows']:,} contaminated rows ({mode}) -> {out}")
        for key, s in report["splits"].items():
            by = ", ".join(f"{b} {c:,}" for b, c in s["by_benchmark"].items()) or "none"
            typer.echo(f"  {key}: {s['contaminated']:,} of {s['rows']:,} ({by})")
        for b, info in report["benchmarks"].items():
            if "error" in info:
                typer.echo(f"  {b}: {info['error']}")

    @app.command("demo")
    def demo_cmd(
        out: str = typer.Option(..., "--out", "-o", help="Folder for the demo's model and datasets."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace datasets from an earlier demo with other settings."),
    ):
        """K&K build -> distill (tiny local model, CPU) -> pairs -> decontam, in about a minute (decontam
        needs the offline benchmark data; without it the demo says so and skips that stage)."""
        run_demo(out, overwrite=overwrite, echo=typer.echo)


# ------------------------------------------------------------------------------------------ demo

DEMO_TEACHER = "constructed-cot (cotforge K&K solver narration)"
#: The demo model's context: the constructed-CoT teacher's 3-person conversations run to about
#: 2,600 of its tokens, past the tiny model's default 2,048.
DEMO_CONTEXT = 4096


def _longest_conversation(dataset: Path, model_dir: Path) -> int:
    """Tokens of the longest accepted conversation of ``dataset``, rendered with the model's chat template."""
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from cotforge.store.manifest import manifest_shards, read_manifest

    tok = AutoTokenizer.from_pretrained(model_dir)
    longest = 0
    for s in manifest_shards(read_manifest(dataset)).get("accepted/train", []):
        for messages in pq.read_table(dataset / s.path, columns=["messages"]).column("messages").to_pylist():
            text = tok.apply_chat_template(messages, tokenize=False)
            longest = max(longest, len(tok(text, add_special_tokens=False)["input_ids"]))
    return longest


def _teacher_records(kk_dir: Path, problems: list[Any], cfg: Any, path: Path) -> None:
    """Replay records that answer each K&K prompt with its constructed CoT: a known-correct teacher."""
    import pyarrow.parquet as pq

    from cotforge.datagen.distill import make_items
    from cotforge.store.manifest import manifest_shards, read_manifest

    shards = manifest_shards(read_manifest(kk_dir))["3ppl/train"]
    cots = {}
    for s in shards:
        t = pq.read_table(kk_dir / s.path, columns=["quiz", "cot", "answer"])
        for quiz, cot, answer in zip(*(t.column(c).to_pylist() for c in ("quiz", "cot", "answer"))):
            cots[quiz] = (cot, answer)
    items, _ = make_items(problems, cfg)
    with open(path, "w", encoding="utf-8") as fh:
        for it in items:
            cot, answer = cots[it.problem]
            text = f"<think>\n{cot.strip()}\n</think>\n<answer>\n{answer}\n</answer>"
            fh.write(json.dumps({"prompt_id": it.prompt_id, "sample_index": 0, "completion": text,
                                 "finish_reason": "stop", "model": DEMO_TEACHER}) + "\n")


def run_demo(out: str | Path, *, overwrite: bool = False, echo: Callable[[str], None] = print,
             train: int = 12, samples: int = 4, max_tokens: int = 48,
             data_dir: str | Path | None = None) -> dict[str, Any]:
    """The end-to-end demo on CPU; returns the manifests of the datasets it wrote.

    ``data_dir``: the offline benchmark folder for the decontam stage (default: $COTFORGE_SHARED_DATA
    or ``<repo>/../shared/data``). It is checked before anything is built; without it the demo
    skips decontam with a note (``"decontam"`` is then None) instead of failing at the end.
    """
    from cotforge.datagen.decontam import DecontamConfig, decontaminate, shared_data_dir
    from cotforge.datagen.distill import config_from_preset, distill, rebuild_command
    from cotforge.datagen.inputs import load_problems, open_input
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk
    from cotforge.datagen.pairs import PairsConfig, build_pairs
    from cotforge.testing.tiny_model import build_tiny_model

    try:  # transformers' own progress bars would interleave with the demo's lines
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the hf backend reports the missing extra itself
        pass
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder; the demo writes several datasets into a folder")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--out {out}: {parent} is a file, not a folder")
    bench_dir = Path(data_dir) if data_dir is not None else shared_data_dir()
    has_benchmarks = bench_dir.is_dir()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    echo("cotforge demo: the tiny model below is essentially untrained (a ~100k-parameter model fit for a few "
         "seconds to toy arithmetic, never to K&K): its answers are noise. The point is the plumbing - every "
         "stage writes a real dataset with a manifest and a card.")
    if not has_benchmarks:
        echo(f"note: benchmark data folder {bench_dir} not found, so the decontam stage will be skipped "
             "(set COTFORGE_SHARED_DATA to the offline benchmark folder to include it).")

    model_dir = build_tiny_model(out / "tiny-model", max_position_embeddings=DEMO_CONTEXT)
    echo(f"[1/5] tiny model and tokenizer built locally in {model_dir} ({DEMO_CONTEXT:,}-token context)")

    kk = build_kk(out / "kk", KKBuildConfig(people=(3,), train=train, test=4, seed=0), overwrite=overwrite)
    echo(f"[2/5] K&K puzzles: {sum(e['rows'] for e in kk['splits'].values())} in {out / 'kk'}")

    src = open_input(out / "kk", config="3ppl", split="train")
    problems = load_problems(src, {"problem": "quiz", "prompt": "prompt"}, default_domain="kk")

    common = dict(sampling={"n": samples, "max_tokens": max_tokens, "seed": 0}, keep="all", finish_reasons=("stop", "length"))
    student_cfg = config_from_preset("kk-warmup", backend="hf", model=str(model_dir),
                                     backend_options={"batch_size": 16}, **common)
    columns = {"problem": "quiz", "prompt": "prompt"}

    def command(name: str, cfg: Any) -> str:
        return rebuild_command(out / name, cfg, str(out / "kk"), columns, "kk", None, "3ppl", "train")

    student = distill(problems, out / "distill-tiny", student_cfg, inputs=[src.record], overwrite=overwrite,
                      command=command("distill-tiny", student_cfg))
    s = student["stats"]
    echo(f"[3/5] distill with the tiny model (hf backend): {s['completions']} completions, {s['statuses']}")

    records = out / "constructed-cot-teacher.jsonl"
    teacher_cfg = config_from_preset("kk-warmup", backend="replay", model=str(records),
                                     sampling={"n": 1, "seed": 0}, keep="correct")
    _teacher_records(out / "kk", problems, teacher_cfg, records)
    teacher = distill(problems, out / "distill-teacher", teacher_cfg, inputs=[src.record], overwrite=overwrite,
                      command=command("distill-teacher", teacher_cfg))
    t = teacher["stats"]
    echo(f"      + a known-correct 'teacher' replayed from the puzzles' constructed CoT (the `cot` column, "
         f"served by the replay backend): {t['accepted']} of {t['completions']} accepted")
    longest = _longest_conversation(out / "distill-teacher", model_dir)
    if longest > DEMO_CONTEXT:
        echo(f"      warning: the longest teacher conversation has {longest:,} tiny-model tokens, more than its "
             f"{DEMO_CONTEXT:,}-token context: SFT/DPO on the tiny model would truncate it")
    else:
        echo(f"      the longest teacher conversation (prompt + trace) has {longest:,} tiny-model tokens: it fits the "
             f"{DEMO_CONTEXT:,}-token context, so the tiny model can train on every row")

    pairs = build_pairs([out / "distill-teacher", out / "distill-tiny"], out / "pairs",
                        PairsConfig(strategy="shortest_longest", max_per_prompt=2,
                                    rejected_statuses=("incorrect", "no_answer", "truncated")),
                        overwrite=overwrite)
    p = pairs["stats"]
    echo(f"[4/5] DPO pairs: {p['pairs']} pairs (chosen: constructed CoT; rejected: the tiny model's wrong, "
         f"answerless or truncated samples) from {p['prompts_with_pairs']} prompts")

    written = ["kk", "distill-tiny", "distill-teacher", "pairs"]
    if has_benchmarks:
        dec = decontaminate(out / "pairs", out / "pairs-decontam", DecontamConfig(), data_dir=bench_dir,
                            overwrite=overwrite)
        r = dec["stats"]["decontam"]
        echo(f"[5/5] decontam ({DecontamConfig().ngram}-grams and exact text vs {len(r['benchmarks'])} benchmarks): {r['contaminated_rows']} of "
             f"{sum(v['rows'] for v in r['splits'].values())} pair rows match a benchmark item "
             f"({', '.join(f'{b} {n}' for v in r['splits'].values() for b, n in v['by_benchmark'].items()) or 'none'})")
        written.append("pairs-decontam")
    else:
        dec = None
        echo(f"[5/5] decontam skipped: no benchmark data at {bench_dir}")
    echo(f"done in {time.perf_counter() - t0:.0f}s. Datasets (each with README.md card and manifest.json): "
         + ", ".join(str(out / d) for d in written))
    echo(f"try: cotforge query {out / 'distill-tiny'} \"SELECT status, count(*) FROM all_train GROUP BY 1\"")
    return {"kk": kk, "distill_tiny": student, "distill_teacher": teacher, "pairs": pairs, "decontam": dec}
