"""Eval presets: the recipes' sampling settings (RECIPES.md "Eval" lines); every flag overrides them.

=============  ====  ===========  =====  ==========  ====
preset         n     temperature  top-p  max tokens  runs
=============  ====  ===========  =====  ==========  ====
``warmup``     4     0.7          0.95   8,192       1
``long_cot``   4     0.7          0.95   16,384      1
``phi4_mini``  3     0.6          0.95   32,768      3 (as 3 samples per question)
``greedy``     1     0.0          1.0    4,096       1
=============  ====  ===========  =====  ==========  ====

The Phi-4-Mini recipe averages 3 runs; with per-sample seeding, 3 runs of one sample each are
the same draws as one run of 3 samples, so the preset asks for n=3 and avg@3 is that average.
Without a preset the benchmark's defaults apply over ``greedy``.
"""

from __future__ import annotations

from typing import Any

from cotforge.errors import UsageError

PRESETS: dict[str, dict[str, Any]] = {
    "warmup": {"n": 4, "temperature": 0.7, "top_p": 0.95, "max_tokens": 8192},
    "long_cot": {"n": 4, "temperature": 0.7, "top_p": 0.95, "max_tokens": 16384},
    "phi4_mini": {"n": 3, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768},
    "greedy": {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 4096},
}


def resolve_sampling(
    preset: str | None, bench_defaults: dict[str, Any], overrides: dict[str, Any], seed: int
) -> dict[str, Any]:
    """greedy <- benchmark defaults <- preset <- flags (None means "not given")."""
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    out = dict(PRESETS["greedy"])
    out.update(bench_defaults)
    if preset is not None:
        out.update(PRESETS[preset])
    out.update({k: v for k, v in overrides.items() if v is not None})
    out["seed"] = seed
    return out
