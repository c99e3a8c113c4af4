"""HumanEval+ (EvalPlus) when its file is given with ``--data``, else the original HumanEval on disk.

The run records which one it graded (``variant`` in the data record). With an EvalPlus file the
tests are the original ``check`` plus EvalPlus's ``base_input`` + ``plus_input``: each input is run
through the canonical solution and the candidate, and the outputs must agree (floats within
``atol``, EvalPlus's per-task tolerance, or 1e-6). Grading runs the code verifier's sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cotforge.evals.benchmark import Benchmark, Item, Loaded
from cotforge.evals.prompts import PromptTemplate

_PLUS_TEST = '''
{original}

def _cotforge_same(a, b, atol):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(a - b) <= max(atol, 1e-6) or a == b
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_cotforge_same(x, y, atol) for x, y in zip(a, b))
    return a == b

_cotforge_original_check = check

def check(candidate):
    import copy
    _cotforge_original_check(candidate)
    _ns = {{}}
    exec({reference!r}, _ns)
    _reference = _ns[{entry!r}]
    for _args in {inputs}:
        _want = _reference(*copy.deepcopy(_args))
        _got = candidate(*copy.deepcopy(_args))
        assert _cotforge_same(_got, _want, {atol!r}), f"input {{_args!r:.200}}: got {{_got!r:.200}}, expected {{_want!r:.200}}"
'''


def plus_test(row: dict[str, Any]) -> str:
    """The EvalPlus tests of one task as a HumanEval-style ``check(candidate)`` program."""
    inputs = list(row.get("base_input") or []) + list(row.get("plus_input") or [])
    if isinstance(inputs, str):  # pragma: no cover - some dumps keep them as JSON text
        inputs = json.loads(inputs)
    return _PLUS_TEST.format(
        original=row["test"],
        reference=str(row["prompt"]) + str(row["canonical_solution"]),
        entry=str(row["entry_point"]),
        inputs=repr([list(a) for a in inputs]),
        atol=float(row.get("atol") or 0.0),
    )


class HumanEvalPlus(Benchmark):
    name = "humaneval_plus"
    title = "HumanEval+"
    verifier = "code"
    prompts = ("code", "code_r1")
    default_prompt = "code"
    shared_path = "humaneval/HumanEval.jsonl.gz"
    hub_hint = "evalplus/humanevalplus"
    majority = False
    #: Without a preset: greedy, 1,024 new tokens (one function).
    default_sampling = {"max_tokens": 1024}

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        plus = "plus_input" in row or "base_input" in row
        gold = {
            "prompt": str(row["prompt"]),
            "entry_point": str(row["entry_point"]),
            "canonical_solution": str(row["canonical_solution"]),
            "test": plus_test(row) if plus else str(row["test"]),
        }
        return Item(
            id=str(row.get("task_id", index)),
            question=str(row["prompt"]),
            gold=gold,
            messages=prompt.render(prompt=str(row["prompt"])),
            meta={"tests": "humaneval+" if plus else "humaneval"},
        )

    def load(self, data: str | Path | None = None, *, prompt: str | None = None, limit: int | None = None) -> Loaded:
        loaded = super().load(data, prompt=prompt, limit=limit)
        plus = all(it.meta["tests"] == "humaneval+" for it in loaded.items)
        loaded.record["variant"] = "HumanEval+ (EvalPlus tests)" if plus else "HumanEval (original tests; no EvalPlus file given)"
        notes = [] if plus else ["HumanEval+ was scored with the original HumanEval tests: pass the EvalPlus file with --data humaneval_plus=PATH for the plus tests."]
        return Loaded(loaded.items, loaded.record, loaded.prompt, notes)
