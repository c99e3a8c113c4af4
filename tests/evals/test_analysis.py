"""A run's length and reflection summary (``cotforge.evals.analysis``) against the same measures
as DuckDB SQL, the form the datagen cards use (``reasoning_stats.summarize``)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotforge.datagen.reasoning_stats import REFLECTION_WORDS, summarize
from cotforge.evals.analysis import COLUMNS, summarize_samples


def _by_sql(table: pa.Table) -> dict:
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


_maybe_int = st.one_of(st.none(), st.integers(0, 40_000))
_row = st.fixed_dictionaries({
    "correct": st.one_of(st.none(), st.booleans()),
    "finish_reason": st.sampled_from(["stop", "length", "error", None]),
    "completion_tokens": _maybe_int,
    "think_tokens": _maybe_int,
    "answer_tokens": _maybe_int,
    "reflection": st.fixed_dictionaries({w: st.integers(0, 50) for w in REFLECTION_WORDS}),
    "branching": _maybe_int,
})
_SCHEMA = pa.schema([
    ("correct", pa.bool_()), ("finish_reason", pa.string()), ("completion_tokens", pa.int64()),
    ("think_tokens", pa.int64()), ("answer_tokens", pa.int64()),
    ("reflection", pa.struct([(w, pa.int64()) for w in REFLECTION_WORDS])), ("branching", pa.int64()),
])


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.lists(_row, max_size=25))
def test_summary_matches_the_sql_form(rows):
    table = pa.Table.from_pylist(rows, schema=_SCHEMA)
    ours, sql = summarize_samples(table), _by_sql(table)
    assert _close(ours, sql), (ours, sql)


def test_summary_by_hand():
    rows = [
        {"correct": True, "finish_reason": "stop", "completion_tokens": 10, "think_tokens": 8, "answer_tokens": 2,
         "reflection": {w: (2 if w == "wait" else 0) for w in REFLECTION_WORDS}, "branching": 1},
        {"correct": False, "finish_reason": "length", "completion_tokens": 30, "think_tokens": 30, "answer_tokens": 0,
         "reflection": {w: 0 for w in REFLECTION_WORDS}, "branching": 0},
    ]
    out = summarize_samples(pa.Table.from_pylist(rows, schema=_SCHEMA))
    assert out["completions"] == 2 and out["truncation_rate"] == 0.5
    assert out["mean_think_tokens"] == 19.0 and out["mean_response_tokens"] == 20.0
    assert out["reflection"]["wait"] == {"mean": 1.0, "per_1k_tokens": 1000.0 * 2 / 40, "share": 0.5}
    assert out["branching_per_1k_tokens"] == 25.0
    assert out["mean_response_tokens_correct"] == 10.0 and out["mean_think_tokens_incorrect"] == 30.0
