"""The code sandbox's zygote, parent side: one long-lived ``code_harness.py --zygote`` process per
sandbox that forks each run's harness instead of starting an interpreter for it (about half of a
run's cost). The run itself is the same as a freshly started harness: the forked leader reads its
settings on stdin, confines itself and its candidate, and writes one result frame on stdout.

The zygote never runs anything from a problem, so runs cannot leave state for later ones. It
runs as the verifier's user (as a Popen'd harness would) and listens only on a private socket
pair; leaders close their end before anything else happens. It exits when the verifier closes
its end (the verifier process exiting, or the sandbox being garbage collected).

Linux only (pidfds, file-descriptor passing); elsewhere :func:`available` is False and the
sandbox starts one interpreter per run.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

__all__ = ["Zygote", "available"]


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


class Zygote:
    """Forks runs of the harness at ``harness`` for ``python``; thread-safe; restarts itself when
    the process it talks to is gone (it died, or this process forked)."""

    def __init__(self, python: str, harness: str, env: dict[str, str]):
        self.python, self.harness, self.env = python, harness, env
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._owner = 0

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [self.python, "-I", "-B", self.harness, "--zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                env=self.env, pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        finally:
            theirs.close()
        self._ctl, self._owner = ours, os.getpid()

    def _stop_locked(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
        if self._proc is not None and self._owner == os.getpid():
            try:
                self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._ctl = self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop_locked()

    def spawn(self, stdin: int, stdout: int, stderr: int) -> tuple[int, int | None]:
        """Fork one run whose fds 0, 1, 2 are these; (leader pid, pidfd or None if it is over)."""
        if self._owner and self._owner != os.getpid():
            self._lock = threading.Lock()  # forked while another thread held it: that thread is not here
        with self._lock:
            for attempt in (0, 1):
                if self._ctl is None or self._owner != os.getpid():
                    if self._owner != os.getpid():  # a forked copy: the socket is the parent's
                        self._ctl = self._proc = None
                    self._start()
                try:
                    socket.send_fds(self._ctl, [b"run"], [stdin, stdout, stderr])
                    msg, fds, _, _ = socket.recv_fds(self._ctl, 8, 1)
                    if len(msg) == 8:
                        return struct.unpack(">q", msg)[0], (fds[0] if fds else None)
                    for fd in fds:
                        os.close(fd)
                except OSError:
                    pass
                self._stop_locked()  # it died: once more with a fresh one
            raise OSError("the code sandbox's zygote process does not answer")


def exchange(pid: int, pidfd: int | None, stdin_w: int, stdout_r: int, data: bytes, timeout: float) -> tuple[bytes, bool]:
    """Write ``data`` to the run's stdin and read its stdout to the end, within ``timeout``;
    past it, ask the test process to report (SIGUSR1), then kill the run's group. Closes both
    fds. Returns (stdout, timed out)."""
    out: list[bytes] = []
    stdin = [stdin_w]  # closed (and set to -1) by _pump once everything is written
    timed_out = False
    try:
        done = _pump(stdin, stdout_r, data, out, time.monotonic() + timeout)
        if not done:
            timed_out = True
            _signal(pid, pidfd, signal.SIGUSR1, group=False)
            if not _pump([-1], stdout_r, b"", out, time.monotonic() + 0.5):
                _signal(pid, pidfd, signal.SIGKILL, group=True)
                _pump([-1], stdout_r, b"", out, time.monotonic() + 5)
    finally:
        if stdin[0] >= 0:
            os.close(stdin[0])
        os.close(stdout_r)
    return b"".join(out), timed_out


def _signal(pid: int, pidfd: int | None, sig: int, *, group: bool) -> None:
    """Signal the leader through its pidfd (never a recycled pid); its group too while it lives
    (the group id is the leader's pid, so it cannot have been reused before the leader is gone)."""
    if pidfd is None:
        return
    try:
        if group and not _exited(pidfd):
            os.killpg(pid, sig)
        signal.pidfd_send_signal(pidfd, sig)
    except OSError:
        pass


def _exited(pidfd: int) -> bool:
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _pump(stdin: list[int], stdout_r: int, data: bytes, out: list[bytes], deadline: float) -> bool:
    """Move bytes until stdout ends (True) or the deadline passes (False); ``stdin[0]`` is
    closed and set to -1 once ``data`` is written."""
    view = memoryview(data)
    stdin_w = stdin[0]
    with selectors.DefaultSelector() as sel:
        sel.register(stdout_r, selectors.EVENT_READ)
        if stdin_w >= 0:
            os.set_blocking(stdin_w, False)
            sel.register(stdin_w, selectors.EVENT_WRITE)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in sel.select(left):
                if key.fd == stdout_r:
                    chunk = os.read(stdout_r, 1 << 16)
                    if not chunk:
                        return True
                    out.append(chunk)
                else:
                    try:
                        view = view[os.write(stdin_w, view[: 1 << 16]):]
                    except BrokenPipeError:
                        view = view[:0]
                    if not view:
                        sel.unregister(stdin_w)
                        os.close(stdin_w)
                        stdin[0] = -1
