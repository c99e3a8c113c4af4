"""Input problems -> deduplicated chat prompts (:class:`PromptItem`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from cotforge.datagen.distill.config import DistillConfig, short_hash


@dataclass(frozen=True)
class PromptItem:
    """One prompt to sample: its content-hash id, position, gold answer, domain and chat messages."""

    prompt_id: str
    prompt_index: int
    problem: str
    answer: str
    domain: str
    messages: tuple[dict[str, str], ...]
    metadata: str | None = None  # the input's pass-through columns as canonical JSON (``--keep-column``)


def make_items(problems: Sequence[Any], cfg: DistillConfig) -> tuple[list[PromptItem], int]:
    """Chat prompts for the input problems, deduplicated by content; returns (items, duplicates dropped).

    Every domain is checked against the verifier map here, before anything is generated.
    """
    from cotforge.datagen.presets import PromptTemplate

    template = PromptTemplate(**cfg.template)
    seen: set[str] = set()
    items: list[PromptItem] = []
    duplicates = 0
    checked: set[str] = set()
    for p in problems:
        if p.domain not in checked:
            cfg.verifier_for(p.domain)
            checked.add(p.domain)
        messages = tuple(p.messages) if p.messages else tuple(template.messages(p.problem))
        pid = short_hash("prompt", [dict(m) for m in messages], p.answer, p.domain)
        if pid in seen:
            duplicates += 1
            continue
        seen.add(pid)
        meta = getattr(p, "metadata", None)
        metadata = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str) if meta else None
        items.append(PromptItem(pid, len(items), p.problem, p.answer, p.domain, messages, metadata))
    return items, duplicates
