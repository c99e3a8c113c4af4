"""MMLU-Pro-1k: 1,000 test questions stratified by category (``random.Random(0)`` per category,
proportional to its size), as the long-CoT study evaluates; same prompts and grading as MMLU-Pro."""

from __future__ import annotations

from cotforge.evals.benchmarks.mmlu_pro import MMLUPro


class MMLUPro1k(MMLUPro):
    name = "mmlu_pro_1k"
    title = "MMLU-Pro-1k"
    shared_path = "mmlu_pro/test_1k_stratified_seed0.jsonl"
    hub_hint = ""
