"""The silver dataset card: ``cards/silver.md.j2`` filled from the manifest and its statistics."""

from __future__ import annotations

from typing import Any, Mapping

from cotforge.hub.cards import render_card
from cotforge.hub.distill_card import load_context
from cotforge.store import layout

META = {
    "license": "other",
    "language": ["en"],
    "task_categories": ["text-generation", "question-answering"],
    "tags": ["reasoning", "rlvr", "silver-data", "web", "verifiable-rewards", "cotforge"],
    "pretty_name": "Silver web problems with verifiable answers (cotforge)",
}

FIELDS_KEPT = [
    ("prompt", "list[{role, content}]", "the RL prompt: the question plus the answer-format instruction"),
    ("answer", "string", "the extracted short final answer: what reward functions compare against"),
    ("question / solution", "string", "the original question and raw web solution"),
    ("answer_source", "string", "which rule found the answer (boxed, answer_is, last_line, model, given, ...)"),
    ("domain / verifier / verifier_version", "string", "the verifier that accepted the answer as gradable"),
    ("teacher_samples / teacher_agree / teacher_model", "int32 / string", "the teacher filter's samples and agreements"),
    ("id / source_index", "string / int64", "content hash; row of the input"),
]


def render_silver_card(manifest: dict[str, Any], path: Any = None, *, reasons: Mapping[str, str]) -> str:
    """The card; ``path`` is the folder the dataset was written to (what its ``load_dataset`` snippet loads),
    ``reasons`` maps each drop reason code to what it means.

    The codes belong to the silver builder, which passes them in (``DROP_REASONS``): ``hub`` sits
    below ``datagen`` and imports nothing of it.
    """
    splits = []
    for key, entry in manifest["splits"].items():
        config, split = layout.parse_split_key(key)
        splits.append({"config": config, "split": split, "rows": entry["rows"], "shards": len(entry["shards"])})
    return render_card(
        "silver.md.j2", manifest, meta=META, splits=splits, stats=manifest["stats"], config=manifest["build_config"],
        reasons=dict(reasons), fields=FIELDS_KEPT, **load_context(path),
    )
