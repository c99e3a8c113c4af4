"""Is a folder fit to publish? A finished build, intact shards, a card that matches its files.

Checked before anything is sent, so a refused folder leaves the Hub untouched:

- no ``.cotforge/`` (the journal and staging area of a build that has not finished);
- ``manifest.json`` readable, with a semantic version; every shard it lists present with the sha256
  it records, the manifest's content hash equal to the one recomputed from its shards, and no
  Parquet file under ``data/`` that the manifest does not list;
- ``README.md`` with YAML front matter whose ``configs:`` patterns (what ``load_dataset`` reads)
  each match at least one file and only shards the manifest lists, and read every listed shard
  (a config may combine several splits' shards, as K&K's ``3-4ppl`` does).

Model folders (``--repo-type model``) need no manifest; when one is there it is checked the same way.
Every file is hashed once; the folder's *files hash* covers every file that is published except the
card, the manifest, the version history (those are rewritten by publishing) and ``.gitattributes``
(the Hub creates one), so two folders with the same files hash publish the same content.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cotforge.errors import UsageError
from cotforge.hub.versions import parse_version
from cotforge.store import atomic, layout
from cotforge.store.manifest import content_hash, manifest_shards, read_manifest

#: Never published: a build's working files, VCS and cache folders.
SKIPPED_DIRS = (layout.WORK_DIR, ".git", ".cache")
#: Left out of the files hash: rewritten by publishing, or (``.gitattributes``) managed by the Hub.
REWRITTEN = (layout.CARD, layout.MANIFEST, "versions.json", ".gitattributes")


class FolderRefused(UsageError):
    """A folder that cannot be published (or a download that does not verify), with the reason."""


@dataclass
class CheckedFolder:
    root: Path
    manifest: dict[str, Any] | None
    files: dict[str, str]  # relative posix path -> sha256, every file that will be uploaded
    files_hash: str
    card: str | None
    rows: dict[str, int] = field(default_factory=dict)  # config/split -> rows (datasets)

    @property
    def content_hash(self) -> str:
        """The manifest's dataset content hash where there is one, else the files hash."""
        if self.manifest and self.manifest.get("content_hash"):
            return self.manifest["content_hash"]
        return self.files_hash

    @property
    def version(self) -> str | None:
        return self.manifest.get("version") if self.manifest else None

    @property
    def first_config(self) -> str | None:
        configs = [k.partition("/")[0] for k, n in self.rows.items() if n]
        return configs[0] if configs else None


def _refuse(root: Path, reason: str) -> FolderRefused:
    return FolderRefused(f"{root}: {reason}")


def list_files(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIPPED_DIRS or not path.is_file():
            continue
        out.append(rel.as_posix())
    return out


def files_hash(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        if rel not in REWRITTEN:
            h.update(f"{rel}\t{files[rel]}\n".encode())
    return h.hexdigest()


def card_front_matter(card: str, where: str) -> dict[str, Any]:
    """The YAML front matter of a card (``{}`` when it has none); malformed YAML is an error."""
    if not card.startswith("---"):
        return {}
    end = card.find("\n---", 3)
    if end == -1:
        raise FolderRefused(f"{where}: YAML front matter is not closed by a '---' line")
    try:
        data = yaml.safe_load(card[3:end])
    except yaml.YAMLError as exc:
        raise FolderRefused(f"{where}: YAML front matter does not parse: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FolderRefused(f"{where}: YAML front matter is not a mapping")
    return data


def _card_configs(front: dict[str, Any], where: str) -> list[tuple[str, str, str]]:
    """(config, split, pattern) for every ``data_files`` pattern of the card's ``configs:``."""
    out = []
    configs = front.get("configs") or []
    if not isinstance(configs, list):
        raise FolderRefused(f"{where}: YAML configs: is not a list")
    for entry in configs:
        if not isinstance(entry, dict):
            raise FolderRefused(f"{where}: YAML configs: an entry is not a mapping")
        name = str(entry.get("config_name", "default"))
        files = entry.get("data_files") or []
        for f in files if isinstance(files, list) else [files]:
            split, paths = ("train", f) if isinstance(f, str) else (str(f.get("split", "train")), f.get("path"))
            for p in paths if isinstance(paths, list) else [paths]:
                out.append((name, split, str(p)))
    return out


def _matches(pattern: str, path: str) -> bool:
    """Glob match as ``datasets`` resolves data_files: ``*`` stays within one path part; ``**`` spans."""
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    parts, pat = path.split("/"), pattern.split("/")
    return len(parts) == len(pat) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pat))


def _check_card_configs(root: Path, front: dict[str, Any], manifest: dict[str, Any], files: dict[str, str]) -> None:
    """Each card pattern reads only shards the manifest lists (and at least one); every non-empty
    split's shards are read by some pattern. Combined configs (one config over several) are fine."""
    where = layout.CARD
    shards = {s.path for shard_list in manifest_shards(manifest).values() for s in shard_list}
    covered: set[str] = set()
    for config, split, pattern in _card_configs(front, where):
        hit = [f for f in files if _matches(pattern, f)]
        if not hit:
            raise _refuse(root, f"{where}: YAML configs do not match the data files ({config}/{split}: "
                                f"{pattern} matches no file)")
        unlisted = [f for f in hit if f not in shards]
        if unlisted:
            raise _refuse(root, f"{where}: YAML configs do not match the data files ({config}/{split}: "
                                f"{pattern} reads {unlisted[0]}, which {layout.MANIFEST} does not list)")
        covered.update(hit)
    for key, shard_list in sorted(manifest_shards(manifest).items()):
        missing = [s.path for s in shard_list if s.path not in covered]
        if missing:
            raise _refuse(root, f"{where}: YAML configs do not match the data files (missing {key}: "
                                f"{missing[0]} is read by no config)")


def _check_manifest(root: Path, manifest: dict[str, Any], files: dict[str, str]) -> dict[str, int]:
    _check_version(manifest.get("version"), root)
    shards = manifest_shards(manifest)
    listed = set()
    for key, shard_list in sorted(shards.items()):
        for s in shard_list:
            listed.add(s.path)
            if s.path not in files:
                raise _refuse(root, f"{s.path}: listed in {layout.MANIFEST} but missing")
            if files[s.path] != s.sha256:
                raise _refuse(root, f"{s.path}: sha256 differs from {layout.MANIFEST} (corrupted or changed after the build)")
    if manifest.get("content_hash") is not None and content_hash(shards) != manifest["content_hash"]:
        raise _refuse(root, f"{layout.MANIFEST}: content_hash does not match its shards (edited by hand?)")
    strays = [f for f in files if f.startswith("data/") and f.endswith(".parquet") and f not in listed]
    if strays:
        raise _refuse(root, f"{strays[0]}: a data file that {layout.MANIFEST} does not list")
    return {k: int(v.get("rows", 0)) for k, v in manifest.get("splits", {}).items()}


def _check_version(value: Any, root: Path) -> None:
    if value is None:
        raise _refuse(root, f"{layout.MANIFEST} has no version")
    parse_version(str(value), f"{root / layout.MANIFEST}: version")


def check_folder(root: str | Path, repo_type: str = "dataset") -> CheckedFolder:
    """Check ``root`` for publishing; raises :class:`UsageError` with the reason when it is unfit."""
    root = Path(root)
    if not root.is_dir():
        raise FolderRefused(f"{root}: not a folder")
    if (root / layout.WORK_DIR).exists():
        raise _refuse(root, f"{layout.WORK_DIR}/ is present: the build has not finished (rerun its command to finish it)")
    files = {rel: atomic.sha256_file(root / rel) for rel in list_files(root)}
    if not files:
        raise _refuse(root, "the folder is empty")
    manifest = None
    rows: dict[str, int] = {}
    if (root / layout.MANIFEST).is_file():
        try:
            manifest = read_manifest(root)
        except ValueError as exc:
            raise _refuse(root, str(exc)) from None
        rows = _check_manifest(root, manifest, files)
    elif repo_type == "dataset":
        raise _refuse(root, f"no {layout.MANIFEST}: not a cotforge dataset folder")

    card = None
    if (root / layout.CARD).is_file():
        card = (root / layout.CARD).read_text(encoding="utf-8")
        front = card_front_matter(card, str(root / layout.CARD))
        if manifest is not None and "splits" in manifest:
            _check_card_configs(root, front, manifest, files)
    elif repo_type == "dataset":
        raise _refuse(root, f"no {layout.CARD} (the card whose configs: make load_dataset work)")
    return CheckedFolder(root, manifest, files, files_hash(files), card, rows)
