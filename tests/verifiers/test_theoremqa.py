"""The TheoremQA verifier: every answer type, the benchmark's tolerance rules, and a round trip
over the real test set's golds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotforge.errors import UsageError
from cotforge.verifiers import get_verifier
from cotforge.verifiers.base import Status
from cotforge.verifiers.pool import verify_batch
from cotforge.verifiers.theoremqa import TheoremQAVerifier, infer_answer_type, parse_number

C, I, N, U = Status.CORRECT, Status.INCORRECT, Status.NO_ANSWER, Status.UNPARSABLE_GOLD

# (gold, answer_type or None, response, expected)
TABLE = [
    # integer: round(p) == g
    (11760, "integer", r"The answer is \boxed{11760}.", C),
    (3, "integer", "The answer is 3.4", C),
    (3, "integer", "The answer is 3.6", I),
    (4200, "integer", "The answer is 4,200.", C),
    # float: within 4% relative
    (1.42, "float", "Therefore, the answer is 1.45.", C),
    (1.42, "float", "the answer is 1.5", I),
    (-1.047, "float", r"\boxed{-\frac{\pi}{3}}", C),  # evaluated with SymPy in a worker
    (0.866, "float", r"\boxed{\frac{\sqrt{3}}{2}}", C),
    (6.283, "float", r"\boxed{2\pi}", C),
    (3e8, "float", r"The answer is $3.0 \times 10^{8}$ m/s.", C),
    (0.001, "float", "The answer is 10^{-3}", C),
    (9.8, "float", r"The answer is 9.81 \text{ m/s}^2", C),
    (45.0, "float", r"The answer is $45^\circ$.", C),
    (0.0, "float", "The answer is 0.0", C),
    (0.0, "float", "The answer is 0.01", I),  # the benchmark's tolerance is relative: 0 needs 0
    (0.05, "float", "The answer is 5%.", C),  # a percent matches a fraction gold ...
    (5.0, "float", "The answer is 5%.", C),  # ... and a percent gold
    (1.0, "float", "The answer is x = 1.", C),
    (1.0, "float", "The answer is one of them.", I),
    # bool
    (False, "bool", "The answer is False.", C),
    (True, "bool", "So the statement is true.", C),  # official last-line rule
    (True, "bool", "Yes", C),
    (True, "bool", r"\boxed{\text{False}}", I),
    (True, "bool", "It is true or false, hard to say", N),
    # option
    ("(c)", "option", "The answer is (c).", C),
    ("(c)", "option", "The answer is (b).", I),
    ("(a)", "option", r"\boxed{a}", C),
    # lists: same length, sorted, element-wise
    ([0, 5], "list of integer", r"\boxed{[0, 5]}", C),
    ([4, 1, 2, 0], "list of integer", "The answer is [0, 1, 2, 4].", C),  # order-free, as the benchmark
    ([0.333, 0.25], "list of float", "the answer is [0.25, 0.33]", C),
    ([0.5, 0.66667], "list of float", r"\boxed{\left[\frac{1}{2}, \frac{2}{3}\right]}", C),
    ([1, 2], "list of integer", "the answer is 1, 2, 3", I),
    ([1, 2], "list of integer", "the answer is [1, x]", I),
    # inferred types, bad golds, no answers
    (7, None, r"\boxed{7}", C),
    ([1.5, 2.5], None, r"\boxed{(1.5, 2.5)}", C),
    ("(d)", None, "The answer is (d)", C),
    ("12.5", None, "The answer is 12.5", C),
    (None, None, "The answer is 3", U),
    ("blue", None, "The answer is blue", U),
    ("(c)", "integer", "The answer is 3", U),  # gold does not fit its type
    (3, "integer", "", N),
    (3, "integer", "<think>The answer is 3", N),
]


@pytest.mark.parametrize("gold,kind,response,expected", TABLE)
def test_table(gold, kind, response, expected):
    verdict = TheoremQAVerifier().verify(gold, response, answer_type=kind)
    assert verdict.status is expected, verdict


def test_table_in_batch():
    golds, kinds, responses, expected = zip(*TABLE)
    out = verify_batch("theoremqa", golds, responses, kwargs=[{"answer_type": k} for k in kinds])
    assert [v.status for v in out] == list(expected)


def test_bad_answer_type_is_a_usage_error():
    with pytest.raises(UsageError, match="answer_type"):
        TheoremQAVerifier().verify(3, "3", answer_type="number")
    assert get_verifier("theoremqa").name == "theoremqa"


def test_parse_number():
    assert parse_number("1,000") == (1000.0, False)
    # a (thin) space between digit groups of three separates thousands; other spacing is no number
    assert parse_number(r"1\,000") == (1000.0, False) and parse_number(r"1\,000\,000.5") == (1000000.5, False)
    assert parse_number(r"1\,00") is None
    assert TheoremQAVerifier().verify(1000.0, r"\boxed{1\,000}", answer_type="float").correct
    assert parse_number(r"6.2 \times 10^{3} N") == (6200.0, False)
    assert parse_number("12.5%") == (12.5, True)
    assert parse_number("2 pi") is None and parse_number("5 N") == (5.0, False)
    assert infer_answer_type(True) == "bool" and infer_answer_type([1, 2.0]) == "list of float"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([3, 1.5, True, "(b)", [1, 2], [0.5, 1.5]]), st.one_of(st.none(), st.binary(max_size=80), st.text(max_size=120)))
def test_never_raises(gold, response):
    v = TheoremQAVerifier()
    out = v.presettle(gold, response)  # in-process part; deferred items are exercised above
    assert out is not None


DATA = Path(__file__).resolve().parents[2].parent / "shared/data/theoremqa/theoremqa_test.json"


def _render(answer):
    if isinstance(answer, list):
        return "[" + ", ".join(str(x) for x in answer) + "]"
    return str(answer)


def _perturb(answer, kind):
    if kind == "bool":
        return not answer
    if kind == "option":
        return "(a)" if answer != "(a)" else "(b)"
    # far outside the 4% tolerance and never rounding back to the gold
    if kind.startswith("list"):
        return [x + max(1, abs(x)) for x in answer]
    return answer + max(1, abs(answer))


@pytest.mark.skipif(not DATA.is_file(), reason=f"TheoremQA not found at {DATA}")
def test_every_gold_in_the_test_set_round_trips():
    rows = json.loads(DATA.read_text())
    golds = [r["Answer"] for r in rows]
    kinds = [{"answer_type": r["Answer_type"]} for r in rows]
    right = verify_batch("theoremqa", golds, [f"The answer is {_render(g)}." for g in golds], kwargs=kinds)
    assert all(v.status is C for v in right), [(g, v) for g, v in zip(golds, right) if v.status is not C][:5]
    wrong = verify_batch(
        "theoremqa", golds, [f"The answer is {_render(_perturb(g, k['answer_type']))}." for g, k in zip(golds, kinds)], kwargs=kinds
    )
    assert all(v.status is I for v in wrong), [(g, v) for g, v in zip(golds, wrong) if v.status is not I][:5]
