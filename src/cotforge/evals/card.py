"""The eval run's card: ``cards/eval.md.j2`` filled from the manifest and results.json.

Lives in ``evals/`` (not ``hub/``) so no import runs from ``hub`` back up to ``evals``.
"""

from __future__ import annotations

import json
from typing import Any

from cotforge.evals.report import analysis_table, breakdown_tables, results_table
from cotforge.hub.cards import render_card

META = {
    "license": "other",
    "language": ["en"],
    "tags": ["evaluation", "reasoning", "cotforge"],
    "pretty_name": "cotforge eval run",
}


def render_eval_card(manifest: dict[str, Any], results: dict[str, Any], path: Any, plots: list[str]) -> str:
    stats = manifest.get("stats", {})
    env = stats.get("environment", {})
    template = (env.get("chat_template") or {}).get("sha256") or "not visible to the harness"
    return render_card(
        "eval.md.j2", manifest, meta=META, config=manifest["build_config"], model=results["model"],
        table=results_table(results), breakdowns=breakdown_tables(results), analysis=analysis_table(results),
        plots=plots, chat_template=template, libraries=env.get("libraries", {}),
        path=json.dumps(str(path)), path_plain=str(path),
    )
