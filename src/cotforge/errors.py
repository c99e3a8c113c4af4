"""Errors that the CLI turns into a one-line message and exit code 2.

Raise :class:`UsageError` for anything the user can fix (bad option, impossible request, malformed
input file); it always names the argument, file or row at fault. Library callers get an ordinary
``ValueError`` subclass, so nothing cotforge-specific is needed to catch it.
"""

from __future__ import annotations

import errno as _errno


class UsageError(ValueError):
    """Bad input: an option, a file or a row. The message names which; the CLI exits with code 2."""


class InputRowError(UsageError):
    """A malformed row in an input file.

    ``row`` is the 0-based index (every line of a JSONL file counts, blank ones too); the message
    counts from 1, so for a JSONL file it is the line number an editor shows.
    """

    def __init__(self, path: str, row: int, problem: str):
        self.path, self.row, self.problem = str(path), row, problem
        super().__init__(f"{path}: row {row + 1}: {problem}")


class MissingExtraError(ImportError):
    """A heavy optional dependency is absent; the message gives the exact pip command."""

    def __init__(self, module: str, extra: str, purpose: str):
        self.module, self.extra = module, extra
        super().__init__(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'cotforge[{extra}]'"
        )


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via tests with a fake module name
        raise MissingExtraError(module, extra, purpose) from exc


#: errno values meaning the machine (disk, permissions, paths), not a bug, stopped the command.
ENVIRONMENT_ERRNOS = frozenset(getattr(_errno, name) for name in (
    "ENOSPC", "EDQUOT", "EFBIG", "EROFS", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "ENOENT", "EEXIST",
    "ENAMETOOLONG", "ELOOP", "EXDEV", "ENOTEMPTY", "EIO", "EMFILE", "ENFILE", "ENXIO", "ENODEV",
) if hasattr(_errno, name))

_HINTS = {
    _errno.ENOSPC: "the disk is full; free some space and rerun the same command (finished shards are kept)",
    _errno.EROFS: "the file system is read-only; write somewhere else",
    _errno.ENOTDIR: "a part of the path is a file, not a folder",
}
if hasattr(_errno, "EDQUOT"):
    _HINTS[_errno.EDQUOT] = "the disk quota is exhausted; free some space and rerun the same command"


def environment_error_message(exc: BaseException) -> str | None:
    """One line for an ``OSError`` the user's machine caused (full disk, read-only or missing path,
    permissions), naming the path; None for anything else (a bug: let it show its traceback)."""
    if not isinstance(exc, OSError) or exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    what = " ".join(str(exc.strerror or exc).split())
    where = ""
    if exc.filename is not None:
        where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "") + ": "
    hint = _HINTS.get(exc.errno)
    return f"{where}{what}" + (f" ({hint})" if hint and hint not in what else "")
