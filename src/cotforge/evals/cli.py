"""``cotforge eval run | rescore | report | leaderboard | compare``."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from cotforge.datagen.cli import _kv  # KEY=VALUE flags read as datagen's commands read them
from cotforge.errors import UsageError

eval_app = typer.Typer(help="Evaluate models on the reasoning benchmarks; re-score, report, compare.", no_args_is_help=True)


def _verifier_opts(specs: List[str] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for k, v in _kv(specs, "--verifier-opt").items():
        name, dot, key = k.partition(".")
        if not dot or not name or not key:
            raise UsageError(f"--verifier-opt {k}: expected VERIFIER.KEY=VALUE (e.g. math.fallback=false)")
        out.setdefault(name, {})[key] = v
    return out


def _prompt_opt(specs: List[str] | None) -> str | dict[str, str] | None:
    if not specs:
        return None
    if len(specs) == 1 and "=" not in specs[0]:
        return specs[0]
    return {k: str(v) for k, v in _kv(specs, "--prompt").items()}


def _progress_bar(enabled: bool):
    """A rich bar per benchmark with tokens/s and the running score; a no-op off a terminal."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")

    @eval_app.command("run")
    def run_cmd(
        model: str = typer.Option(..., "--model", help="Model folder or id (for --backend replay: the recorded completions)."),
        bench: str = typer.Option(..., "--bench", help="Comma-separated benchmarks, e.g. math500,aime24."),
        out: Path = typer.Option(..., "--out", help="Run folder (resumed when it holds the same run)."),
        backend: str = typer.Option("hf", "--backend", help="hf, openai, vllm or replay (hf)."),
        n: Optional[int] = typer.Option(None, "--n", help="Samples per question (preset or 1)."),
        preset: Optional[str] = typer.Option(None, "--preset", help="warmup, long_cot, phi4_mini or greedy."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N questions of each benchmark (smoke run)."),
        data: List[str] = typer.Option([], "--data", help="BENCH=PATH (or BENCH=org/name@revision), repeatable."),
        temperature: Optional[float] = typer.Option(None, "--temperature"),
        top_p: Optional[float] = typer.Option(None, "--top-p"),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens"),
        seed: int = typer.Option(0, "--seed", help="Sampling seed (0)."),
        raw_prompt: bool = typer.Option(False, "--raw-prompt", help="Send the prompt text without the chat template (base models)."),
        prompt: List[str] = typer.Option([], "--prompt", help="Prompt template NAME, or BENCH=NAME (repeatable)."),
        backend_opt: List[str] = typer.Option([], "--backend-opt", help="Backend option KEY=VALUE (repeatable)."),
        verifier_opt: List[str] = typer.Option([], "--verifier-opt", help="VERIFIER.KEY=VALUE (repeatable)."),
        batch_questions: int = typer.Option(16, "--batch-questions", help="Questions per generation batch (16)."),
        verify_workers: Optional[int] = typer.Option(None, "--verify-workers", help="Verifier pool processes (CPU count)."),
        engine: str = typer.Option("local", "--engine", help="local, or ray: one backend per Ray worker (local)."),
        workers: int = typer.Option(1, "--workers", help="Ray workers with --engine ray (1)."),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs per Ray worker (0; 1 = one vLLM replica per GPU)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace a folder holding a different run."),
        progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (on a terminal)."),
        grade_in_workers: bool = typer.Option(False, "--grade-in-workers", help="Run all of verification in the verifier pool's processes (same verdicts)."),
        max_error_rate: float = typer.Option(0.01, "--max-error-rate", help="Stop (exit 1, nothing of the shard committed; rerun to resume) when more than this share of a shard's samples failed to generate."),
        retry_errors: bool = typer.Option(False, "--retry-errors", help="Once the run is finished, ask the model again for its failed generations only, and rewrite the run."),
    ):
        """Generate, grade and store every sample; prints the results table."""
        from cotforge.datagen.backends.failures import GenerationFailed
        from cotforge.evals.report import results_table
        from cotforge.evals.run import run_eval

        data_map = {k: str(v) for k, v in _kv(data, "--data").items()}
        command = "cotforge eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else None
        enabled = sys.stderr.isatty() if progress is None else progress
        with _progress_bar(enabled) as bar:
            tasks: dict[str, Any] = {}

            def on_progress(p) -> None:
                if bar is None:
                    return
                if p.benchmark not in tasks:
                    tasks[p.benchmark] = bar.add_task(p.benchmark, total=p.total_samples, info="")
                bar.update(tasks[p.benchmark], completed=p.done_samples,
                           info=f"{p.tokens_per_s:,.0f} tok/s  score {100 * p.score:.1f}%")

            try:
                results = run_eval(
                    model, bench, out, backend=backend, n=n, preset=preset, limit=limit, data=data_map or None,
                    temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                    chat_template=False if raw_prompt else None, backend_options=_kv(backend_opt, "--backend-opt") or None,
                    prompt=_prompt_opt(prompt), verifier_options=_verifier_opts(verifier_opt) or None,
                    overwrite=overwrite, batch_questions=batch_questions, verify_workers=verify_workers,
                    on_progress=on_progress, command=command, engine=engine, workers=workers,
                    ray_options={"gpus_per_worker": gpus_per_worker} if engine == "ray" else None,
                    grade_in_workers=grade_in_workers or None,
                    max_error_rate=max_error_rate, retry_errors=retry_errors,
                )
            except GenerationFailed as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
        typer.echo(results_table(results))
        if retry_errors:
            c = results["retried_errors"]
            typer.echo(f"retried {c['retried']:,} failed generations: {c['retried'] - c['still_failed']:,} generated, "
                       f"{c['still_failed']:,} failed again" if c["retried"] else "no failed generations to retry")
        typer.echo(f"run: {out}")

    @eval_app.command("rescore")
    def rescore_cmd(
        run: Path = typer.Argument(..., help="A finished eval run folder."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the regraded run here (default: replace RUN)."),
        verifier_opt: List[str] = typer.Option([], "--verifier-opt", help="VERIFIER.KEY=VALUE (repeatable)."),
        verify_workers: Optional[int] = typer.Option(None, "--verify-workers"),
        grade_in_workers: bool = typer.Option(False, "--grade-in-workers", help="Run all of verification in the verifier pool's processes (same verdicts)."),
    ):
        """Regrade saved samples with the current verifiers (no generation)."""
        from cotforge.evals.report import results_table
        from cotforge.evals.rescoring import rescore

        results = rescore(run, out=out, verifier_options=_verifier_opts(verifier_opt) or None, verify_workers=verify_workers,
                          grade_in_workers=grade_in_workers or None)
        typer.echo(results_table(results))

    @eval_app.command("report")
    def report_cmd(
        runs: List[Path] = typer.Argument(..., help="One or more eval run folders."),
        plots: Optional[Path] = typer.Option(None, "--plots", help="Write PNG plots under this folder (one subfolder per run)."),
    ):
        """Markdown tables (and PNG plots) of runs."""
        from cotforge.evals.report import markdown, plot_run
        from cotforge.evals.results import load_results

        for run in runs:
            results = load_results(run)
            typer.echo(markdown(results, f"{results['model']} ({run})"))
            if plots is not None:
                written = plot_run(run, results, plots / run.name)
                typer.echo("plots: " + ", ".join(str(p) for p in written) + "\n")

    @eval_app.command("leaderboard")
    def leaderboard_cmd(
        root: Path = typer.Argument(..., help="A folder holding eval runs (searched recursively)."),
        fmt: str = typer.Option("markdown", "--format", help="markdown or json."),
    ):
        """One table over many runs: models x benchmarks, avg@n [95% CI]."""
        from cotforge.evals.leaderboard import as_json, leaderboard, markdown

        if fmt not in ("markdown", "json"):
            raise UsageError(f"--format {fmt!r}: choose markdown or json")
        header, rows = leaderboard(root)
        typer.echo(markdown(header, rows) if fmt == "markdown" else json.dumps(as_json(header, rows), indent=2))

    @eval_app.command("compare")
    def compare_cmd(
        a: Path = typer.Argument(..., help="Run A."),
        b: Path = typer.Argument(..., help="Run B."),
        bench: Optional[str] = typer.Option(None, "--bench", help="Only these benchmarks (comma-separated)."),
        fmt: str = typer.Option("markdown", "--format", help="markdown or json."),
    ):
        """Paired difference A - B on shared questions, with standard error and CIs."""
        from cotforge.evals.compare import compare_runs, markdown

        if fmt not in ("markdown", "json"):
            raise UsageError(f"--format {fmt!r}: choose markdown or json")
        cmp = compare_runs(a, b, benches=[s.strip() for s in bench.split(",")] if bench else None)
        typer.echo(markdown(cmp) if fmt == "markdown" else json.dumps(cmp, indent=2))
