"""TheoremQA: 800 questions with typed answers (float within 4%, integer, bool, lists, option).

Questions that refer to a picture (``Picture`` set) are kept - the published numbers include them -
and marked ``has_picture`` in the metadata, so the breakdown shows what text-only models lose there.
"""

from __future__ import annotations

from typing import Any

from cotforge.evals.benchmark import Benchmark, Item
from cotforge.evals.prompts import PromptTemplate


class TheoremQA(Benchmark):
    name = "theoremqa"
    title = "TheoremQA"
    verifier = "theoremqa"
    prompts = ("boxed", "r1")
    default_prompt = "boxed"
    shared_path = "theoremqa/theoremqa_test.json"
    hub_hint = "TIGER-Lab/TheoremQA"
    breakdowns = ("answer_type", "field", "has_picture")
    #: Without a preset: greedy, 4,096 new tokens.
    default_sampling = {"max_tokens": 4096}
    equivalence_wrap = ("\\boxed{", "}")

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        question = str(row["Question"])
        picture = row.get("Picture")
        answer_type = row.get("Answer_type")
        return Item(
            id=str(row.get("id", index)),
            question=question,
            gold=row["Answer"],
            messages=prompt.render(question=question),
            meta={
                "answer_type": answer_type,
                "field": row.get("field"),
                "has_picture": bool(picture) and str(picture) != "None",
            },
            verify_kwargs={"answer_type": answer_type} if answer_type else {},
        )
