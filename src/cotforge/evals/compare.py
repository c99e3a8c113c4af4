"""``compare``: the paired difference of two runs on the questions both answered (Miller 2024).

Pairing removes the between-question variance two runs share, so the interval of A - B is much
narrower than the two separate intervals suggest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.evals.metrics import paired_difference
from cotforge.evals.results import load_results, question_scores


def compare_runs(a: str | Path, b: str | Path, *, benches: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    ra, rb = load_results(a), load_results(b)
    shared = [n for n in ra["benchmarks"] if n in rb["benchmarks"]]
    if benches:
        missing = [n for n in benches if n not in shared]
        if missing:
            raise UsageError(f"--bench {', '.join(missing)}: not in both runs (shared: {', '.join(shared) or 'none'})")
        shared = list(benches)
    if not shared:
        raise UsageError(f"{a} and {b} share no benchmark")
    out: dict[str, Any] = {"a": {"run": str(a), "model": ra["model"]}, "b": {"run": str(b), "model": rb["model"]}, "benchmarks": {}}
    for name in shared:
        qa, qb = question_scores(a, name), question_scores(b, name)
        try:
            d = paired_difference(qa, qb, seed=seed).to_dict()
        except ValueError:
            raise UsageError(f"{name}: the two runs share no question") from None
        d["only_in_a"] = len(set(qa) - set(qb))
        d["only_in_b"] = len(set(qb) - set(qa))
        out["benchmarks"][name] = d
    return out


def markdown(cmp: dict[str, Any]) -> str:
    lines = [
        f"A = {cmp['a']['model']} ({cmp['a']['run']}), B = {cmp['b']['model']} ({cmp['b']['run']})",
        "",
        "| benchmark | questions | A (%) | B (%) | A - B | ± s.e. | 95% CI | bootstrap 95% CI |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, d in cmp["benchmarks"].items():
        lines.append(
            f"| {name} | {d['questions']} | {100 * d['mean_a']:.1f} | {100 * d['mean_b']:.1f} | {100 * d['difference']:+.1f} | "
            f"{100 * d['stderr']:.1f} | [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}] | "
            f"[{100 * d['bootstrap_ci95'][0]:+.1f}, {100 * d['bootstrap_ci95'][1]:+.1f}] |"
        )
    return "\n".join(lines)
