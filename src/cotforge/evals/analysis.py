"""What the long-CoT study measures on a run: response, think and answer lengths (overall and for
correct vs incorrect samples), truncation rate, reflection words per 1k tokens and branching
("alternatively,"). Works on the small columns of a run's rows, never on the response texts."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

COLUMNS = ("correct", "finish_reason", "completion_tokens", "think_tokens", "answer_tokens", "reflection", "branching")


def length_of(table: pa.Table) -> list[int]:
    """Per-sample response length in tokens (think + answer: defined even when the backend
    reported no completion count)."""
    t = table.column("think_tokens").to_pylist()
    a = table.column("answer_tokens").to_pylist()
    return [int(x or 0) + int(y or 0) for x, y in zip(t, a)]


def summarize_samples(table: pa.Table) -> dict[str, Any]:
    """The study's measures over a run's rows: :func:`~cotforge.datagen.reasoning_stats.summarize`
    (computed here with pyarrow, same SQL semantics: averages skip nulls, a null comparison counts
    as no) plus truncation, branching and the correct/incorrect split. A run summarises each of
    its benchmarks, and a DuckDB connection with its queries cost ~40 ms a benchmark;
    ``tests/evals/test_analysis.py`` checks this against the DuckDB queries."""
    import pyarrow.compute as pc

    from cotforge.datagen.reasoning_stats import REFLECTION_WORDS

    n = table.num_rows
    think, answer = table.column("think_tokens"), table.column("answer_tokens")
    tokens = _sum(pc.add(think, answer))
    out: dict[str, Any] = {
        "completions": n,
        "mean_think_tokens": _mean(think) or 0.0,
        "mean_answer_tokens": _mean(answer) or 0.0,
        "share_with_think": _share(pc.greater(think, 0), n),
        "reflection": {},
    }
    reflection = table.column("reflection")
    for w in REFLECTION_WORDS:
        counts = pc.struct_field(reflection, w)
        out["reflection"][w] = {
            "mean": _mean(counts) or 0.0,
            "per_1k_tokens": 1000.0 * float(_sum(counts) or 0) / float(tokens) if tokens else 0.0,
            "share": _share(pc.greater(counts, 0), n),
        }
    out["truncation_rate"] = _share(pc.equal(table.column("finish_reason"), "length"), n)
    branch = _sum(table.column("branching"))
    out["branching_per_1k_tokens"] = 1000.0 * float(branch or 0) / float(tokens) if tokens else 0.0
    out["mean_response_tokens"] = out["mean_think_tokens"] + out["mean_answer_tokens"]
    correct = table.column("correct")
    for label, mask in (("correct", correct), ("incorrect", pc.invert(correct))):
        part = table.filter(pc.fill_null(mask, False))
        out[f"{label}_samples"] = part.num_rows
        out[f"mean_response_tokens_{label}"] = _mean(pc.add(part.column("think_tokens"), part.column("answer_tokens")))
        out[f"mean_think_tokens_{label}"] = _mean(part.column("think_tokens"))
    return out


def _sum(values) -> int | float | None:
    import pyarrow.compute as pc

    return pc.sum(values).as_py()  # None over no non-null value, as SQL's sum


def _mean(values) -> float | None:
    import pyarrow.compute as pc

    count = pc.count(values).as_py()
    return float(_sum(values)) / count if count else None


def _share(flags, n: int) -> float:
    """Share of ``n`` rows whose flag is true (a null flag counts as false, as SQL's CASE WHEN)."""
    import pyarrow.compute as pc

    return int(pc.sum(pc.fill_null(flags, False).cast("int64")).as_py() or 0) / n if n else 0.0
