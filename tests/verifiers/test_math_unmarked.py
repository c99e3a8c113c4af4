"""The plain answer of an unmarked response (``cotforge.verifiers.math_unmarked``): read as
math-verify's own extraction reads it, and graded as math-verify grades it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

pytest.importorskip("math_verify")

import cotforge.verifiers.math as math_module
from cotforge.verifiers import get_verifier
from cotforge.verifiers.base import Status
from cotforge.verifiers.math_unmarked import unmarked_candidate
from cotforge.verifiers.pool import Deferred


@pytest.mark.parametrize(
    "text,candidate",
    [
        ("so the total is 27.", "27"),
        ("We get 1,234 apples", "1234"),  # math-verify drops thousands separators
        ("the code is 023", "23"),  # and leading zeros
        ("the ratio is 3,5 here", "3.5"),  # a decimal comma
        ("the value is $x$", "x"),
        ("the value is $\\frac{3}{4}$ exactly", "\\frac{3}{4}"),
        ("it is $12$", "12"),
        ("then $-4.25$", "-4.25"),
        # not plain: math-verify decides
        ("which is 25%", None),  # a percent is scaled
        ("so $e$", None),  # a constant letter (Euler's number or a symbol)
        ("so $i$", None),
        ("so $x = 3$", None),  # an equation
        ("so $a$ and $b$", None),  # several expressions become a set
        ("we get $\\sqrt{2}$", None),
        ("so 3+4", None),  # an expression goes to SymPy's parser, which may fail
        ("no numbers here at all", None),
    ],
)
def test_candidate_is_what_math_verify_reads_first(text, candidate):
    from math_verify import parse

    assert unmarked_candidate(text, load=True) == candidate
    if candidate is not None:
        # math-verify's own parse of the text reads the same value as the same text in a box
        assert parse(text, parsing_timeout=None)[0] == parse(f"$\\boxed{{{candidate}}}$", parsing_timeout=None)[0]


def test_not_loaded_means_not_read(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "math_verify.parser")
    assert unmarked_candidate("so the total is 27.") is None


SKY = Path(__file__).resolve().parents[2].parent / "shared/data/outputs/skythought_qwen25math_eval"


def _truncated_unmarked_jobs(count: int, monkeypatch) -> list[tuple]:
    """Unmarked (gold, text) jobs from published MATH-500 responses cut at random points with
    their boxes renamed: the shapes an RL policy's truncated rollouts take."""
    monkeypatch.setattr(math_module, "unmarked_candidate", lambda *a, **k: None)  # collect, do not settle
    math_module.clear_cache()
    verifier = get_verifier("math")
    rng = random.Random(7)
    jobs = set()
    for path in sorted(SKY.glob("*/math500/*.jsonl")):
        for line in path.open():
            row = json.loads(line)
            response = row["code"][0]
            cut = rng.randrange(max(1, len(response)))
            job = verifier.presettle(row["answer"], response[:cut].replace("boxed", "mathbf"))
            if isinstance(job, Deferred) and job.args[2] == "text":
                jobs.add(job.args)
    monkeypatch.undo()
    return rng.sample(sorted(jobs), count)


@pytest.mark.skipif(not SKY.is_dir(), reason=f"published outputs not found at {SKY}")
def test_shortcut_verdicts_match_math_verify_on_truncated_responses(monkeypatch):
    from cotforge.verifiers.math import _parse_gold

    verifier = get_verifier("math")
    settled = 0
    for gold, text, source in _truncated_unmarked_jobs(160, monkeypatch):
        fast = math_module._settle_unmarked(gold, text, load=True)
        if fast is None:
            continue
        settled += 1
        with monkeypatch.context() as m:
            m.setattr(math_module, "unmarked_candidate", lambda *a, **k: None)
            math_module.clear_cache()
            reference = verifier.grade(gold, text, source)
        assert reference.details.get("path") != "fast"
        if fast.status is not reference.status:
            # The one known difference, the fast normaliser's policy on boxed answers as well:
            # math-verify reads a gold such as "4t" as 4 (t a unit, tonnes) and pays a bare 4.
            assert reference.status is Status.CORRECT and fast.status is Status.INCORRECT, (gold, text[-120:])
            assert not _parse_gold(gold)[0].free_symbols and any(c.isalpha() for c in gold), (gold, text[-120:])
    assert settled >= 60  # about half of such responses end on a plain answer
