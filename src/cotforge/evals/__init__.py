"""The eval harness: eight benchmarks, honest metrics with error bars, re-scoring without regenerating.

``run_eval`` generates and grades (every score comes from :mod:`cotforge.verifiers`) into a run
folder laid out as a Hub dataset; ``rescore`` regrades a run's saved samples; ``compare_runs`` gives
the paired difference of two runs. Importing this package imports neither torch nor the backends:
the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "run_eval": "cotforge.evals.run:run_eval",
    "rescore": "cotforge.evals.rescoring:rescore",
    "compare_runs": "cotforge.evals.compare:compare_runs",
    "load_results": "cotforge.evals.results:load_results",
    "get_benchmark": "cotforge.evals.benchmarks:get_benchmark",
    "PRESETS": "cotforge.evals.presets:PRESETS",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'cotforge.evals' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
