"""The journal of a build in progress (``.cotforge/journal.json``): the build hash, and per split
the shards committed so far, whether the split is complete and, while its shards are being renamed
to their final names, those names (so a crash mid-rename finds each shard at one of the two)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotforge.store.shards import ShardInfo


@dataclass
class Journal:
    build_hash: str
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"build_hash": self.build_hash, "splits": self.splits}

    def listed(self) -> set[str]:
        out: set[str] = set()
        for entry in self.splits.values():
            out.update(s["path"] for s in entry.get("shards", []))
            out.update(entry.get("final", []))
        return out


def read_journal(path: Path) -> Journal:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("splits", {}), dict):
        raise ValueError("not a journal")
    for entry in data.get("splits", {}).values():
        for shard in entry["shards"]:
            ShardInfo.from_dict(shard)  # raises on a malformed entry: the journal is unreadable
    return Journal(str(data["build_hash"]), data.get("splits", {}))
