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
    import duckdb

    from cotforge.datagen.reasoning_stats import summarize

    con = duckdb.connect()
    try:
        con.register("samples", table.select(list(COLUMNS)))
        out = summarize(con, "samples")
        n, trunc, branch, tokens = con.execute(
            "SELECT count(*), avg(CASE WHEN finish_reason = 'length' THEN 1.0 ELSE 0.0 END), sum(branching), "
            "sum(think_tokens + answer_tokens) FROM samples"
        ).fetchall()[0]
        out["truncation_rate"] = float(trunc or 0.0)
        out["branching_per_1k_tokens"] = 1000.0 * float(branch or 0) / float(tokens) if tokens else 0.0
        out["mean_response_tokens"] = out["mean_think_tokens"] + out["mean_answer_tokens"]
        for label, where in (("correct", "correct"), ("incorrect", "NOT correct")):
            row = con.execute(
                f"SELECT count(*), avg(think_tokens + answer_tokens), avg(think_tokens) FROM samples WHERE {where}"
            ).fetchall()[0]
            out[f"{label}_samples"] = int(row[0] or 0)
            out[f"mean_response_tokens_{label}"] = float(row[1]) if row[1] is not None else None
            out[f"mean_think_tokens_{label}"] = float(row[2]) if row[2] is not None else None
        return out
    finally:
        con.close()
