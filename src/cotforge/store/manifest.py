"""``manifest.json``: what a dataset is and how it was made.

Holds the name and semantic version, the cotforge version and git commit that built it, the resolved
build config and its hash, seeds, inputs with their content hashes, every shard's sha256 and row
count, and one content hash over all shards. Same config and seed -> same shards -> same content hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from cotforge import __version__
from cotforge.errors import UsageError
from cotforge.store import layout
from cotforge.store.shards import ShardInfo

FORMAT_VERSION = 1


class ManifestError(UsageError):
    """``manifest.json`` is unreadable or not shaped like a manifest."""


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the cotforge source tree in use, or None when it is not a git checkout."""
    src = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def content_hash(splits: dict[str, list[ShardInfo]]) -> str:
    """One hash for the whole dataset: over each shard's path and sha256, in a fixed order."""
    h = hashlib.sha256()
    for key in sorted(splits):
        for shard in splits[key]:
            h.update(f"{shard.path}\t{shard.sha256}\t{shard.rows}\n".encode())
    return h.hexdigest()


def build_manifest(
    *,
    name: str,
    family: str,
    version: str,
    command: str,
    build_config: dict[str, Any],
    build_hash: str,
    seeds: dict[str, Any],
    inputs: list[dict[str, Any]],
    splits: dict[str, list[ShardInfo]],
    notes: list[str],
    stats: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "family": family,
        "version": version,
        "cotforge_version": __version__,
        "git_commit": git_commit(),
        "command": command,
        "build_config": build_config,
        "build_hash": build_hash,
        "seeds": seeds,
        "inputs": inputs,
        "splits": {
            key: {"rows": sum(s.rows for s in shards), "shards": [s.to_dict() for s in shards]}
            for key, shards in sorted(splits.items())
        },
        "content_hash": content_hash(splits),
        "notes": notes,
        "stats": stats,
    }


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest as a dict. A missing file raises ``FileNotFoundError``; anything that is not a
    manifest (truncated JSON, ``[]``, splits that are not shard lists, bad UTF-8) raises
    :class:`ManifestError`, a ``UsageError`` (so a ``ValueError``) naming the file."""
    path = Path(root) / layout.MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{root}: not a cotforge dataset (no {layout.MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: malformed manifest: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: malformed manifest: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(manifest: Any, path: str | Path = layout.MANIFEST) -> None:
    """Raise :class:`ManifestError` unless ``manifest`` has the shape every reader relies on."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: malformed manifest: a JSON {type(manifest).__name__}, not an object")
    splits = manifest.get("splits", {})
    if not isinstance(splits, dict):
        raise ManifestError(f"{path}: malformed manifest: 'splits' is not an object")
    for key, entry in splits.items():
        shards = entry.get("shards") if isinstance(entry, dict) else None
        if not isinstance(shards, list):
            raise ManifestError(f"{path}: malformed manifest: split {key!r} has no list of shards")
        for i, shard in enumerate(shards):
            try:
                ShardInfo.from_dict(shard)
            except (TypeError, KeyError, ValueError, AttributeError):
                raise ManifestError(f"{path}: malformed manifest: split {key!r} shard {i} lacks path/rows/sha256/bytes") from None
            if not str(shard["path"]).startswith("data/") or ".." in Path(shard["path"]).parts:
                raise ManifestError(f"{path}: malformed manifest: split {key!r} shard {i} lies outside data/")


def manifest_shards(manifest: dict[str, Any]) -> dict[str, list[ShardInfo]]:
    return {
        key: [ShardInfo.from_dict(s) for s in entry["shards"]]
        for key, entry in manifest.get("splits", {}).items()
    }
