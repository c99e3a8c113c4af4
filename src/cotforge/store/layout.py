"""Paths of a dataset folder laid out as a Hugging Face Hub dataset repo.

```
DIR/README.md                                         the card (YAML ``configs:`` + prose)
DIR/manifest.json                                     lineage: config, seeds, shard hashes, content hash
DIR/data/<config>/<split>-NNNNN-of-NNNNN.parquet      finished shards
DIR/.cotforge/journal.json, .cotforge/staging/...      build in progress (removed when the build finishes)
DIR/.cotforge/lock                                    held (flock) by the one process writing the folder
```
"""

from __future__ import annotations

import re
from pathlib import Path

MANIFEST = "manifest.json"
CARD = "README.md"
WORK_DIR = ".cotforge"
JOURNAL = f"{WORK_DIR}/journal.json"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def check_name(kind: str, name: str) -> str:
    """Config and split names become path parts and SQL view names: keep them plain."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: use letters, digits, '_', '-', '.'")
    return name


def final_shard(config: str, split: str, index: int, total: int) -> str:
    return f"data/{config}/{split}-{index:05d}-of-{total:05d}.parquet"


def staging_shard(config: str, split: str, index: int) -> str:
    return f"{WORK_DIR}/staging/{config}/{split}-{index:05d}.parquet"


def repair_shard(config: str, split: str, index: int) -> str:
    """Where a replacement for a damaged shard is written before it takes the damaged one's place."""
    return f"{WORK_DIR}/staging/{config}/{split}-{index:05d}.repair.parquet"


def is_split_shard(name: str, split: str) -> bool:
    """Is ``name`` a finished shard of ``split`` exactly (``train-*`` must not take ``train-hard-*``)?"""
    return re.fullmatch(re.escape(split) + r"-\d{5}-of-\d{5}\.parquet", name) is not None


def split_glob(config: str, split: str) -> str:
    """The data_files pattern of one split, as the card's YAML and ``load_dataset`` use it."""
    return f"data/{config}/{split}-*.parquet"


def split_key(config: str, split: str) -> str:
    return f"{config}/{split}"


def parse_split_key(key: str) -> tuple[str, str]:
    config, _, split = key.partition("/")
    return config, split


def stale_shards(root: Path, config: str, split: str, keep: set[str]) -> list[Path]:
    """Finished-shard files of a split that the current build does not list (e.g. an older shard count)."""
    folder = root / "data" / config
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"{split}-*.parquet")
            if is_split_shard(p.name, split) and f"data/{config}/{p.name}" not in keep]
