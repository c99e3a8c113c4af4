"""Confinement for the code sandbox's processes: loaded by ``code_harness.py`` from its own
directory (by path, before any privilege drop), never imported by cotforge itself.

Layers, applied by :func:`confine` in this order before anything from the problem runs: a fresh
uid with no groups (when root), Landlock (file writes outside the run's directory, TCP, signals,
ptrace, abstract unix sockets), no new privileges, a seccomp filter (sockets, io_uring and a few
kernel interfaces a candidate never needs), resource limits (no fork, no threads, CPU, memory,
file size, open files, no core dumps).
"""

import builtins
import ctypes
import errno
import os
import resource
import signal
import struct
import sys

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG, _PR_SET_SECCOMP, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 22, 36, 38
_SECCOMP_MODE_FILTER = 2
_SYS_LANDLOCK_CREATE, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT = 444, 445, 446  # same on all arches
_CLONE_NEWNET = 0x40000000
_AF_INET, _AF_INET6 = 2, 10

# Syscalls the seccomp filter refuses (EPERM), per architecture: socket/socketpair (a pathname
# unix socket is reachable through any permission bits that allow it: X11, D-Bus, tmux, an
# unauthenticated multiprocessing forkserver of the same user; Landlock does not cover connect()),
# io_uring (its operations would bypass this filter), and interfaces that only widen the kernel
# surface: unshare/setns, bpf, userfaultfd, perf_event_open, keyrings, ptrace, process_vm_*.
_DENIED = ("socket", "socketpair", "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns",
           "bpf", "userfaultfd", "perf_event_open", "keyctl", "add_key", "request_key", "ptrace",
           "process_vm_readv", "process_vm_writev")
_ARCHES = {
    # machine: (AUDIT_ARCH_*, syscall numbers in _DENIED's order, first number of a foreign ABI or None)
    "x86_64": (0xC000003E, (41, 53, 425, 426, 427, 272, 308, 321, 323, 298, 250, 248, 249, 101, 310, 311),
               0x40000000),  # x32 syscalls carry this bit: refused wholesale
    "aarch64": (0xC00000B7, (198, 199, 425, 426, 427, 97, 268, 280, 282, 241, 219, 217, 218, 117, 270, 271), None),
}


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def landlock_abi():
    """The kernel's Landlock ABI version (0: none or hidden by seccomp)."""
    syscall = _LIBC.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, abi)


def seccomp_supported():
    """True where :func:`confine` installs the seccomp filter (a known architecture)."""
    return os.uname().machine in _ARCHES


def unshare_net():
    """Move this process into a new, empty network namespace (root only); True on success."""
    return _LIBC.unshare(_CLONE_NEWNET) == 0


def set_parent_death_signal():
    """SIGKILL this process when its parent exits (a uid change clears it: call after)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_child_subreaper():
    """Orphaned descendants come to this process instead of init (see ``code_harness.zygote``)."""
    _check(_LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(CHILD_SUBREAPER)")


def _drop_to(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise OSError(errno.EPERM, "uid change did not take")


def _landlock(abi, writable_fd, scope_signals, network):
    """Deny file writes outside the directory ``writable_fd`` (None: everywhere), TCP bind/connect
    (ABI >= 4, unless ``network``), and (``scope_signals``, ABI >= 6) signals, ptrace and abstract unix sockets outside
    this process."""
    fs = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make-*
    if abi >= 2:
        fs |= 1 << 13  # REFER (link/rename across dirs)
    if abi >= 3:
        fs |= 1 << 14  # TRUNCATE
    net = 0b11 if abi >= 4 and not network else 0
    scoped = 0b11 if abi >= 6 and scope_signals else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    syscall = _LIBC.syscall
    ruleset = syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        _check(-1, "landlock_create_ruleset")
    try:
        if writable_fd is not None:
            rule = ctypes.create_string_buffer(struct.pack("=Qi", fs, writable_fd), 12)
            _check(syscall(ctypes.c_long(_SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                           ctypes.c_uint32(0)), "landlock_add_rule")
        _check(_LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT), ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _bpf(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(machine, allow_inet):
    """The filter's BPF instructions (bytes): EPERM for the ``_DENIED`` syscalls, and for every
    syscall of a foreign ABI; ``allow_inet`` lets socket() through for AF_INET/AF_INET6 only."""
    arch, numbers, foreign = _ARCHES[machine]
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM
    denied = list(numbers[1:]) if allow_inet else list(numbers)
    # Layout: [arch check][nr checks...][ALLOW] then, for allow_inet, [socket domain checks][DENY]
    # [ALLOW], else [DENY]: classic BPF jumps forward only.
    head = [("ld", 4), ("arch",), ("deny_now",), ("ld", 0)]
    if foreign is not None:
        head.append(("foreign",))
    body = [("nr", n) for n in denied] + ([("sock", numbers[0])] if allow_inet else [])
    tail = [("allow",)]
    if allow_inet:
        tail += [("ld", 16), ("inet", _AF_INET), ("inet", _AF_INET6), ("deny",), ("allow",)]
    else:
        tail += [("deny",)]
    prog = head + body + tail
    at_sock = len(head) + len(body) + 1
    at_deny = len(prog) - (2 if allow_inet else 1)
    at_last_allow = len(prog) - 1
    out = []
    for pc, ins in enumerate(prog):
        kind, arg = ins[0], ins[1] if len(ins) > 1 else 0
        to = lambda target: target - pc - 1  # noqa: E731 - BPF jump offsets count from the next one
        if kind == "ld":
            out.append(_bpf(ld_w_abs, arg))
        elif kind == "arch":
            out.append(_bpf(jeq, arch, 1, 0))  # native: skip the deny below
        elif kind == "deny_now":
            out.append(_bpf(ret, deny))
        elif kind == "foreign":
            out.append(_bpf(jge, foreign, to(at_deny), 0))
        elif kind == "nr":
            out.append(_bpf(jeq, arg, to(at_deny), 0))
        elif kind == "sock":
            out.append(_bpf(jeq, arg, to(at_sock), 0))
        elif kind == "inet":
            out.append(_bpf(jeq, arg, to(at_last_allow), 0))
        elif kind == "allow":
            out.append(_bpf(ret, allow))
        else:
            out.append(_bpf(ret, deny))
    return b"".join(out)


def _seccomp(allow_inet):
    prog = seccomp_program(os.uname().machine, allow_inet)
    filters = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(filters))
    _check(_LIBC.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "prctl(SECCOMP)")


def _limit(name, soft, hard=None):
    if soft is None:
        return
    resource.setrlimit(getattr(resource, name), (soft, soft if hard is None else hard))


def confine(cfg, uid, writable_fd, path_fds, abi, scope_signals):
    """Drop privileges and limit this process; raise if a required layer cannot be set."""
    if uid is not None:
        _drop_to(uid)
    if abi:
        _landlock(abi, writable_fd, scope_signals, bool(cfg.get("network")))
    else:
        _check(_LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if cfg.get("seccomp"):
        _seccomp(bool(cfg.get("network")))
    if path_fds:
        # The interpreter's own directories may sit under a home closed to this uid: import
        # through the directory handles opened before the drop (read-only, nothing else), for
        # top-level modules and for submodules of packages already loaded (collections.abc).
        moved = {p: f"/proc/self/fd/{fd}" for p, fd in path_fds.items()}
        sys.path[:] = list(moved.values())
        sys.path_importer_cache.clear()
        for mod in list(sys.modules.values()):
            paths = getattr(mod, "__path__", None)
            if isinstance(paths, list):
                paths[:] = [_moved(p, moved) for p in paths]
    _limit("RLIMIT_CORE", 0)
    _limit("RLIMIT_FSIZE", cfg["fsize"])
    _limit("RLIMIT_CPU", cfg["cpu"], cfg["cpu"] + 1)
    _limit("RLIMIT_NOFILE", 256)
    _limit("RLIMIT_AS", cfg["as"])
    _limit("RLIMIT_NPROC", 0)  # no fork, no threads: counted per uid, and this uid is ours alone
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise instead of killing
    except (AttributeError, ValueError):
        pass


def _moved(path, moved):
    for old, new in moved.items():
        if path == old or path.startswith(old + os.sep):
            return new + path[len(old):]
    return path


def guard():
    """A speed bump, not the boundary (uid, Landlock, seccomp and the process split are): removes
    the usual destructive calls so naive code fails fast with a clear TypeError."""
    try:
        import faulthandler

        faulthandler.disable()
    except ImportError:
        pass
    builtins.exit = None
    builtins.quit = None
    for name in ("kill", "killpg", "system", "putenv", "unsetenv", "remove", "removedirs", "rmdir", "fchdir",
                 "setuid", "setgid", "setsid", "setpgid", "fork", "forkpty", "vfork", "rename", "renames",
                 "truncate", "ftruncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown", "chroot",
                 "lchflags", "lchmod", "lchown", "chdir", "execv", "execve", "execl", "execle", "execlp",
                 "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp",
                 "spawnlpe", "spawnvp", "spawnvpe", "popen", "posix_spawn", "posix_spawnp", "link", "symlink",
                 "mkfifo", "mknod", "plock", "nice"):
        if hasattr(os, name):
            setattr(os, name, None)
    # Not ``posix``: shutil (and so tempfile) imports it, and ``os.fspath.__self__`` is it anyway.
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter", "multiprocessing", "ctypes", "pty",
                "_posixsubprocess", "_ctypes"):
        sys.modules[mod] = None
