"""Reading a finished dataset folder back: its shard files, and whether they are intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.store import atomic, layout
from cotforge.store.manifest import manifest_shards, read_manifest
from cotforge.store.repair import unlisted_files


def split_paths(root: str | Path, manifest: dict[str, Any] | None = None) -> dict[str, list[Path]]:
    """Finished shard files per ``config/split`` key, from the manifest."""
    root = Path(root)
    manifest = manifest or read_manifest(root)
    return {k: [root / s.path for s in v] for k, v in manifest_shards(manifest).items()}


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
            path = root / s.path
            if not path.is_file():
                problems.append(f"{s.path}: missing")
            elif path.stat().st_size != s.bytes or atomic.sha256_file(path) != s.sha256:
                problems.append(f"{s.path}: sha256 mismatch (corrupted)")
    for rel in unlisted_files(root):
        problems.append(f"{rel}: not listed in {layout.MANIFEST} (unlisted; the build command moves it aside)")
    return problems
