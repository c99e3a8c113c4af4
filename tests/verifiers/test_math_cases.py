"""The labelled math case table (tests/verifiers/math_cases.py) graded as labelled, order-free
verdicts, the text rules behind each family, and the restatement guard on MATH-500."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cotforge.verifiers.base import Status
from cotforge.verifiers.math import MathVerifier, clear_cache
from cotforge.verifiers.math_text import drop_punctuation_in_math, gold_problem, prenormalize, restates_question
from cotforge.verifiers.pool import verify_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from math_cases import ROWS  # noqa: E402

# A loaded CI machine must not turn slow SymPy items into timeouts here: these tests are about verdicts.
SLOW_OK = 60.0


def _grade(rows, **options):
    kwargs = [{"question": r[3]} if r[3] else {} for r in rows]
    return verify_batch("math", [r[0] for r in rows], [r[1] for r in rows], kwargs=kwargs, timeout=SLOW_OK, **options)


def test_every_row_is_graded_as_labelled():
    clear_cache()
    verdicts = _grade(ROWS)
    wrong = [(r[4], r[0], r[1], r[2], v.status.value, v.reason) for r, v in zip(ROWS, verdicts) if v.correct != r[2]]
    assert wrong == []
    # "not paid" is never "error": an ungradable gold, a wrong answer, a restatement or a checker-breaking answer
    assert all(v.status is not Status.ERROR for v in verdicts)


def test_the_families_the_issue_names_are_all_present():
    families = {r[4] for r in ROWS}
    assert {"partial_parse", "equation_lhs", "restates_question", "numeric", "breaks_checker", "bare", "boxes",
            "punctuation", "mixed", "word_units", "languages", "broken_gold"} <= families
    assert len(ROWS) >= 200


@pytest.mark.parametrize("gold", [r[0] for r in ROWS if r[4] == "broken_gold" and not r[2]])
def test_broken_golds_are_unparsable_gold_never_error(gold):
    verdict = MathVerifier(timeout=SLOW_OK).verify(gold, r"\boxed{" + gold + "}")
    assert verdict.status is Status.UNPARSABLE_GOLD and verdict.score == 0.0, verdict


@pytest.mark.parametrize("tower", [r[1] for r in ROWS if r[4] == "breaks_checker"])
def test_checker_breaking_answers_are_incorrect_with_a_reason(tower):
    verdict = MathVerifier(timeout=SLOW_OK).verify("5", tower)
    assert verdict.status is Status.INCORRECT and verdict.reason, verdict


@pytest.mark.parametrize("exc", [OverflowError("int too large to convert to float"), RecursionError("deep"), MemoryError(), ValueError("x")])
def test_an_exception_while_checking_the_answer_is_incorrect_naming_it(monkeypatch, exc):
    import math_verify

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(math_verify, "verify", boom)
    clear_cache()
    verdict = MathVerifier().grade("x+1", "x+2", "boxed")
    assert verdict.status is Status.INCORRECT
    assert type(exc).__name__ in verdict.reason and verdict.details["raised"] == type(exc).__name__


def test_restatement_guard_needs_the_question_and_can_be_turned_off():
    q = r"Compute $\dbinom{8}{4}$."
    resp = r"\boxed{\dbinom{8}{4}}"
    guarded = MathVerifier().verify("70", resp, question=q)
    assert guarded.status is Status.INCORRECT and guarded.reason.startswith("restates_question")
    assert guarded.details["guard"] == "restates_question"
    assert MathVerifier().verify("70", resp).status is Status.CORRECT  # no question: math-verify pays it
    assert MathVerifier(guard_restatement=False).verify("70", resp, question=q).status is Status.CORRECT
    out = verify_batch("math", ["70", "70"], [resp, r"\boxed{70}"], kwargs=[{"question": q}, {"question": q}])
    assert [v.status for v in out] == [Status.INCORRECT, Status.CORRECT]
    assert MathVerifier.accepts_question is True


def test_fallback_option_still_works():
    # an unmarked prose response: graded by math-verify's last expression only with fallback on
    assert MathVerifier(fallback=False).verify("0", "We try x = 5 and get 3, which we know is 0").status is Status.NO_ANSWER
    assert MathVerifier().verify("0", "We try x = 5 and get 3, which we know is 0").status is Status.CORRECT
    # a short formula-only response is an answer either way
    assert MathVerifier(fallback=False).verify("t^2-4t+4", "t^2-4t+4").status is Status.CORRECT


# -- verdicts independent of call order ---------------------------------------------------------

_ORDER_SCRIPT = r"""
import json, random, sys
sys.path.insert(0, sys.argv[2])
from math_cases import ROWS
from cotforge.verifiers.math import MathVerifier
from cotforge.verifiers.pool import Deferred, VerifierPool, verify_batch
seed = int(sys.argv[1])
# the rows that reach a worker (SymPy); the fast path is pure string work
kw = lambda r: {"question": r[3]} if r[3] else {}
idx = [i for i, r in enumerate(ROWS) if isinstance(MathVerifier().presettle(r[0], r[1], **kw(r)), Deferred)]
random.Random(seed).shuffle(idx)
rows = [ROWS[i] for i in idx]
pool = VerifierPool(1)  # one worker: every deferred item meets the SymPy state the others left
out = verify_batch("math", [r[0] for r in rows], [r[1] for r in rows], kwargs=[kw(r) for r in rows], pool=pool, timeout=60.0)
pool.close()
print(json.dumps({i: [v.status.value, v.reason] for i, v in zip(idx, out)}))
"""


def test_verdicts_do_not_depend_on_order_or_process():
    here = str(Path(__file__).resolve().parent)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _ORDER_SCRIPT, str(seed), here], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for seed in (1, 2)]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(runs[0]) >= 30  # enough rows reach the worker for the order to matter
    assert runs[0] == runs[1]
    # each shuffled run also grades every row as labelled
    assert [ROWS[int(i)][:2] for i, (status, _) in runs[0].items() if (status == "correct") != ROWS[int(i)][2]] == []


def test_in_process_shuffles_give_the_same_verdicts():
    deferred = [r for r in ROWS if r[4] in ("symbolic", "equation_lhs", "partial_parse", "numeric")]
    clear_cache()
    first = {id(r): v.status for r, v in zip(deferred, _grade(deferred))}
    shuffled = deferred[:]
    random.Random(7).shuffle(shuffled)
    clear_cache()
    again = {id(r): v.status for r, v in zip(shuffled, _grade(shuffled))}
    assert first == again


# -- the text rules ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text,expected",
    [
        (r"1-\frac{1}{\mathrm{e}}", r"1-\frac{1}{e}"),
        (r"2\mathrm{e}", "2e"),
        (r"{\rm e}^{2}", "e^{2}"),
        (r"3+4\textrm{i}", "3+4i"),
        (r"\mathrm{cm}", r"\mathrm{cm}"),  # only the constants
        (r"$\frac{2}{7}.$", r"\frac{2}{7}"),
        (r"$(3,4),$", "(3,4)"),
        ("(3,4);", "(3,4)"),
        ("5!", "5!"),  # a factorial is not punctuation
        ("3 2/5", r"\frac{17}{5}"),
        ("-3 2/5", r"-\frac{17}{5}"),
        (r"3\frac{2}{5}", r"\frac{17}{5}"),
        (r"5\tfrac34", r"\frac{23}{4}"),
        ("11 7/6", "11 7/6"),  # an improper fraction does not make a mixed number
        ("11 6/6", "11 6/6"),
        ("7 1/2 inches", r"\frac{15}{2}"),
        ("12 days", "12"),
        ("1,000 dollars", "1,000"),
        ("3.5 hours", "3.5"),
        ("2 pi", "2 pi"),  # not a unit
        ("3 x", "3 x"),
        ("5 and 6", "5 and 6"),
    ],
)
def test_prenormalize(text, expected):
    assert prenormalize(text) == expected


def test_punctuation_inside_math_in_running_text():
    assert drop_punctuation_in_math(r"so it is $\frac{2}{7}.$ Done") == r"so it is $\frac{2}{7}$ Done"
    assert drop_punctuation_in_math(r"points $(3,4),$ and $5$.") == r"points $(3,4)$ and $5$."
    assert drop_punctuation_in_math(r"is \(2^{10}.\)") == r"is \(2^{10}\)"
    assert drop_punctuation_in_math("no math, here.") == "no math, here."


@pytest.mark.parametrize(
    "gold,problem",
    [
        (r"\frac{1}", "lacks an argument"), (r"\frac{}{}", "empty argument"), (r"\dbinom{5}", "lacks an argument"),
        (r"\quad", "no number"), (r"\cdot", "no number"), (r"\,", "no number"), ("1/0", "divides by zero"),
        (r"\frac{3}{0}", "divides by zero"), (r"\text{None}", "null marker"), (r"\text{N/A}", "null marker"),
        (r"\textbf{n/a}", "null marker"), (r"\mathbf{}", "empty argument"), (r"\mathrm{}", "empty argument"),
        (r"\textbf{}", "empty argument"), (r"\sqrt{}", "empty argument"), ("undefined", "null marker"),
    ],
)
def test_gold_problems(gold, problem):
    assert problem in (gold_problem(gold) or "")


@pytest.mark.parametrize("gold", [r"\frac12", r"\frac{\pi}{2}", r"\frac\pi2", r"\dbinom{8}{4}", r"\infty", r"\emptyset", r"\pi", r"\{\}",
                                  "0", r"\alpha", r"\mathbb{R}", "10/3", "100", r"\text{Evelyn}", "x"])
def test_real_golds_have_no_problem(gold):
    assert gold_problem(gold) is None


@pytest.mark.parametrize(
    "answer,gold,question,restated",
    [
        (r"\dbinom{8}{4}", "70", r"Compute $\dbinom{8}{4}$.", True),
        (r"\binom{8}{4}", "70", r"Compute $\dbinom{8}{4}$.", True),  # \dbinom and \binom are one form
        ("70", "70", r"Compute $\dbinom{8}{4}$.", False),
        (r"\sqrt{245}", r"7\sqrt{5}", r"Simplify $\sqrt{245}$.", True),
        (r"\frac{84}{144}", r"\frac{7}{12}", r"Simplify $\frac{84}{144}$.", True),
        (r"2^{10}+1", "1025", r"What is $2^{10}+1$?", True),
        ("x+1", "5", r"If $f(x) = x+1$, what is $f(4)$?", True),  # one side of an equation in the question
        ("5", "5", r"If $x = 5$, what is $x$?", False),  # a number is reduced
        (r"\frac{4}{9}", r"\frac{4}{9}", r"Which is larger, $\frac{3}{7}$ or $\frac{4}{9}$?", False),  # the gold itself
        (r"\frac{3}{7}", r"\frac{4}{9}", r"Which is larger, $\frac{3}{7}$ or $\frac{4}{9}$?", True),
        (r"\sqrt{245}", r"7\sqrt{5}", "Simplify the square root of 245.", False),  # no math in the question
        (r"\sqrt{245}", r"7\sqrt{5}", "", False),
    ],
)
def test_restates_question(answer, gold, question, restated):
    assert (restates_question(answer, gold, question) is not None) is restated


# -- restating MATH-500's own problems (read in place; skipped where the data is absent) ----------

MATH500 = Path(__file__).resolve().parents[2].parent / "shared/data/math500/test.jsonl"
_SEGMENT = re.compile(r"\$([^$]+)\$")


@pytest.mark.skipif(not MATH500.is_file(), reason=f"MATH-500 not found at {MATH500}")
def test_boxing_the_problem_is_never_paid_and_the_gold_always_is_on_math500():
    rows = [json.loads(line) for line in MATH500.open(encoding="utf-8")]
    compute = [r for r in rows if re.match(r"\s*(Compute|Simplify|Evaluate|Calculate|What is the value of|Find the value of)", r["problem"])]
    restated = []
    for r in compute:
        segs = _SEGMENT.findall(r["problem"])
        if segs:
            restated.append((r, max(segs, key=len).strip()))
    assert len(restated) >= 30
    golds = [r["answer"] for r, _ in restated]
    kwargs = [{"question": r["problem"]} for r, _ in restated]
    paid_unguarded = verify_batch("math", golds, [f"$\\boxed{{{seg}}}$" for _, seg in restated], timeout=SLOW_OK)
    paid = verify_batch("math", golds, [f"$\\boxed{{{seg}}}$" for _, seg in restated], kwargs=kwargs, timeout=SLOW_OK)
    assert sum(v.correct for v in paid_unguarded) >= 10  # the hole is real without the question
    assert [r["answer"] for (r, _), v in zip(restated, paid) if v.correct] == []
    # the guard never refuses the gold itself, on every MATH-500 problem
    gold_resp = verify_batch("math", [r["answer"] for r in rows], [f"The answer is $\\boxed{{{r['answer']}}}$." for r in rows],
                             kwargs=[{"question": r["problem"]} for r in rows], timeout=SLOW_OK)
    assert [r["answer"] for r, v in zip(rows, gold_resp) if not v.correct] == []
