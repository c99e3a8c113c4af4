"""The benchmarks the harness knows: a literal registry of lazy ``"module:attr"`` strings.

Adding a benchmark touches its own file here, one line below and a test.
"""

from __future__ import annotations

import importlib

from cotforge.errors import UsageError

#: name -> "module:attr" of a :class:`cotforge.evals.benchmark.Benchmark` subclass.
REGISTRY: dict[str, str] = {
    "math500": "cotforge.evals.benchmarks.math500:Math500",
    "aime24": "cotforge.evals.benchmarks.aime24:AIME24",
    "aime25": "cotforge.evals.benchmarks.aime25:AIME25",
    "gpqa_diamond": "cotforge.evals.benchmarks.gpqa_diamond:GPQADiamond",
    "mmlu_pro": "cotforge.evals.benchmarks.mmlu_pro:MMLUPro",
    "mmlu_pro_1k": "cotforge.evals.benchmarks.mmlu_pro_1k:MMLUPro1k",
    "theoremqa": "cotforge.evals.benchmarks.theoremqa:TheoremQA",
    "humaneval_plus": "cotforge.evals.benchmarks.humaneval_plus:HumanEvalPlus",
    "kk": "cotforge.evals.benchmarks.kk:KK",
}


def available() -> list[str]:
    return list(REGISTRY)


def get_benchmark(name: str):
    """An instance of the benchmark registered as ``name``; an unknown name lists the known ones."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown benchmark {name!r}; known: {', '.join(available())}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)()


def parse_benches(spec: str | list[str]) -> list[str]:
    """``"math500,aime24"`` or a list -> checked names, in order, without repeats."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    if not names:
        raise UsageError(f"--bench: name at least one benchmark; known: {', '.join(available())}")
    out: list[str] = []
    for n in names:
        if n not in REGISTRY:
            raise UsageError(f"unknown benchmark {n!r}; known: {', '.join(available())}")
        if n not in out:
            out.append(n)
    return out
