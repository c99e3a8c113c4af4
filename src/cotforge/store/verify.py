"""Reading a finished dataset folder back: its shard files, and whether they are intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.store import atomic, layout
from cotforge.store.manifest import manifest_shards, read_manifest
from cotforge.store.repair import unlisted_files
from cotforge.store.shards import ShardInfo


def split_paths(root: str | Path, manifest: dict[str, Any] | None = None, *, check: bool = True,
                keys: list[str] | None = None) -> dict[str, list[Path]]:
    """Finished shard files per ``config/split`` key (only ``keys``, when given), from the manifest.

    ``check``: each shard must still be the file the manifest lists (size and SHA-256), else a
    :class:`UsageError` names it and the command that repairs the folder - a reader then never
    meets a damaged shard as a decompression traceback, or as silently different rows.
    """
    root = Path(root)
    manifest = manifest or read_manifest(root)
    shards = manifest_shards(manifest)
    if keys is not None:
        shards = {k: shards[k] for k in keys if k in shards}
    if check:
        for listed in shards.values():
            require_intact(root, listed, manifest)
    return {k: [root / s.path for s in v] for k, v in shards.items()}


def shard_problem(root: Path, shard: ShardInfo) -> str | None:
    """Why a listed shard cannot be read as written ("missing", "damaged ..."), or None."""
    path = root / shard.path
    if not path.is_file():
        return "missing"
    if path.stat().st_size != shard.bytes or atomic.sha256_file(path) != shard.sha256:
        return "damaged (its size or SHA-256 is not the one in manifest.json)"
    return None


def require_intact(root: Path, shards: list[ShardInfo], manifest: dict[str, Any]) -> None:
    """Raise a :class:`UsageError` naming the first missing or damaged shard of ``shards``."""
    for s in shards:
        problem = shard_problem(root, s)
        if problem is not None:
            rerun = f": {manifest['command']}" if manifest.get("command") else ""
            raise UsageError(f"{root / s.path}: {problem}; rerun the command that built the folder to repair it{rerun}")


def verify_dataset(root: str | Path) -> list[str]:
    """Problems found by re-hashing every shard against the manifest and listing ``data/`` (empty list: intact).

    Reports missing and corrupted shards, files under ``data/`` the manifest does not list, and an
    unfinished build (journal present). Changes nothing: rerunning the build command repairs.
    """
    root = Path(root)
    problems = []
    if (root / layout.JOURNAL).exists():
        problems.append(f"{layout.JOURNAL}: a build is running or was interrupted (rerun its command to finish it)")
    manifest = read_manifest(root)
    for key, shards in manifest_shards(manifest).items():
        for s in shards:
            problem = shard_problem(root, s)
            if problem is not None:
                problems.append(f"{s.path}: {'missing' if problem == 'missing' else 'sha256 mismatch (corrupted)'}")
    for rel in unlisted_files(root):
        problems.append(f"{rel}: not listed in {layout.MANIFEST} (unlisted; the build command moves it aside)")
    return problems
