"""Reasoning statistics: reflection words, think/answer split, token counts, the DuckDB summary."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotforge.datagen.reasoning_stats import (
    REFLECTION_WORDS,
    completion_stats,
    reflection_counts,
    split_think,
    summarize,
    tokenizer_counter,
)
from cotforge.records import REFLECTION


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Wait, wait. WAIT!", {"wait": 3}),
        ("awaiting the waiter; waits", {}),  # whole words only
        ("Let me recheck. I re-check, rechecked, rechecking.", {"recheck": 4}),
        ("Alternatively, we could retry; retries and retried and retrying.", {"alternatively": 1, "retry": 4}),
        ("However, however HOWEVER", {"however": 3}),
        ("", {}),
        (None, {}),
    ],
)
def test_reflection_counts(text, expected):
    assert reflection_counts(text) == {w: expected.get(w, 0) for w in REFLECTION_WORDS}


_PIECES = ["wait", "Wait", "WAIT", "re-check", "Rechecked", "rechecks", "alternatively", "retry", "Retries", "however",
           "HOWEVER", "await", "waiter", "x", " ", ", ", ".", "-", "_", "9", "\n", "é", "ſ", "K", "İ", "ı", "Ωait", "wait\u0301"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=30))
def test_reflection_counts_match_the_one_pattern(pieces):
    # The ASCII fast path (lowercased, first-letter lookahead, stem prefilter) counts exactly what
    # the documented case-insensitive pattern finds, on any text.
    from cotforge.datagen.reasoning_stats import _REFLECTION_RE

    text = "".join(pieces)
    expected = [0] * len(REFLECTION_WORDS)
    for m in _REFLECTION_RE.finditer(text):
        expected[m.lastindex - 1] += 1
    assert reflection_counts(text) == dict(zip(REFLECTION_WORDS, expected))


@pytest.mark.parametrize(
    "text, reasoning, think, answer",
    [
        ("<think>abc</think>The answer", None, "abc", "The answer"),
        ("abc</think>ans", None, "abc", "ans"),  # <think> was in the prompt
        ("<think>never closed", None, "never closed", ""),
        ("cut inside the reasoning", "cut inside the reasoning", "cut inside the reasoning", ""),
        ("plain answer, no reasoning", None, "", "plain answer, no reasoning"),
        ("<think>a</think>b<think>c</think>d", None, "a</think>b<think>c", "d"),  # the last </think> closes
    ],
)
def test_split_think(text, reasoning, think, answer):
    assert split_think(text, reasoning) == (think, answer)


def test_token_counts_proportional_exact_and_estimated():
    s = completion_stats("<think>" + "x" * 30 + "</think>" + "y" * 10, None, 100)
    assert (s.think_tokens, s.answer_tokens) == (75, 25)
    s = completion_stats("<think>abcd</think>efgh", None, -1)  # backend reported no count: chars / 4
    assert (s.think_tokens, s.answer_tokens) == (1, 1)
    s = completion_stats("<think>one two three</think>four", None, 99, count_tokens=lambda t: len(t.split()))
    assert (s.think_tokens, s.answer_tokens) == (3, 1)
    assert completion_stats("", None, 0).think_tokens == 0


def test_tokenizer_counter_uses_the_real_tokenizer(tiny_model_dir):
    count = tokenizer_counter(str(tiny_model_dir))
    assert count("<think>") == 1 and count("What is 2 + 3?") > 3


def test_summarize_over_rows():
    rows = [
        {"think_tokens": 100, "answer_tokens": 10, "accepted": True, "reflection": reflection_counts("Wait, however, wait")},
        {"think_tokens": 0, "answer_tokens": 30, "accepted": False, "reflection": reflection_counts("fine")},
    ]
    t = pa.Table.from_pylist(rows, schema=pa.schema([("think_tokens", pa.int32()), ("answer_tokens", pa.int32()),
                                                      ("accepted", pa.bool_()), ("reflection", REFLECTION)]))
    con = duckdb.connect()
    con.register("rows", t)
    s = summarize(con, "rows")
    assert s["completions"] == 2 and s["mean_think_tokens"] == 50 and s["share_with_think"] == 0.5
    assert s["reflection"]["wait"] == {"mean": 1.0, "per_1k_tokens": pytest.approx(1000 * 2 / 140), "share": 0.5}
    assert summarize(con, "rows", "accepted")["reflection"]["however"]["share"] == 1.0
    assert summarize(con, "rows", "FALSE")["completions"] == 0
