"""The model card and run record every stage writes beside its saved model.

``README.md`` (Hub model card: YAML front matter, then the data, recipe, config and the stage's
accounting) and ``cotforge_train.json`` (the same facts, machine-readable; its presence marks a
finished stage, so a recipe rerun skips it). Both are written atomically, after the weights.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUN_RECORD = "cotforge_train.json"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("cotforge", "trl", "transformers", "torch", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _data_line(d: Mapping[str, Any]) -> str:
    parts = [f"folder `{d.get('path')}`"]
    if d.get("name"):
        parts.append(f"dataset `{d['name']}`")
    parts.append(f"version `{d.get('version')}`")
    parts.append(f"content hash `{d.get('content_hash')}`")
    if d.get("config"):
        parts.append(f"config `{d['config']}`, split `{d.get('split')}`")
    parts.append(f"{d.get('rows')} rows")
    return ", ".join(parts)


_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def hub_base_model(base_model: str, _seen: frozenset[str] = frozenset()) -> str | None:
    """The Hub model id a stage's weights descend from, for the card's ``base_model`` (the Hub
    rejects a card whose ``base_model`` is not a model id, and links the model to it): the id
    itself; for a local folder that an earlier cotforge stage wrote, that stage's own base model
    (an SFT -> DPO -> GRPO chain of folders leads back to the Hub model it started from); else
    None (a local model of unknown origin: the card then names no base model)."""
    path = Path(base_model)
    if path.is_dir():
        record = read_run_record(path)
        parent = str(record.get("base_model") or "") if isinstance(record, dict) else ""
        key = str(path.resolve())
        if not parent or key in _seen:
            return None
        return hub_base_model(parent, _seen | {key})
    return base_model if _HUB_ID_RE.match(base_model) and ".." not in base_model else None


def write_model_card(out: str | Path, *, stage: str, base_model: str, data: Mapping[str, Any],
                     config: Mapping[str, Any], trainer_args: Mapping[str, Any], report: Mapping[str, Any],
                     recipe: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``README.md`` and ``cotforge_train.json`` into the model folder ``out``; returns the record."""
    import yaml

    from cotforge.store.atomic import write_json, write_text

    out = Path(out)
    record = {
        "stage": stage,
        "base_model": str(base_model),
        "data": dict(data),
        "recipe": dict(recipe) if recipe else None,
        "config": dict(config),
        "trainer_args": dict(trainer_args),
        "report": dict(report),
        "versions": _versions(),
    }
    front: dict[str, Any] = {"library_name": "transformers"}
    hub_id = hub_base_model(str(base_model))
    if hub_id is not None:
        front["base_model"] = hub_id
    front.update({"tags": ["cotforge", "trl", stage], "pipeline_tag": "text-generation"})
    recipe_line = (f"recipe `{recipe.get('name')}` (`{recipe.get('file')}`), stage `{recipe.get('stage')}`"
                   if recipe else "no recipe (a single `cotforge train` run)")
    body = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {out.name}: {stage.upper()} of `{base_model}`",
        "",
        *([f"Starts from the local folder `{base_model}`, which descends from `{hub_id}`.", ""]
          if hub_id is not None and hub_id != str(base_model) else []),
        f"Trained with cotforge's `{stage}` stage on TRL.",
        "",
        "## Data",
        "",
        f"- {_data_line(data)}",
        "",
        "## Recipe",
        "",
        f"- {recipe_line}",
        "",
        "## What the stage did",
        "",
        "```json",
        json.dumps(report, indent=2, default=str),
        "```",
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(json.loads(json.dumps(dict(config), default=str)), sort_keys=False).strip(),
        "```",
        "",
        "Trainer arguments (those differing from the defaults):",
        "",
        "```yaml",
        yaml.safe_dump(json.loads(json.dumps(dict(trainer_args), default=str)), sort_keys=False).strip(),
        "```",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        "",
    ]
    write_text(out / "README.md", "\n".join(body))
    write_json(out / RUN_RECORD, json.loads(json.dumps(record, default=str)))
    return record


def read_run_record(out: str | Path) -> dict[str, Any] | None:
    """The run record of a finished stage folder, or None."""
    p = Path(out) / RUN_RECORD
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
