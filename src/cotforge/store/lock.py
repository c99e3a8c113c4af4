"""One writer per dataset folder: an exclusive ``fcntl.flock`` on ``DIR/.cotforge/lock``.

The kernel drops a flock when its holder exits, however it exits (kill -9 included), so a crashed
build never leaves the folder locked; the next writer simply takes the lock. The holder writes its
pid, command line and start time into the file, and a second writer is refused with one line that
names them.

Releasing unlinks the file while still holding the lock. A waiter that opened the old file could
then lock an inode nobody else sees, so after every successful flock the holder checks that the
path still names the inode it locked, and starts over when it does not.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import sys
from pathlib import Path

from cotforge.errors import UsageError
from cotforge.store import layout

LOCK = f"{layout.WORK_DIR}/lock"


class FolderLockedError(UsageError):
    """Another process is writing the folder."""


def _holder_text(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (it has not written its details yet)"
    return f"pid {info.get('pid')} ({info.get('command', '?')}), started {info.get('started', '?')}"


class FolderLock:
    """``with FolderLock(root):`` or ``acquire()``/``release()``; refuses when another process holds it."""

    def __init__(self, root: str | os.PathLike, command: str | None = None):
        self.root = Path(root)
        self.path = self.root / LOCK
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) or "python"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "FolderLock":
        if self._fd is not None:
            return self
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the holder released and removed .cotforge/ in between
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                holder = _holder_text(fd)
                os.close(fd)
                raise FolderLockedError(
                    f"{self.root}: another cotforge process is writing this folder: {holder}; "
                    f"wait for it to finish or stop it"
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder released (and unlinked) between our open and our flock
                os.close(fd)
                continue
            info = {"pid": os.getpid(), "command": self.command,
                    "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            self._fd = fd
            return self

    def release(self) -> None:
        """Drop the lock and its file (and ``.cotforge/`` when nothing else is in it)."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        try:
            self.path.parent.rmdir()
        except OSError:
            pass  # the journal, staging or quarantine are still there
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
