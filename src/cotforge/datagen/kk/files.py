"""Which files a K&K path names, and the logic keys they hold (``kk check``, ``kk build --exclude``).

A path is a cotforge dataset folder (every shard its manifest lists), any other folder (every
``.parquet``, ``.jsonl``, ``.jsonl.gz`` and ``.json`` file under it), or one such file. Rows are read
through the datagen input readers, so a bad line is reported with its file and row.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from cotforge.errors import InputRowError, UsageError

SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json")


def kk_files(path: str | Path, option: str = "PATH") -> list[Path]:
    """The data files a path names, in a stable order; raises naming the path if there are none."""
    from cotforge.store import layout
    from cotforge.store.verify import split_paths

    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"{option} {path}: no such file or folder")
    if (path / layout.MANIFEST).is_file():
        try:
            by_split = split_paths(path)  # each shard checked against the manifest: a damaged one is named
        except ValueError as exc:
            raise UsageError(f"{option} {path}: {exc}") from None
        except UsageError as exc:
            raise UsageError(f"{option} {exc}") from None
        files = [f for key in sorted(by_split) for f in by_split[key]]
    else:
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.name.lower().endswith(SUFFIXES)
                       and layout.WORK_DIR not in f.relative_to(path).parts)
    if not files:
        raise UsageError(f"{option} {path}: holds no K&K data (.parquet, .jsonl, .json)")
    return files


def read_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(row number, row) pairs of one data file."""
    from cotforge.datagen.inputs import open_input

    yield from open_input(Path(path)).rows()


def row_logic_key(path: Path, i: int, row: dict) -> str:
    """The logic key of a K&K row in the public format (statements + solution), recomputed."""
    from cotforge.datagen.kk.identity import logic_key
    from cotforge.datagen.kk.statements import parse_statements

    if "statements" not in row:
        raise InputRowError(path, i, "needs the field 'statements'")
    n = len(row["names"]) if isinstance(row.get("names"), (list, tuple)) else None
    try:
        statements = parse_statements(row["statements"], n)
    except UsageError as exc:
        raise InputRowError(path, i, str(exc)) from None
    return logic_key(statements, len(statements))


def exclusion_keys(paths: list[str]) -> tuple[frozenset[str], dict]:
    """The logic keys of every puzzle under ``paths`` and a path-free record of them (count and
    digest) for the build config, so two builds excluding the same data are the same build."""
    keys: set[str] = set()
    files = 0
    for p in paths:
        for f in kk_files(p, "--exclude"):
            files += 1
            for i, row in read_rows(f):
                keys.add(row_logic_key(f, i, row))
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    return frozenset(keys), {"datasets": len(paths), "files": files, "logic_keys": len(keys), "sha256": digest}
