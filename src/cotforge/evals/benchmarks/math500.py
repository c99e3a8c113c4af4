"""MATH-500 (PRM800K's test split of MATH): 500 problems, answers graded by the math verifier."""

from __future__ import annotations

from typing import Any

from cotforge.evals.benchmark import Benchmark, Item
from cotforge.evals.prompts import PromptTemplate


class Math500(Benchmark):
    name = "math500"
    title = "MATH-500"
    verifier = "math"
    prompts = ("boxed", "r1")
    default_prompt = "boxed"
    shared_path = "math500/test.jsonl"
    hub_hint = "HuggingFaceH4/MATH-500"
    breakdowns = ("level", "subject")
    #: Without a preset: greedy, 4,096 new tokens (a MATH solution rarely needs more without long CoT).
    default_sampling = {"max_tokens": 4096}
    equivalence_wrap = ("\\boxed{", "}")

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        question = str(row["problem"])
        level = row.get("level")
        if isinstance(level, str):  # "Level 3" in some copies, 3 in PRM800K's
            digits = "".join(ch for ch in level if ch.isdigit())
            level = int(digits) if digits else None
        return Item(
            id=str(row.get("unique_id") or row.get("id") or index),
            question=question,
            gold=str(row["answer"]),
            messages=prompt.render(question=question),
            meta={"level": level, "subject": row.get("subject") or row.get("type")},
        )
