"""The parent side of the code sandbox: picks the confinement, starts the harness, enforces the
wall clock and removes what is left. What runs inside is ``code_harness.py``.

Confinement, decided once per :class:`Sandbox` from what the platform gives:

- running as root: each run gets two fresh random uids (candidate, tests) with no groups, plus
  Landlock where the kernel has it and an empty network namespace where ``unshare`` is allowed;
  if a uid change fails (no CAP_SETUID), the sandbox is unavailable;
- not root: Landlock ABI >= 6 (file writes, TCP, signals and ptrace scoped) plus the seccomp
  filter of ``code_confine.py`` (no sockets but inet) is the boundary; an older kernel, a seccomp
  filter that hides Landlock, or an architecture the filter does not know (x86_64 and aarch64
  only) leaves the sandbox unavailable.

Unavailable means :class:`SandboxUnavailable` (the verifier turns it into an ``error`` verdict)
unless ``allow_unsandboxed=True``: then candidates run as the current user with whatever layers
exist, and a warning is logged (at most once a minute, so once per batch in practice).
"""

from __future__ import annotations

import ctypes
import struct
import logging
import math
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cotforge.verifiers import code_zygote
from cotforge.verifiers.code_harness import decode, encode

__all__ = ["RunResult", "Sandbox", "SandboxUnavailable", "landlock_abi"]

log = logging.getLogger(__name__)

HARNESS = Path(__file__).with_name("code_harness.py")
# Random uids from a range no distribution assigns (subuid ranges end far below): a collision
# between two concurrent runs is a 1 in 2**28 event, and would only let those two see each other.
_UID_BASE, _UID_SPAN = 0x70000000, 1 << 28
_WARN_EVERY_S = 60.0
# The environment candidates see (plus HOME and TMPDIR: the run's directory).
_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


class SandboxUnavailable(RuntimeError):
    """Candidates cannot be confined here and ``allow_unsandboxed`` was not given."""


@dataclass(frozen=True)
class RunResult:
    """Outcome of one sandboxed run."""

    passed: bool
    timed_out: bool
    error: str
    wall_s: float
    returncode: int | None
    stderr_tail: str = ""
    layers: tuple[str, ...] = ()


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, hidden by seccomp, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0  # syscall 444 means something else elsewhere
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        return max(0, int(libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))))
    except (OSError, AttributeError):
        return 0


def _seccomp_supported() -> bool:
    from cotforge.verifiers.code_confine import seccomp_supported

    return seccomp_supported()


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Sandbox:
    """Runs programs for one interpreter; thread-safe (each run has its own uids and dirs)."""

    def __init__(self, python: str, *, allow_unsandboxed: bool = False, network: bool = False,
                 zygote: bool = True):
        self.python = python
        self.allow_unsandboxed = allow_unsandboxed
        self.network = network
        self.use_zygote = zygote and code_zygote.available()
        self._zygote: code_zygote.Zygote | None = None
        self._lock = threading.Lock()
        self._broken: str | None = None  # why a run found the sandbox impossible
        self._last_warning = -math.inf
        self._abi = landlock_abi()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state["_zygote"] = None  # a process of ours: the copy starts its own
        state["_broken"] = None
        state["_last_warning"] = -math.inf
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def unavailable(self) -> str | None:
        """Why candidates cannot be confined here (None: they can)."""
        if self._broken:
            return self._broken
        if _is_root():
            return None
        if self._abi >= 6 and _seccomp_supported():
            return None
        found = f"Landlock ABI {self._abi}" if self._abi else "no Landlock"
        if self._abi >= 6:  # without the filter the user's own unix sockets (a forkserver, tmux) are open
            found += f" but no seccomp filter for {os.uname().machine} (x86_64, aarch64)"
        return (f"the code sandbox needs root (to run candidates under their own uid) or Landlock ABI >= 6 "
                f"(Linux 6.12+) and a seccomp filter; this process is uid {os.getuid()} with {found}")

    @property
    def user(self) -> str:
        """Who candidates run as: ``"sandbox uid"`` or the current user when unsandboxed."""
        if self.unavailable() is None and _is_root():
            return "sandbox uid"
        return "root" if _is_root() else str(os.getuid())

    def _plan(self) -> dict:
        why = self.unavailable()
        if why is None:
            uids = None
            if _is_root():
                rng = secrets.SystemRandom()
                first = _UID_BASE + rng.randrange(_UID_SPAN - 1)
                uids = [first, first + 1]
            return {"uids": uids, "landlock": self._abi > 0, "netns": not self.network, "confined": True}
        if not self.allow_unsandboxed:
            raise SandboxUnavailable(f"{why}; pass allow_unsandboxed=True to run candidates unconfined "
                                     f"(they can then kill processes and write files as this user)")
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning >= _WARN_EVERY_S:
                self._last_warning = now
                log.warning("code verifier: candidates run UNSANDBOXED as %s (%s)", self.user, why)
        return {"uids": None, "landlock": False, "netns": False, "confined": False}

    def run(self, *, prompt: str, program: str, test: str, entry_point: str, timeout: float,
            memory_mb: int | None, file_size_mb: int) -> RunResult:
        """Run ``program`` (prompt + candidate) against ``test`` with a wall-clock ``timeout``."""
        plan = self._plan()
        uids = plan["uids"]
        tmp = tempfile.mkdtemp(prefix="cotforge-code-", dir=_run_base() if uids else None)
        try:
            if uids:
                os.chown(tmp, uids[0], uids[0])  # mkdtemp made it 0700: only the candidate uid gets in
            cfg = {
                "program": program, "entry_point": entry_point,
                "workdir": tmp, "uids": uids, "landlock": plan["landlock"], "netns": plan["netns"],
                "network": self.network,
                "fsize": file_size_mb * 1024 * 1024, "cpu": int(math.ceil(timeout)) + 1,
                "as": memory_mb * 1024 * 1024 if memory_mb else None,
            }
            cfg["env"] = {**_BASE_ENV, "HOME": tmp, "TMPDIR": tmp}
            data = _frame(cfg) + _frame({"prompt": prompt, "test": test})
            start = time.monotonic()
            with tempfile.TemporaryFile() as err:
                if self.use_zygote:
                    out, timed_out, rc = self._run_forked(err, data, timeout)
                else:
                    out, timed_out, rc = self._run_started(err, data, timeout, tmp, cfg["env"])
                wall = time.monotonic() - start
                stderr_tail = _tail(err)
            outcome = _parse(out)
            if uids and (timed_out or not outcome.get("reaped")):
                _kill_uids(set(uids))  # the only way a candidate that left its process group can go
            return self._result(outcome, timed_out, timeout, wall, rc, stderr_tail, plan)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run_forked(self, err, data: bytes, timeout: float) -> tuple[bytes, bool, int | None]:
        """The run forked from this sandbox's zygote (no interpreter start)."""
        with self._lock:
            if self._zygote is None:
                self._zygote = code_zygote.Zygote(self.python, str(HARNESS), dict(_BASE_ENV))
            zygote = self._zygote
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            pid, pidfd = zygote.spawn(in_r, out_w, err.fileno())
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)
        try:
            out, timed_out = code_zygote.exchange(pid, pidfd, in_w, out_r, data, timeout)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        return out, timed_out, None

    def _run_started(self, err, data: bytes, timeout: float, tmp: str, env: dict) -> tuple[bytes, bool, int | None]:
        """The run in a freshly started interpreter (where there is no zygote)."""
        proc = subprocess.Popen(
            [self.python, "-I", "-B", str(HARNESS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=err, cwd=tmp, env=env, start_new_session=True, close_fds=True,
        )
        timed_out = False
        try:
            out, _ = proc.communicate(input=data, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            out = _stop(proc)
        return out, timed_out, proc.returncode

    def _result(self, outcome, timed_out, timeout, wall, rc, stderr_tail, plan) -> RunResult:
        layers = tuple(outcome.get("sandbox") or ())
        if outcome.get("sandbox_error") and plan["confined"]:
            why = f"the code sandbox cannot be set up here: {outcome['sandbox_error']}"
            if outcome.get("permanent"):  # later runs would fail the same way (or, unsandboxed, run unconfined)
                with self._lock:
                    self._broken = why
            raise SandboxUnavailable(why + "; pass allow_unsandboxed=True to run candidates unconfined")
        if timed_out or outcome.get("timeout"):
            what = f"timed out after {timeout:.1f}s" if timed_out else outcome.get("error") or "CPU time limit"
            return RunResult(False, True, what, wall, rc, stderr_tail, layers)
        if not outcome:
            last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else ""
            code = f" (code {rc})" if rc is not None else ""
            why = f"the sandbox harness exited{code} without a result" + (f": {last}" if last else "")
            return RunResult(False, False, why, wall, rc, stderr_tail, layers)
        return RunResult(bool(outcome.get("ok")), False, str(outcome.get("error") or ""), wall, rc, stderr_tail, layers)


def _run_base() -> str:
    """Where a run's directory goes when candidates get their own uid: the usual temporary
    directory if every directory above it lets other users through (a ``TMPDIR`` under a 0700
    home would leave ``HOME``/``TMPDIR`` unusable to the candidate), else the first of ``/tmp``,
    ``/var/tmp``, ``/dev/shm`` that does; the run's own directory is 0700 either way."""
    base = tempfile.gettempdir()
    for candidate in (base, "/tmp", "/var/tmp", "/dev/shm"):
        if _others_may_enter(candidate):
            return candidate
    return base


def _others_may_enter(path: str) -> bool:
    p = Path(path).resolve()
    try:
        return p.is_dir() and all(q.stat().st_mode & stat.S_IXOTH for q in (p, *p.parents))
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> bytes:
    """Past the deadline: ask the test process to kill the candidate and report, then kill the
    whole group. The harness is not reaped before the group kill, so its pid (= group id) is ours."""
    try:
        proc.send_signal(signal.SIGUSR1)
        out, _ = proc.communicate(timeout=0.5)
        return out or b""
    except subprocess.TimeoutExpired:
        pass
    except OSError:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not delivered
        proc.kill()
        out, _ = proc.communicate()
    return out or b""


def _frame(obj: dict) -> bytes:
    data = encode(obj)
    return len(data).to_bytes(8, "big") + data


def _parse(out: bytes) -> dict:
    """The test process's one result frame (``{}`` when there is none or it is malformed)."""
    if len(out) < 8:
        return {}
    size = int.from_bytes(out[:8], "big")
    try:
        data = decode(out[8 : 8 + size])
    except (ValueError, TypeError, struct.error, RecursionError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _kill_uids(uids: set[int]) -> None:
    """SIGKILL every process whose real uid is one of ``uids`` (they are this run's alone)."""
    for _ in range(3):  # a process of these uids cannot fork, so one pass finds all; repeat for safety
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status", "rb") as f:
                    uid_line = next(line for line in f if line.startswith(b"Uid:"))
            except (OSError, StopIteration):
                continue
            if int(uid_line.split()[1]) in uids:
                found = True
                try:
                    os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.01)


def _tail(f, limit: int = 1000) -> str:
    try:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - limit))
        return f.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
