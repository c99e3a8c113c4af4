"""AIME 2024 (I and II), 30 problems; integer answers (stored ``025`` compares as 25)."""

from __future__ import annotations

import re
from typing import Any

from cotforge.evals.benchmark import Benchmark, Item
from cotforge.evals.prompts import PromptTemplate

_PART_RE = re.compile(r"AIME_(I{1,2})_", re.IGNORECASE)


class AIME24(Benchmark):
    name = "aime24"
    title = "AIME 2024"
    verifier = "math"
    prompts = ("boxed", "r1")
    default_prompt = "boxed"
    shared_path = "aime24/test.jsonl"
    hub_hint = "HuggingFaceH4/aime_2024"
    breakdowns = ("contest",)
    #: Without a preset: greedy, 8,192 new tokens (competition solutions run longer than MATH ones).
    default_sampling = {"max_tokens": 8192}
    equivalence_wrap = ("\\boxed{", "}")

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        question = str(row["problem"])
        m = _PART_RE.search(str(row.get("url") or ""))
        return Item(
            id=str(row.get("id", index)),
            question=question,
            gold=str(row["answer"]),
            messages=prompt.render(question=question),
            meta={"contest": f"aime_2024_{m.group(1).upper()}" if m else row.get("contest")},
        )
