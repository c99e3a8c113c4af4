"""AIME 2025 (I and II), 30 problems (matharena's LaTeX statements and answers)."""

from __future__ import annotations

from typing import Any

from cotforge.evals.benchmark import Benchmark, Item
from cotforge.evals.prompts import PromptTemplate


class AIME25(Benchmark):
    name = "aime25"
    title = "AIME 2025"
    verifier = "math"
    prompts = ("boxed", "r1")
    default_prompt = "boxed"
    shared_path = "aime25/test.jsonl"
    hub_hint = "MathArena/aime_2025"
    breakdowns = ("contest",)
    #: Without a preset: greedy, 8,192 new tokens (competition solutions run longer than MATH ones).
    default_sampling = {"max_tokens": 8192}
    equivalence_wrap = ("\\boxed{", "}")

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        question = str(row["problem"])
        return Item(
            id=str(row.get("id", index)),
            question=question,
            gold=str(row["answer"]),
            messages=prompt.render(question=question),
            meta={"contest": row.get("contest")},
        )
