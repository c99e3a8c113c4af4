"""Build a dataset folder split by split, atomically and resumably, by one writer at a time.

A build is identified by the hash of its resolved config. The unit of work is a shard: after each
shard is in place the journal records it, so a build killed at any point resumes where it stopped,
keeping every shard whose sha256 still matches. A damaged shard (of a finished dataset or of an
interrupted build) is regenerated alone: when the replacement hashes the same, the shards after it
are kept; only when it differs (a source that is not deterministic) are the later shards of that
split rebuilt, because they no longer follow from it.

Sources produce rows from any start index given the rows already written (``done``, read lazily:
see :mod:`cotforge.store.resume`), so a resumed build continues exactly as an uninterrupted one
would, byte for byte.

What a folder looks like at every moment (see docs/store.md):

- one writer: :class:`~cotforge.store.lock.FolderLock` is held from the constructor to ``finish()``;
- before the first change to a folder, the journal is written, the card is replaced by a stub
  that ``datasets.load_dataset`` cannot load (:data:`~cotforge.store.repair.STUB_CARD`) and a
  finished dataset's manifest is withdrawn, so no card or manifest ever describes shards that are
  missing or being replaced; ``finish()`` writes the manifest, then the real card, then drops the
  journal;
- files under ``data/`` that the build does not list are moved aside, never loaded or deleted.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import pyarrow as pa

from cotforge.errors import UsageError
from cotforge.store import atomic, layout
from cotforge.store.journal import Journal, read_journal
from cotforge.store.lock import FolderLock
from cotforge.store.manifest import build_manifest, manifest_shards, read_manifest
from cotforge.store.repair import STUB_CARD, is_stub_card, quarantine, recover_from_shards, shard_identity, unlisted_files
from cotforge.store.resume import kept_tables
from cotforge.store.shards import ShardInfo, ShardLimits, write_shards

WITHDRAWN_MANIFEST = f"{layout.WORK_DIR}/manifest.withdrawn.json"


class SplitSource(Protocol):
    """What the store asks of a producer of rows.

    Optional: ``resume_columns`` (tuple of names): the only columns of the kept shards that
    ``rows(start, done)`` reads from ``done``.
    """

    schema: pa.Schema

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]: ...


@dataclass
class SplitResult:
    key: str
    shards: list[ShardInfo]
    reused_rows: int  # rows kept from an earlier (interrupted or finished) run
    written_rows: int

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


def _give_up(lock: FolderLock, root: Path, root_existed: bool, state: dict[str, bool]) -> None:
    """Release ``lock``; if nothing was committed, first remove what the writer created."""
    if not lock.held:  # never ours (another process holds it): touch nothing
        return
    if not state["committed"]:
        if not root_existed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            shutil.rmtree(root / layout.WORK_DIR / "staging", ignore_errors=True)
    lock.release()


class DatasetWriter:
    """Writes one dataset folder. Refuses a folder holding a different build unless ``overwrite``,
    and refuses a folder another process is writing (naming that process).

    A refused build leaves the folder exactly as it was; a build that fails before committing a
    shard leaves no trace.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        name: str,
        family: str,
        version: str,
        build_config: dict[str, Any],
        seeds: dict[str, Any],
        command: str,
        overwrite: bool = False,
        limits: ShardLimits = ShardLimits(),
        inputs: list[dict[str, Any]] | None = None,
    ):
        self.root = Path(root)
        self.name, self.family, self.version = name, family, version
        self.build_config, self.seeds, self.command = build_config, seeds, command
        self.inputs = inputs or []
        self.limits = limits
        self.build_hash = atomic.stable_hash({"family": family, "version": version, "config": build_config})
        self._results: dict[str, list[ShardInfo]] = {}
        self._notes: list[str] = []
        self._changing = False  # journal written, stub card up, manifest withdrawn
        self._finished_folder = False  # the folder held this build, finished (manifest, no journal)
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"--out {self.root}: exists and is not a folder")
        self._root_existed = self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {self.root}: cannot create the folder: {exc.strerror or exc}") from None
        self._lock = FolderLock(self.root, command)
        self._state = {"committed": False}
        # a writer dropped (or left at exit) without finish(): the same clean-up as a failed build
        self._release_at_exit = weakref.finalize(self, _give_up, self._lock, self.root, self._root_existed, self._state)
        try:
            self._lock.acquire()
            self._journal = self._open(overwrite)
        except BaseException:
            self._release(discard=True)
            raise
        self._persisted = (self.root / layout.JOURNAL).exists()

    # ------------------------------------------------------------------ folder state
    def _open(self, overwrite: bool) -> Journal:
        root = self.root
        journal_path = root / layout.JOURNAL
        manifest_path = root / layout.MANIFEST
        existing_hash: str | None = None
        journal: Journal | None = None
        unreadable = ""
        if journal_path.exists():
            try:
                journal = read_journal(journal_path)
                existing_hash = journal.build_hash
            except (ValueError, KeyError, TypeError):
                journal = self._recover(f"{journal_path}: unreadable journal")
                existing_hash = self.build_hash if journal else "unreadable journal"
                unreadable = f"{layout.JOURNAL} is unreadable and no shard identifies this build"
        elif manifest_path.exists():
            try:
                manifest = read_manifest(root)
                existing_hash = manifest.get("build_hash")
                journal = Journal(existing_hash, {k: {"shards": [s.to_dict() for s in v], "complete": True}
                                                   for k, v in manifest_shards(manifest).items()})
                self._finished_folder = True
            except ValueError as exc:
                journal = self._recover(str(exc))
                self._finished_folder = journal is not None
                existing_hash = self.build_hash if journal else "unreadable manifest"
                unreadable = f"{exc}; no shard identifies this build"
        else:
            foreign = [p.name for p in root.iterdir()
                       if p.name != layout.WORK_DIR and not (p.name == layout.CARD and is_stub_card(root))
                       and not (p.name == "data" and p.is_dir() and not any(q.is_file() for q in p.rglob("*")))]
            # a deleted manifest is like an unreadable one: shards whose footers name this very
            # build are ours, so the folder is recovered from them; anything else is not ours
            journal = self._recover(f"{manifest_path} is missing") if foreign and "data" in foreign else None
            if journal is not None:
                existing_hash, self._finished_folder = self.build_hash, True
            elif foreign:
                raise UsageError(f"--out {root}: folder is not empty and holds no cotforge dataset "
                                 f"(found {', '.join(sorted(foreign)[:3])}); choose an empty or new folder")

        if existing_hash is not None and existing_hash != self.build_hash:
            if not overwrite:
                what = unreadable or f"holds a different build (build hash {str(existing_hash)[:12]}, this one {self.build_hash[:12]})"
                raise UsageError(f"--out {root}: {what}; pass --overwrite to replace it")
            strays = unlisted_files(root, journal.listed() if journal else set())
            if quarantine(root, strays):
                self._notes.append(f"--overwrite: {len(strays)} file(s) under data/ that the old build did not list were moved aside, not deleted.")
            for part in ("data", layout.JOURNAL, f"{layout.WORK_DIR}/staging", WITHDRAWN_MANIFEST, layout.MANIFEST, layout.CARD):
                target = root / part
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            journal = None
            self._finished_folder = False
        if journal is None or journal.build_hash != self.build_hash:
            journal = Journal(self.build_hash)
        self._remove_leftovers()
        strays = unlisted_files(root, journal.listed())
        moved = quarantine(root, strays)
        if moved:
            self._notes.append(f"{len(strays)} file(s) found under data/ that this build does not list were moved to "
                               f"{moved} (never loaded, not deleted).")
        return journal

    def _recover(self, problem: str) -> Journal | None:
        """The journal of this build rebuilt from the footers of its finished shards, or None."""
        recovered = recover_from_shards(self.root, self.build_hash)
        if not recovered:
            return None
        sys.stderr.write(f"warning: {problem}; recovered {len(recovered)} split(s) of this build from the shards "
                         f"themselves (their footers name this build); rebuilding the rest\n")
        return Journal(self.build_hash, recovered)

    def _remove_leftovers(self) -> None:
        """Temporary files of a writer that was killed mid-write (we hold the lock: they are no one's)."""
        for name in (layout.CARD, layout.MANIFEST):
            for tmp in self.root.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        work = self.root / layout.WORK_DIR
        if work.is_dir():
            for tmp in [*work.glob(".*.tmp"), *work.glob("staging/**/.*.writing")]:
                tmp.unlink(missing_ok=True)

    def _begin_changes(self) -> None:
        """Before the first change to the folder: journal, stub card, manifest withdrawn (in that order)."""
        if self._changing:
            return
        atomic.write_json(self.root / layout.JOURNAL, self._journal.to_dict())
        self._persisted = True
        if not is_stub_card(self.root):
            atomic.write_text(self.root / layout.CARD, STUB_CARD)
        if (self.root / layout.MANIFEST).exists():
            os.replace(self.root / layout.MANIFEST, self.root / WITHDRAWN_MANIFEST)
        self._changing = True

    def _save(self) -> None:
        if not self._changing:
            self._begin_changes()
        else:
            atomic.write_json(self.root / layout.JOURNAL, self._journal.to_dict())

    @property
    def _persisted(self) -> bool:
        """Whether the folder holds this build's journal (so it must be kept up to date, never discarded)."""
        return self._state["committed"]

    @_persisted.setter
    def _persisted(self, value: bool) -> None:
        self._state["committed"] = value

    def _release(self, *, discard: bool) -> None:
        """Drop the lock; with ``discard``, first remove what this build created if it committed nothing."""
        _give_up(self._lock, self.root, self._root_existed,
                 self._state if discard and not self._changing else {"committed": True})

    def _ensure_locked(self) -> None:
        if not self._lock.held:
            self._lock.acquire()

    # ------------------------------------------------------------------ splits
    def _checked(self, key: str) -> tuple[list[ShardInfo], list[bool], bool]:
        """The journal's shards of ``key`` (at whichever of their recorded places the file is), whether
        each still hashes right, and whether the split was complete."""
        entry = self._journal.splits.get(key)
        if not entry:
            return [], [], False
        finals = entry.get("final", [])
        shards, ok = [], []
        for i, d in enumerate(entry["shards"]):
            shard = ShardInfo.from_dict(d)
            for candidate in [shard.path] + ([finals[i]] if i < len(finals) else []):
                if self._intact(candidate, shard):
                    shards.append(ShardInfo(candidate, shard.rows, shard.sha256, shard.bytes))
                    ok.append(True)
                    break
            else:
                shards.append(shard)
                ok.append(False)
        return shards, ok, bool(entry.get("complete", False))

    def _intact(self, rel: str, shard: ShardInfo) -> bool:
        path = self.root / rel
        return path.is_file() and path.stat().st_size == shard.bytes and atomic.sha256_file(path) == shard.sha256

    def _record(self, key: str, shards: list[ShardInfo], complete: bool, final: list[str] | None = None,
                *, commit: bool = True) -> None:
        """Update the journal; ``commit=False`` writes it only if the folder is already being changed
        (so a fresh build that fails before its first shard leaves nothing behind)."""
        entry: dict[str, Any] = {"shards": [s.to_dict() for s in shards], "complete": complete}
        if final:
            entry["final"] = final
        self._journal.splits[key] = entry
        if commit or self._changing:
            self._save()

    def _drop(self, shards: list[ShardInfo]) -> None:
        for s in shards:  # this build's own shards (listed in its journal): removing them loses nothing
            (self.root / s.path).unlink(missing_ok=True)

    def _write(self, config: str, split: str, source: SplitSource, done: list[ShardInfo], *, name, limits,
               rows_cap: int | None = None, on_shard, on_rows) -> None:
        key = layout.split_key(config, split)
        columns = getattr(source, "resume_columns", None)
        rows = source.rows(sum(s.rows for s in done), kept_tables(self.root, [s.path for s in done], columns))
        try:
            write_shards(
                rows if rows_cap is None else itertools.islice(rows, rows_cap), source.schema,
                root=self.root, staging_name=name, first_shard=len(done), limits=limits,
                on_shard=on_shard, on_rows=on_rows, footer=lambda k: shard_identity(self.build_hash, key, k),
            )
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def _repair(self, config: str, split: str, source: SplitSource, shards: list[ShardInfo], i: int,
                on_rows) -> ShardInfo | None:
        """Regenerate shard ``i`` alone; returns the new shard (at a staging path) or None if no rows came."""
        made: list[ShardInfo] = []
        self._write(config, split, source, shards[:i], name=lambda k: layout.repair_shard(config, split, k),
                    limits=ShardLimits(max_rows=shards[i].rows, max_bytes=1 << 62), rows_cap=shards[i].rows,
                    on_shard=made.append, on_rows=on_rows)
        return made[0] if made else None

    def write_split(
        self,
        config: str,
        split: str,
        source: SplitSource,
        *,
        on_rows: Callable[[int], None] | None = None,
    ) -> SplitResult:
        """Write (or resume, or verify and repair) one split; returns its shards in their final places."""
        layout.check_name("config", config)
        layout.check_name("split", split)
        key = layout.split_key(config, split)
        self._ensure_locked()
        shards, ok, complete = self._checked(key)
        reused = sum(s.rows for s, good in zip(shards, ok) if good)
        if on_rows and reused:
            on_rows(reused)
        if complete and all(ok):
            self._results[key] = shards
            return SplitResult(key, shards, reused, 0)
        try:
            if self._finished_folder or self._persisted:
                self._begin_changes()  # shards of a dataset someone may load are about to change
            i = 0
            while i < len(shards):
                if ok[i]:
                    i += 1
                    continue
                sys.stderr.write(f"warning: {self.root / shards[i].path}: missing or damaged (its size or SHA-256 is not "
                                 f"the recorded one); regenerating it\n")
                (self.root / shards[i].path).unlink(missing_ok=True)  # damaged: nobody may read it meanwhile
                new = self._repair(config, split, source, shards, i, on_rows)
                if new is not None and (new.sha256, new.rows) == (shards[i].sha256, shards[i].rows):
                    os.replace(self.root / new.path, self.root / shards[i].path)
                    ok[i] = True
                else:  # the replacement differs: the shards after it no longer follow from it
                    self._drop(shards[i:])
                    shards = shards[:i] + ([new] if new is not None else [])
                    ok, complete = [True] * len(shards), False
                self._record(key, shards, complete)
            if not complete:
                self._record(key, shards, False, commit=False)

                def commit(shard: ShardInfo) -> None:
                    shards.append(shard)
                    self._record(key, shards, False)

                self._write(config, split, source, list(shards), name=lambda k: layout.staging_shard(config, split, k),
                            limits=self.limits, on_shard=commit, on_rows=on_rows)
            final = self._finalize_names(config, split, shards)
        except BaseException:
            self._release(discard=True)
            raise
        self._results[key] = final
        return SplitResult(key, final, reused, sum(s.rows for s in final) - reused)

    def _finalize_names(self, config: str, split: str, shards: list[ShardInfo]) -> list[ShardInfo]:
        key = layout.split_key(config, split)
        targets = [layout.final_shard(config, split, i, len(shards)) for i in range(len(shards))]
        if [s.path for s in shards] != targets:
            self._record(key, shards, False, final=targets)  # a crash mid-rename finds each shard at one of the two
        final: list[ShardInfo] = []
        for shard, target in zip(shards, targets):
            if shard.path != target:
                dest = self.root / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.root / shard.path, dest)
            final.append(ShardInfo(target, shard.rows, shard.sha256, shard.bytes))
        strays = [p.relative_to(self.root).as_posix() for p in layout.stale_shards(self.root, config, split, set(targets))]
        if quarantine(self.root, strays):
            self._notes.append(f"{len(strays)} unlisted shard file(s) of {key} were moved aside, not deleted.")
        self._record(key, final, True)
        return final

    # ------------------------------------------------------------------ finish
    def finish(
        self,
        *,
        notes: list[str] | None = None,
        stats: dict[str, Any] | None = None,
        render_card: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        """Write manifest.json, then the card (what makes the folder loadable), then drop the journal."""
        self._ensure_locked()
        missing = [k for k in self._journal.splits if k not in self._results]
        if missing:
            self._begin_changes()
        for key in missing:  # splits from a resumed build that this run did not touch: drop them
            entry = self._journal.splits.pop(key)
            shards = [ShardInfo.from_dict(s) for s in entry["shards"]]
            self._drop(shards + [ShardInfo(p, s.rows, s.sha256, s.bytes) for p, s in zip(entry.get("final", []), shards)])
        notes = list(notes or []) + self._notes
        for key, shards in sorted(self._results.items()):
            if not shards:  # `datasets` refuses an empty split, so the card's configs leave it out
                notes.append(f"{key} is empty: it has no shard and is not listed in the card's configs "
                             f"(datasets.load_dataset cannot load an empty split).")
        manifest = build_manifest(
            name=self.name, family=self.family, version=self.version, command=self.command,
            build_config=self.build_config, build_hash=self.build_hash, seeds=self.seeds,
            inputs=self.inputs, splits=self._results, notes=notes, stats=stats or {},
        )
        atomic.write_json(self.root / layout.MANIFEST, manifest)
        if render_card is not None:
            atomic.write_text(self.root / layout.CARD, render_card(manifest))
        elif is_stub_card(self.root):
            (self.root / layout.CARD).unlink()
        for part in (self.root / layout.WORK_DIR).iterdir():  # journal, staging, withdrawn manifest, leftovers
            if part.name == "lock":
                continue
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)
        self._persisted = self._changing = False
        self._finished_folder = True
        self._lock.release()
        return manifest

    def close(self) -> None:
        """Give up the folder without finishing (a finished or resumable state is left as it is)."""
        self._release(discard=True)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def results(self) -> dict[str, list[ShardInfo]]:
        return dict(self._results)


# Readers of finished folders live in cotforge.store.verify; imported here for existing callers.
from cotforge.store.verify import split_paths, verify_dataset  # noqa: E402,F401
