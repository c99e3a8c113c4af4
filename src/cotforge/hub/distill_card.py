"""The distill dataset card: ``cards/distill.md.j2`` filled from the manifest and its statistics."""

from __future__ import annotations

import json
from typing import Any, Sequence

from cotforge.hub.cards import render_card
from cotforge.store import layout

META = {
    "license": "other",
    "language": ["en"],
    "task_categories": ["text-generation"],
    "tags": ["reasoning", "chain-of-thought", "distillation", "rejection-sampling", "sft", "cotforge"],
    "pretty_name": "Distilled chain-of-thought (cotforge)",
}

FIELDS_ALL = [
    ("id", "string", "stable id: hash of prompt, model, sampling parameters, sample index and completion"),
    ("prompt_id / prompt_index / sample_index", "string / int64 / int32", "which prompt (content hash, position) and which of its N samples"),
    ("domain / problem / answer", "string", "the input problem, its domain and gold answer"),
    ("prompt", "list[{role, content}]", "the chat prompt sent to the teacher"),
    ("completion / reasoning", "string", "what the teacher generated; its `<think>` part (null if none)"),
    ("finish_reason / error / attempts", "string / string / int16", "stop, length or error (with the reason); generation attempts"),
    ("prompt_tokens / completion_tokens", "int32", "token counts reported by the backend, or counted with `--tokenizer` where it reported none (-1: unknown)"),
    ("think_tokens / answer_tokens", "int32", "tokens inside and after the reasoning block"),
    ("reflection", "struct", "counts of wait, recheck, alternatively, retry, however"),
    ("verifier / verifier_version / status / score / extracted / reason", "string / float64", "the verdict"),
    ("prompt_samples / prompt_correct / prompt_pass_rate", "int32 / float64", "the prompt's outcome"),
    ("accepted / reject_reason", "bool / string", "whether the row is in `accepted`, and why not"),
    ("model / backend / sampling", "string / struct", "provenance: teacher (per sample), backend, sampling parameters"),
    ("metadata", "string", "the input's pass-through columns (`--keep-column`) as JSON, null when none"),
]


def load_context(path: Any) -> dict[str, str]:
    """Template variables of a card's "Load it" section: the folder the dataset was written to (no
    Hub id is invented) and how the same call reads it once uploaded."""
    shown = str(path) if path is not None else "path/to/this/folder"
    return {
        "path": json.dumps(shown),  # a Python string literal, quotes and backslashes escaped
        "hub_note": (
            "`load_dataset` reads the folder as it is (the card's `configs:` name every config and split). "
            "After uploading the folder to a Hub dataset repository (e.g. `hf upload <user>/<repo> <folder> "
            "--repo-type dataset`), the same calls work with `\"<user>/<repo>\"` in place of the path."
        ),
    }


def render_distill_card(manifest: dict[str, Any], path: Any = None, *, preset_notes: Sequence[str] = ()) -> str:
    """The card; ``path`` is the folder the dataset was written to (what its ``load_dataset`` snippet loads),
    ``preset_notes`` the notes of the preset it was built with (the caller's: ``hub`` imports nothing
    of ``datagen``)."""
    splits = []
    for key, entry in manifest["splits"].items():
        config, split = layout.parse_split_key(key)
        splits.append({"config": config, "split": split, "rows": entry["rows"], "shards": len(entry["shards"])})
    stats = manifest["stats"]
    histogram = stats["pass_rate_histogram"]
    peak = max([h["prompts"] for h in histogram] + [1])
    bars = [{**h, "bar": "#" * max(0, round(30 * h["prompts"] / peak))} for h in histogram]
    card = render_card(
        "distill.md.j2", manifest, meta=META, splits=splits, stats=stats, config=manifest["build_config"],
        histogram=bars, fields=FIELDS_ALL, preset_notes=list(preset_notes),
        **load_context(path),
    )
    return with_default_config(card, "accepted")


def with_default_config(card: str, config: str) -> str:
    """The card with ``config`` marked ``default: true`` in its YAML ``configs:``, so that
    ``load_dataset(folder)`` (no config name) loads it instead of failing on several configs."""
    import yaml

    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    for entry in meta.get("configs", []):
        if entry.get("config_name") == config:
            entry["default"] = True
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n" + body
