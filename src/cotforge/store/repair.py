"""Keeping a dataset folder honest while it is built or repaired.

- :func:`unlisted_files`: files under ``data/`` that the manifest (or journal) does not list. They
  would be loaded by ``load_dataset``'s ``data/<config>/<split>-*`` patterns, so they are moved
  aside by :func:`quarantine` into a sibling folder ``<DIR>.unlisted-<UTC time>/`` (outside the
  dataset, so never loaded and never published) and never deleted.
- :data:`STUB_CARD`: the card a folder carries while shards are being written or replaced. Its
  only config points at a file that does not exist, so ``datasets.load_dataset(DIR)`` (any config)
  fails with ``Unable to find '.../BUILD-UNFINISHED/rerun-the-build-command-to-finish-it.parquet'``
  instead of loading a partial folder. The real card and manifest are written by ``finish()``.
- :func:`recover_from_shards`: rebuild the journal of a finished build whose ``manifest.json`` is
  unreadable from the build identity each shard carries in its Parquet footer.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from cotforge.store import layout

STUB_CARD = """---
configs:
- config_name: unfinished_build
  data_files:
  - split: train
    path: BUILD-UNFINISHED/rerun-the-build-command-to-finish-it.parquet
---
# Unfinished build

This folder is being written by cotforge, or its build was interrupted. Nothing in it is a
dataset yet: rerun the build command to finish it (finished work is kept). The real card and
`manifest.json` are written when the build finishes.
"""

#: Parquet footer key holding a shard's build identity (see :func:`shard_identity`).
IDENTITY_KEY = b"cotforge.shard"
_FINAL_RE = re.compile(r"^(?P<split>.+?)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")


def is_stub_card(root: Path) -> bool:
    try:
        return (root / layout.CARD).read_text(encoding="utf-8") == STUB_CARD
    except (OSError, UnicodeDecodeError):
        return False


def data_files(root: Path) -> list[str]:
    """Every file under ``data/`` (hidden ones too), as root-relative posix paths."""
    data = root / "data"
    if not data.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in data.rglob("*") if p.is_file() or p.is_symlink())


def unlisted_files(root: str | Path, listed: set[str] | None = None) -> list[str]:
    """Files under ``data/`` that are not in ``listed`` (default: the shards ``manifest.json`` lists)."""
    root = Path(root)
    if listed is None:
        from cotforge.store.manifest import manifest_shards, read_manifest

        listed = {s.path for shards in manifest_shards(read_manifest(root)).values() for s in shards}
    return [p for p in data_files(root) if p not in listed]


def quarantine(root: Path, paths: list[str]) -> Path | None:
    """Move ``paths`` (root-relative) into ``<root>.unlisted-<UTC time>/``, keeping their relative paths."""
    if not paths:
        return None
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    resolved = root.resolve()
    dest_root = resolved.parent / f"{resolved.name}.unlisted-{stamp}"
    for rel in paths:
        dest = dest_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / rel, dest)
    _prune_empty_dirs(root / "data")
    sys.stderr.write(f"warning: {root}: {len(paths)} file(s) under data/ that the build does not list were moved "
                     f"to {dest_root} (not deleted; not part of the dataset): {', '.join(paths[:3])}"
                     f"{' ...' if len(paths) > 3 else ''}\n")
    return dest_root


def _prune_empty_dirs(top: Path) -> None:
    if not top.is_dir():
        return
    for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()
        except OSError:
            pass


def shard_identity(build_hash: str, key: str, index: int) -> dict[bytes, bytes]:
    """Footer metadata naming the build, split and index a shard belongs to."""
    return {IDENTITY_KEY: json.dumps({"build_hash": build_hash, "split": key, "index": index}).encode()}


def recover_from_shards(root: Path, build_hash: str) -> dict[str, dict[str, Any]] | None:
    """Journal splits for ``build_hash`` rebuilt from the finished shards under ``data/``, or None.

    Only complete splits are recovered: every ``<split>-NNNNN-of-TTTTT`` for 0..T-1 present, each
    naming this build and its own place in its footer, and each readable end to end (Parquet page
    checksums verified), so a shard that is damaged as well is not trusted.
    """
    import pyarrow.parquet as pq

    from cotforge.store.atomic import sha256_file

    found: dict[str, dict[int, dict[str, Any]]] = {}
    totals: dict[str, int] = {}
    for rel in data_files(root):
        parts = rel.split("/")
        match = _FINAL_RE.match(parts[-1]) if len(parts) == 3 else None
        if not match:
            continue
        key = layout.split_key(parts[1], match["split"])
        index, total = int(match["index"]), int(match["total"])
        try:
            meta = pq.read_metadata(root / rel).metadata or {}
            ident = json.loads(meta.get(IDENTITY_KEY, b"{}"))
            if ident != {"build_hash": build_hash, "split": key, "index": index}:
                continue
            rows = pq.read_table(root / rel, page_checksum_verification=True).num_rows
        except Exception:  # unreadable or damaged: not trusted, rebuilt
            continue
        if totals.setdefault(key, total) != total:
            return None
        found.setdefault(key, {})[index] = {
            "path": rel, "rows": rows, "sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size,
        }
    splits = {}
    for key, shards in found.items():
        if sorted(shards) == list(range(totals[key])):
            splits[key] = {"shards": [shards[i] for i in range(totals[key])], "complete": True}
    return splits or None
