"""Grading: verdicts computed in the pool's workers equal the in-process ones; repeats graded once."""

import json

import pytest

from cotforge.evals.benchmarks import get_benchmark
from cotforge.evals.grading import Grader
from cotforge.verifiers.base import Status, Verdict

from conftest import needs_shared


def _rows(items, responses, finish="stop"):
    return [{"gold": json.dumps(it.gold, sort_keys=True), "verify_kwargs": json.dumps(it.verify_kwargs, sort_keys=True),
             "question": it.question, "response": r, "finish_reason": finish, "error": None}
            for it in items for r in responses(it)]


def _math_responses(it):
    return [f"\\boxed{{{it.gold}}}", "The answer is $\\frac{2}{4}$.", f"<think>{it.gold}</think> no answer", "x^2 - 1 = (x-1)(x+1)",
            f"\\boxed{{{it.gold}}} \\boxed{{7}}", ""]


def _letter_responses(it):
    return [f"The answer is ({it.gold})", "I think it's B because", "A. first\nB. second\nC. third", "\\boxed{A, C}", "**D**"]


@needs_shared
@pytest.mark.parametrize("bench,responses", [("math500", _math_responses), ("mmlu_pro_1k", _letter_responses),
                                             ("gpqa_diamond", _letter_responses)])
def test_grading_in_the_workers_gives_the_in_process_verdicts(bench, responses):
    b = get_benchmark(bench)
    rows = _rows(b.load(limit=4).items, responses)
    rows += _rows(b.load(limit=1).items, responses, finish="length")  # truncated samples too
    inline = Grader(b, in_workers=False).grade(rows)
    pooled = Grader(b, in_workers=True, workers=2).grade(rows)
    assert pooled == inline
    assert {v["status"] for v in inline} >= {"correct", "incorrect"}


@needs_shared
def test_kk_gold_graded_in_the_workers_is_correct():
    b = get_benchmark("kk")
    items = b.load(limit=3).items
    rows = _rows(items, lambda it: ["<think>x</think><answer>" + ", ".join(
        f"{n} is a {'knight' if s else 'knave'}" for n, s in zip(it.gold["names"], it.gold["solution"])) + "</answer>"])
    assert [v["status"] for v in Grader(b, in_workers=True).grade(rows)] == ["correct"] * 3
    assert Grader(b, in_workers=False).grade(rows) == Grader(b, in_workers=True).grade(rows)


class _Flaky:
    """Settles in the caller: a timeout on the first call for each response, correct afterwards."""

    name, version = "flaky", "0"

    def __init__(self):
        self.calls = []

    def verify(self, gold, response, **kw):  # pragma: no cover - presettle answers first
        raise AssertionError

    def presettle(self, gold, response, **kw):
        self.calls.append(response)
        if self.calls.count(response) == 1 and response == "slow":
            return Verdict(Status.TIMEOUT, 0.0, None, "deadline")
        return Verdict(Status.CORRECT, 1.0, response, "ok")


def test_identical_samples_are_graded_once_per_run_but_timeouts_are_asked_again():
    g = Grader(get_benchmark("aime24"), in_workers=False)
    g.verifier = g._target = _Flaky()
    row = {"gold": '"1"', "verify_kwargs": "{}", "question": "q", "finish_reason": "stop", "error": None}
    batch = [{**row, "response": r} for r in ("a", "a", "b", "slow", "a")]
    first = g.grade(batch)
    assert [v["status"] for v in first] == ["correct", "correct", "correct", "timeout", "correct"]
    assert g.verifier.calls == ["a", "b", "slow"]  # one call per distinct sample
    second = g.grade(batch + [{**row, "response": "a", "finish_reason": "length"}, {**row, "response": "a", "gold": '"2"'}])
    assert [v["status"] for v in second] == ["correct"] * 7
    # only the timeout is asked again; truncation and another gold make a different sample
    assert g.verifier.calls == ["a", "b", "slow", "slow", "a", "a"]
    assert g.graded == 6
    second[0]["status"] = "changed"  # callers get their own copies
    assert g.grade([batch[0]])[0]["status"] == "correct"


@needs_shared
def test_run_eval_grading_in_workers_stores_the_same_rows_and_says_so(tmp_path, replay_file):
    import pyarrow.parquet as pq

    from cotforge.evals import run_eval

    items = get_benchmark("aime24").load(limit=4).items
    f = replay_file([(it.id, j, r) for it in items for j, r in enumerate(
        [f"\\boxed{{{it.gold}}}", "so the answer is 12", f"\\boxed{{0{it.gold}}}"])])
    args = dict(backend="replay", n=3, limit=4, plots=False)
    a = run_eval(str(f), ["aime24"], tmp_path / "a", grade_in_workers=True, **args)
    b = run_eval(str(f), ["aime24"], tmp_path / "b", **args)
    rows = [pq.read_table(next((tmp_path / d / "data" / "aime24").glob("*.parquet"))).select(
        ["id", "status", "extracted", "reason"]).to_pylist() for d in ("a", "b")]
    assert rows[0] == rows[1] and a["benchmarks"] == b["benchmarks"]
    stats = [json.loads((tmp_path / d / "manifest.json").read_text())["stats"]["run"]["grading"] for d in ("a", "b")]
    assert stats == ["workers", "in-process"]
