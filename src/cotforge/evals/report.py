"""Markdown tables and PNG plots of eval runs (matplotlib is imported only when plotting).

Plots per benchmark: pass@k (and maj@k) against k, accuracy by the first breakdown key (MATH
level, MMLU-Pro category, K&K people...), histograms of response length for correct vs incorrect
samples, and reflection words per 1k tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.errors import MissingExtraError


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def results_table(results: dict[str, Any]) -> str:
    """One row per benchmark: avg@n with its clustered standard error and bootstrap CI, pass@n, maj@n, rates."""
    lines = [
        "| benchmark | questions | n | avg@n (%) | ± s.e. | 95% CI | pass@n | maj@n | no answer | truncated | timeout | unparsable gold | error |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, b in results["benchmarks"].items():
        n = b["n"]
        r = b["rates"]
        lines.append(
            f"| {name} | {b['questions']} | {n} | {pct(b['avg@n'])} | {pct(b['stderr'])} | "
            f"[{pct(b['ci95'][0])}, {pct(b['ci95'][1])}] | {pct(b.get(f'pass@{n}'))} | {pct(b.get(f'maj@{n}'))} | "
            f"{pct(r['no_answer'])} | {pct(r['truncated'])} | {pct(r['timeout'])} | {pct(r['unparsable_gold'])} | {pct(r['error'])} |"
        )
    return "\n".join(lines)


def breakdown_tables(results: dict[str, Any]) -> str:
    parts = []
    for name, b in results["benchmarks"].items():
        for key, groups in b.get("breakdowns", {}).items():
            parts.append(f"**{name} by {key}**\n\n| {key} | questions | avg@n (%) | ± s.e. |\n|---|---:|---:|---:|")
            for value, g in groups.items():
                parts.append(f"| {value} | {g['questions']} | {pct(g['avg@n'])} | {pct(g['stderr'])} |")
            parts.append("")
    return "\n".join(parts)


def analysis_table(results: dict[str, Any]) -> str:
    words = ("wait", "recheck", "alternatively", "retry", "however")
    lines = [
        "| benchmark | mean tokens | correct | incorrect | think tokens | truncated | " + " | ".join(f"{w}/1k" for w in words) + " | branching/1k |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(words) + "---:|",
    ]
    for name, b in results["benchmarks"].items():
        a = b["analysis"]

        def num(x: Any) -> str:
            return "n/a" if x is None else f"{x:.0f}"

        lines.append(
            f"| {name} | {num(a['mean_response_tokens'])} | {num(a['mean_response_tokens_correct'])} | "
            f"{num(a['mean_response_tokens_incorrect'])} | {num(a['mean_think_tokens'])} | {pct(a['truncation_rate'])} | "
            + " | ".join(f"{a['reflection'][w]['per_1k_tokens']:.2f}" for w in words)
            + f" | {a['branching_per_1k_tokens']:.2f} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any], title: str | None = None) -> str:
    head = f"## {title}\n\n" if title else ""
    return (
        head + results_table(results) + "\n\nScores are percentages; s.e. is clustered by question, the CI a bootstrap "
        "over questions.\n\n" + breakdown_tables(results) + "\n" + analysis_table(results) + "\n"
    )


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "eval", "eval plots") from exc
    return plt


def plot_run(run_dir: str | Path, results: dict[str, Any], out_dir: str | Path | None = None,
             manifest: dict[str, Any] | None = None) -> list[Path]:
    """Write the PNG plots of one run (default: ``RUN/plots/``); returns their paths."""
    from cotforge.evals.analysis import length_of
    from cotforge.evals.results import bench_files, read_table

    plt = _pyplot()
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    for name, b in results["benchmarks"].items():
        if b["n"] > 1:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ks = [int(k) for k in b["pass@k"]]
            ax.plot(ks, [100 * v for v in b["pass@k"].values()], marker="o", label="pass@k")
            if "maj@k" in b:
                ax.plot(ks, [100 * v for v in b["maj@k"].values()], marker="s", label="maj@k")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("k")
            ax.set_ylabel("%")
            ax.set_title(f"{name}: pass@k")
            ax.legend()
            save(fig, f"{name}_pass_at_k.png")
        for key, groups in list(b.get("breakdowns", {}).items())[:1]:
            fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(groups) + 2), 3.5))
            ax.bar(list(groups), [100 * g["avg@n"] for g in groups.values()],
                   yerr=[100 * g["stderr"] for g in groups.values()], capsize=3)
            ax.set_ylabel("avg@n (%)")
            ax.set_title(f"{name}: accuracy by {key}")
            ax.tick_params(axis="x", rotation=45 if len(groups) > 6 else 0)
            save(fig, f"{name}_by_{key}.png")
        table = read_table(bench_files(run_dir, name, manifest), ("correct", "think_tokens", "answer_tokens"))
        lengths = length_of(table)
        correct = table.column("correct").to_pylist()
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for flag, label in ((True, "correct"), (False, "incorrect")):
            vals = [l for l, c in zip(lengths, correct) if bool(c) == flag]
            if vals:
                ax.hist(vals, bins=30, alpha=0.6, label=f"{label} ({len(vals)})")
        ax.set_xlabel("response tokens")
        ax.set_ylabel("samples")
        ax.set_title(f"{name}: response length")
        ax.legend()
        save(fig, f"{name}_lengths.png")
    words = ("wait", "recheck", "alternatively", "retry", "however")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(results["benchmarks"])
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        refl = results["benchmarks"][name]["analysis"]["reflection"]
        ax.bar([j + i * width for j in range(len(words))], [refl[w]["per_1k_tokens"] for w in words], width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(words))], words)
    ax.set_ylabel("per 1k tokens")
    ax.set_title("reflection words")
    ax.legend(fontsize=7)
    save(fig, "reflection_words.png")
    return written
