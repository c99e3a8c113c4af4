"""MMLU-Pro test set: 12,032 questions with 3-10 options (letters A-J), 0-shot or 5-shot CoT.

The 5-shot prompt takes the first five validation questions of the same category with their
worked answers (``cot_content``), as TIGER-Lab's ``evaluate_from_local.py`` does; the validation
file is read from beside the test file and hashed with it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.evals.benchmark import Benchmark, Item, read_table_file
from cotforge.evals.prompts import LETTERS, PromptTemplate

VALIDATION = "validation-00000-of-00001.parquet"


def options_of(value: Any) -> list[str]:
    if isinstance(value, str):  # some copies store the list as its repr
        value = ast.literal_eval(value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= len(LETTERS):
        raise ValueError(f"options must be a list of 2-10 strings, got {value!r:.80}")
    return [str(o) for o in value]


class MMLUPro(Benchmark):
    name = "mmlu_pro"
    title = "MMLU-Pro"
    verifier = "choice"
    prompts = ("letter", "letter_r1", "mmlu_pro_5shot")
    default_prompt = "letter"
    shared_path = "mmlu_pro/test-00000-of-00001.parquet"
    hub_hint = "TIGER-Lab/MMLU-Pro"
    breakdowns = ("category",)
    #: Without a preset: greedy, 2,048 new tokens (a chain of thought for one option letter).
    default_sampling = {"max_tokens": 2048}

    def __init__(self) -> None:
        self._shots: dict[str, list[dict[str, Any]]] | None = None
        self._validation: Path | None = None

    def data_files(self, path: Path) -> list[Path]:
        v = path.parent / VALIDATION
        return [path, v] if v.is_file() else [path]

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        self._validation = path.parent / VALIDATION
        self._shots = None
        return read_table_file(path)

    def shots(self, category: str) -> list[dict[str, Any]]:
        if self._shots is None:
            v = self._validation
            if v is None or not v.is_file():
                raise UsageError(f"mmlu_pro: the 5-shot prompt needs {VALIDATION} beside the test file (looked at {v})")
            self._shots = {}
            for r in read_table_file(v):
                self._shots.setdefault(r["category"], []).append(
                    {"question": r["question"], "options": options_of(r["options"]), "cot_content": r["cot_content"]}
                )
        return self._shots.get(category, [])[:5]

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        options = options_of(row["options"])
        question = str(row["question"])
        category = str(row.get("category") or "")
        fields: dict[str, Any] = {"question": question, "options": options, "category": category}
        if prompt.name == "mmlu_pro_5shot":
            fields["shots"] = self.shots(category)
        return Item(
            id=str(row.get("question_id", index)),
            question=question,
            gold=str(row["answer"]).strip(),
            messages=prompt.render(**fields),
            meta={"category": category, "src": row.get("src")},
            verify_kwargs={"n_options": len(options)},
        )
