"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every write goes to a temporary file in the same directory (so ``os.replace`` is a rename on one
filesystem), is flushed and fsynced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; the folder's readers need what open() gives
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys): the identity of a resolved config."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- replacing a whole folder ----------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one ``renameat2(RENAME_EXCHANGE)`` (Linux 3.15+, glibc 2.28+);
    False where the call or the filesystem does not have it."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def replace_folder(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put the finished folder ``new`` in place of the folder ``target`` (same filesystem).

    One atomic exchange where the kernel has it, so ``target`` is at every moment either the old
    folder or the new one; elsewhere two renames through ``.<target>.replaced``, and
    :func:`finish_replace` completes an interrupted one (the next caller's first step).
    """
    new, target = Path(new), Path(target)
    if _exchange(new, target):
        import shutil

        shutil.rmtree(new, ignore_errors=True)  # now the old folder
        return
    old = _replaced(target)
    if old.exists():
        import shutil

        shutil.rmtree(old)
    target.rename(old)
    new.rename(target)
    import shutil

    shutil.rmtree(old, ignore_errors=True)


def finish_replace(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Complete a :func:`replace_folder` that stopped between its two renames: ``target`` is gone
    and ``new`` (finished) is beside it, so ``new`` takes its place; a leftover old folder goes."""
    import shutil

    new, target = Path(new), Path(target)
    old = _replaced(target)
    if not target.exists() and new.is_dir() and old.is_dir():
        new.rename(target)
    if old.exists() and target.is_dir():
        shutil.rmtree(old)


def _replaced(target: Path) -> Path:
    return target.with_name(f".{target.name}.replaced")
