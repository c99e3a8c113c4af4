"""The code sandbox's harness: run as a script (``python -I -B code_harness.py``), never imported.

It starts as the verifier's user (root on most GPU machines), reads its settings as one JSON
document on stdin, and splits into two processes joined by two pipes:

- the candidate process (forked) runs prompt + candidate code and then answers calls to the entry
  point with plain data;
- the test process (the original) runs prompt + the gold's tests, with ``candidate`` a proxy
  that sends each call's arguments to the candidate process and decodes the reply.

Only the test process holds the result channel (its original stdout), and only plain values
(numbers, strings, bytes, lists, tuples, dicts, sets, None, Fraction, Decimal) cross from the
candidate, decoded here without running any candidate code. So the verdict is what the gold's
asserts saw; nothing the candidate does in its own process (``gc.get_objects()``, frame walking,
ctypes, writing to fds) can reach it. Each process drops to its own uid (when root), applies
Landlock (when the kernel has it), a seccomp filter and resource limits (``code_confine.py``)
before running anything from the problem.
The parent (``code_sandbox.py``) enforces the wall clock and kills what is left by uid.
"""

import builtins
import os
import signal
import struct
import sys
import time

_MAX_FRAME = 64 * 1024 * 1024  # a reply larger than this is a broken channel
# Exceptions that steer control flow in the tests (a StopIteration from the candidate ends a
# ``for x in map(candidate, ...)`` loop early, as if every check had passed; SystemExit and
# KeyboardInterrupt skip ``except Exception`` handlers): re-raised as plain errors of the same name.
_CONTROL_FLOW = ("StopIteration", "StopAsyncIteration", "GeneratorExit", "SystemExit", "KeyboardInterrupt")


def _load_confine():
    """``code_confine.py`` from this file's directory, by path: the directory is never put on
    ``sys.path`` (its ``code.py`` would shadow the standard library's ``code`` for candidates).
    Executed into a bare module object (importlib.util alone would add ~10 ms per run)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "code_confine.py")
    module = type(sys)("_cotforge_code_confine")
    module.__file__ = path
    with open(path, "rb") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


_C = None  # the confinement module, loaded in main()

# -- plain-data codec (the only thing that crosses between the two processes) -------------------
# A small tagged binary format, decoded without running anything and building built-in types
# only (json would import re, which costs more than the rest of the harness start).

_DEPTH = 200


def encode(x):
    """Bytes for a plain value; anything else raises TypeError."""
    out = []
    _enc(x, out, 0)
    return b"".join(out)


def _enc(x, out, depth):
    if depth > _DEPTH:
        raise ValueError("value nested too deeply to cross the sandbox boundary")
    if x is None:
        out.append(b"N")
    elif x is True or x is False:
        out.append(b"T" if x else b"F")
    elif isinstance(x, bool):
        out.append(b"T" if bool(x) else b"F")
    elif isinstance(x, int):
        _blob(out, b"i", format(int(x), "x").encode())  # hex: no int-to-str digit limit
    elif isinstance(x, float):
        out.append(b"f" + struct.pack(">d", float(x)))
    elif isinstance(x, str):
        _blob(out, b"s", str.__str__(x).encode("utf-8", "surrogatepass"))
    elif isinstance(x, (bytes, bytearray)):
        _blob(out, b"b", bytes(x))
    elif isinstance(x, complex):
        out.append(b"c" + struct.pack(">dd", x.real, x.imag))
    elif isinstance(x, (list, tuple, set, frozenset)):
        tag = b"l" if isinstance(x, list) else b"t" if isinstance(x, tuple) else b"z" if isinstance(x, frozenset) else b"S"
        items = list(x)
        out.append(tag + struct.pack(">I", len(items)))
        for v in items:
            _enc(v, out, depth + 1)
    elif isinstance(x, dict):
        items = list(x.items())
        out.append(b"d" + struct.pack(">I", len(items)))
        for k, v in items:
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    elif type(x).__name__ == "Fraction" and type(x).__module__ == "fractions":
        out.append(b"q")
        _enc(int(x.numerator), out, depth + 1)
        _enc(int(x.denominator), out, depth + 1)
    elif type(x).__name__ == "Decimal" and type(x).__module__ in ("decimal", "_pydecimal"):
        _blob(out, b"D", str(x).encode())
    else:
        raise TypeError(f"a value of type {type(x).__name__} cannot cross the sandbox boundary (plain data only)")


def _blob(out, tag, data):
    out.append(tag + struct.pack(">I", len(data)) + data)


def decode(data):
    """Inverse of ``encode``; ValueError on anything malformed (trailing bytes included)."""
    try:
        value, end = _dec(memoryview(data), 0, 0)
    except struct.error as exc:
        raise ValueError(f"truncated value: {exc}") from None
    if end != len(data):
        raise ValueError("trailing bytes after the value")
    return value


def _dec(buf, i, depth):
    if depth > _DEPTH:
        raise ValueError("value nested too deeply")
    if i >= len(buf):
        raise ValueError("truncated value")
    tag = bytes(buf[i:i + 1])
    i += 1
    if tag == b"N":
        return None, i
    if tag in (b"T", b"F"):
        return tag == b"T", i
    if tag == b"f":
        return struct.unpack_from(">d", buf, i)[0], i + 8
    if tag == b"c":
        re_, im = struct.unpack_from(">dd", buf, i)
        return complex(re_, im), i + 16
    (n,) = struct.unpack_from(">I", buf, i)
    i += 4
    if tag in (b"i", b"s", b"b", b"D"):
        if i + n > len(buf):
            raise ValueError("truncated value")
        raw = bytes(buf[i:i + n])
        i += n
        if tag == b"i":
            return int(raw.decode("ascii"), 16), i
        if tag == b"s":
            return raw.decode("utf-8", "surrogatepass"), i
        if tag == b"b":
            return raw, i
        import decimal

        return decimal.Decimal(raw.decode("ascii")), i
    if tag in (b"l", b"t", b"S", b"z", b"d"):
        if n > len(buf) - i:  # every item takes at least one byte
            raise ValueError("truncated container")
        items = []
        for _ in range(n * 2 if tag == b"d" else n):
            v, i = _dec(buf, i, depth + 1)
            items.append(v)
        if tag == b"l":
            return items, i
        if tag == b"t":
            return tuple(items), i
        if tag == b"S":
            return set(items), i
        if tag == b"z":
            return frozenset(items), i
        return dict(zip(items[0::2], items[1::2])), i
    if tag == b"q":
        i -= 4
        num, i = _dec(buf, i, depth + 1)
        den, i = _dec(buf, i, depth + 1)
        if type(num) is not int or type(den) is not int:
            raise ValueError("malformed fraction")
        import fractions

        return fractions.Fraction(num, den), i
    raise ValueError(f"unknown value tag {tag!r}")


class Channel:
    """Length-prefixed frames over a pair of pipes."""

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd

    def send(self, obj):
        self.send_raw(encode(obj))

    def send_raw(self, data):
        data = struct.pack(">Q", len(data)) + data
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def recv(self):
        """One frame, or None at end of stream; ValueError on a malformed or oversized frame."""
        head = self._exact(8)
        if head is None:
            return None
        (size,) = struct.unpack(">Q", head)
        if size > _MAX_FRAME:
            raise ValueError(f"reply of {size} bytes exceeds {_MAX_FRAME}")
        body = self._exact(size)
        if body is None:
            return None
        return decode(body)

    def _exact(self, n):
        chunks, got = [], 0
        while got < n:
            chunk = os.read(self.rfd, min(n - got, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def _permanent(exc):
    """True for a setup failure that every later run would hit too (a refused uid change, a
    layer the kernel does not offer), False for one that may pass (no memory, no pids)."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EINVAL,
                                                      errno.EOPNOTSUPP)


def _fmt(exc):
    """``Type: message`` (traceback's formatter would import linecache and tokenize)."""
    name = type(exc).__name__
    if isinstance(exc, SyntaxError):
        return f"{name}: {exc.msg} (line {exc.lineno})"
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{name}: {text}" if text else name


# -- the candidate process ---------------------------------------------------------------------

def _candidate_main(cfg, sock, keep, path_fds, landlock_abi, parent, workdir_fd):
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: close the usual range
        open_fds = list(range(3, 1024))
    for fd in open_fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        _C.confine(cfg, cfg["uids"][0] if cfg["uids"] else None, workdir_fd, path_fds, landlock_abi, True)
        _C.set_parent_death_signal()
        if os.getppid() != parent:  # the test process is already gone
            os._exit(1)
    except Exception as exc:
        sock.send({"sandbox_error": f"candidate process: {_fmt(exc)}", "permanent": _permanent(exc)})
        os._exit(1)
    # Sent before any candidate code runs: after this, a "sandbox_error" could only be forged
    # (to turn a wrong answer into an ungraded one), so the test process ignores it.
    sock.send({"confined": True})
    entry = cfg["entry_point"]
    try:
        code = compile(cfg["program"], "<candidate>", "exec")
    except BaseException as exc:
        sock.send({"load_error": _fmt(exc)})
        os._exit(0)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        _C.guard()
        exec(code, namespace)
        fn = namespace[entry]
    except KeyError:
        sock.send({"load_error": f"NameError: name {entry!r} is not defined"})
        os._exit(0)
    except BaseException as exc:
        sock.send({"load_error": _fmt(exc)})
        os._exit(0)
    sock.send({"ready": True})
    exit_now = os._exit
    while True:
        try:
            msg = sock.recv()
        except BaseException:
            exit_now(1)
        if msg is None:
            exit_now(0)
        try:
            reply = encode({"v": fn(*msg["a"], **msg["k"])})
        except BaseException as exc:
            try:
                text = str(exc)[:2000]
            except BaseException:
                text = ""
            reply = encode({"e": [type(exc).__name__, text]})
        try:
            sock.send_raw(reply)
        except BaseException:
            exit_now(1)


# -- the test process --------------------------------------------------------------------------

class SandboxLost(BaseException):
    """The candidate process died or broke the protocol: not catchable by ``except Exception``."""


def _exception(name, text):
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException) and name not in _CONTROL_FLOW:
        try:
            return cls(text)
        except Exception:
            pass
    return type(name if name.isidentifier() else "CandidateError", (Exception,), {})(text)


def _child_fate(pid, wait_s):
    """How the candidate process ended, or None while it runs (waits up to ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "exited"
        if done:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                if sig == signal.SIGXCPU:
                    return "timeout:CPU time limit exceeded"
                return f"killed by signal {signal.Signals(sig).name}"
            return f"exited (code {os.WEXITSTATUS(status)})"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.002)


def _expect(sock, child):
    """The next message from the candidate process, as a dict; SandboxLost otherwise."""
    try:
        msg = sock.recv()
    except Exception as exc:
        raise SandboxLost(f"candidate process broke the channel: {type(exc).__name__}: {exc}")
    if msg is None:
        fate = _child_fate(child, 0.5) or "closed the channel"
        raise SandboxLost(f"candidate process {fate} before the tests finished")
    if type(msg) is not dict:
        raise SandboxLost("malformed message from the candidate process")
    return msg


def _test_main(cfg, stdin_fd, sock, child, path_fds, landlock_abi, result, layers):
    outcome = {"ok": False, "error": "", "reaped": False, "sandbox": layers}
    lost = []

    def lose(why):
        lost.append(why)
        raise SandboxLost(why)

    def candidate(*args, **kwargs):
        if lost:
            raise SandboxLost(lost[0])
        sock.send({"a": list(args), "k": kwargs})
        try:
            msg = sock.recv()
        except Exception as exc:  # malformed frames: struct.error, unhashable keys, bad UTF-8...
            lose(f"candidate process broke the channel: {type(exc).__name__}: {exc}")
        if msg is None:
            fate = _child_fate(child, 0.5) or "closed the channel"
            lose(f"candidate process {fate} before the tests finished")
        try:
            if type(msg) is not dict:
                raise TypeError(f"a reply of type {type(msg).__name__}")
            if "v" in msg:
                return msg["v"]
            name, text = msg["e"]
            exc = _exception(str(name), str(text))
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            lose(f"malformed reply from the candidate process: {exc}")
        raise exc

    try:
        try:
            # Without a uid of its own the test process must stay able to signal the candidate
            # (to kill it at the end); the candidate's own Landlock scope keeps it from signalling back.
            _C.confine(cfg, cfg["uids"][1] if cfg["uids"] else None, None, path_fds, landlock_abi, bool(cfg["uids"]))
        except Exception as exc:
            outcome["sandbox_error"] = f"test process: {_fmt(exc)}"
            outcome["permanent"] = _permanent(exc)
            raise SandboxLost(outcome["sandbox_error"])
        first = _expect(sock, child)
        if "sandbox_error" in first:
            outcome["sandbox_error"] = str(first["sandbox_error"])
            outcome["permanent"] = first.get("permanent") is True
            raise SandboxLost(outcome["sandbox_error"])
        if first != {"confined": True}:
            raise SandboxLost("malformed first message from the candidate process")
        loaded = _expect(sock, child)  # from here on, the candidate may have written it
        if "load_error" in loaded:
            raise SandboxLost(str(loaded["load_error"]))
        if loaded != {"ready": True}:
            raise SandboxLost("malformed message from the candidate process")
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        gold = Channel(stdin_fd, -1).recv()
        os.close(stdin_fd)
        prompt = gold["prompt"]
        try:
            compile(prompt, "<prompt>", "exec")
        except (SyntaxError, ValueError):
            prompt = ""  # a prompt that is only a signature: the tests cannot use its helpers anyway
        exec(compile(prompt, "<prompt>", "exec"), namespace)
        namespace[cfg["entry_point"]] = candidate  # tests may call it by name (HumanEval/33)
        exec(compile(gold["test"], "<test>", "exec"), namespace)
        namespace["check"](candidate)
        if lost:  # a test caught SandboxLost: still not a pass
            raise SandboxLost(lost[0])
        outcome["ok"] = True
    except SandboxLost as exc:
        text = str(exc)
        outcome["timeout"] = text.startswith("candidate process timeout:")
        outcome["error"] = text.replace("timeout:", "")
    except BaseException as exc:
        outcome["error"] = _fmt(exc)[-2000:]
    _end(sock, child, outcome, result)


def _end(sock, child, outcome, result):
    """Close the channel (the candidate's loop then exits), kill the candidate where this uid
    may (same-uid mode), reap it, and write the one result line."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # one result line, not two
    sock.close()
    if _child_fate(child, 0.05) is None:
        try:
            os.kill(child, signal.SIGKILL)  # EPERM under a separate uid: the parent kills by uid then
        except OSError:
            pass
    outcome["reaped"] = _child_fate(child, 0.2) is not None
    data = encode(outcome)
    view = memoryview(struct.pack(">Q", len(data)) + data)
    while view:
        view = view[os.write(result, view):]
    os._exit(0)


def main():
    # Two frames on stdin: the settings (with the candidate's program) now, the gold's tests
    # only after the fork, so the candidate process never holds them (no reading the hidden
    # tests or EvalPlus's reference solution out of memory).
    stdin = os.dup(0)
    cfg = Channel(stdin, -1).recv()
    if cfg.get("env") is not None:  # a run forked from the zygote: this run's HOME/TMPDIR
        os.environ.clear()
        os.environ.update(cfg["env"])
    result = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.chdir(cfg["workdir"])
    layers = []
    path_fds = {}
    if cfg["uids"]:
        layers.append("uid")
        for p in sys.path:
            if p and p not in path_fds and os.path.isdir(p):
                path_fds[p] = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
    global _C
    if _C is None:  # preloaded in the zygote
        _C = _load_confine()
    landlock_abi = _C.landlock_abi() if cfg["landlock"] else 0
    if cfg["netns"] and os.geteuid() == 0 and _C.unshare_net():
        layers.append("netns")  # loopback only, and down: no network at all
    if landlock_abi:
        layers += ["landlock-fs"] + (["landlock-tcp"] if landlock_abi >= 4 and not cfg["network"] else []) + (
            ["landlock-signals"] if landlock_abi >= 6 else [])
    cfg["seccomp"] = _C.seccomp_supported()
    if cfg["seccomp"]:
        layers.append("seccomp")
    # Opened here, before any uid change: the candidate's Landlock rule needs a handle on its
    # directory even where the path leads through a directory its uid cannot enter.
    workdir_fd = os.open(cfg["workdir"], os.O_PATH | os.O_DIRECTORY)
    from_parent, to_child = os.pipe()  # (read end, write end)
    from_child, to_parent = os.pipe()
    ours, theirs = Channel(from_child, to_child), Channel(from_parent, to_parent)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(from_child)
        os.close(to_child)
        os.close(result)
        _candidate_main(cfg, theirs, {from_parent, to_parent, workdir_fd, *path_fds.values()}, path_fds, landlock_abi,
                        parent, workdir_fd)
        os._exit(1)
    os.close(from_parent)
    os.close(to_parent)
    os.close(workdir_fd)

    def on_deadline(signum, frame):  # the parent's wall clock ran out
        _end(ours, pid, {"ok": False, "error": "timed out", "timeout": True, "sandbox": layers}, result)

    signal.signal(signal.SIGUSR1, on_deadline)
    _test_main(cfg, stdin, ours, pid, path_fds, landlock_abi, result, layers)


def zygote(ctl_fd):
    """Serve runs forked from this process (started once per sandbox, as the verifier's user):
    each request on the control socket carries a run's stdin, stdout and stderr; the reply is the
    run leader's pid and a pidfd for it. Nothing from a problem ever runs in this process, so
    every run starts from the same clean state, without an interpreter start or imports.

    It is also the subreaper of every run: a candidate process whose leader was killed at the
    deadline (having left its group and cleared its parent-death signal) becomes this process's
    child, and is killed within half a second; it cannot leave (it cannot fork)."""
    import select
    import socket

    global _C
    _C = _load_confine()
    _C.set_child_subreaper()
    ctl = socket.socket(fileno=ctl_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # leaders (and orphans) are reaped by the kernel
    leaders = {}  # pid -> pidfd of each run still going
    while True:
        if leaders:
            _sweep(leaders)
        ready, _, _ = select.select([ctl], [], [], 0.5 if leaders else None)
        if not ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 3)
        except OSError:
            _last_sweep(leaders)
        if not msg or len(fds) != 3:  # the verifier is gone (or sent nonsense): stop
            _last_sweep(leaders)
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                for fd in leaders.values():
                    os.close(fd)
                os.setsid()  # its own group, as start_new_session gives a Popen'd harness
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the leader waits for its candidate
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                for fd in fds:
                    if fd > 2:
                        os.close(fd)
                main()
            finally:
                os._exit(1)
        pidfd = []
        try:
            pidfd = [os.pidfd_open(pid)]
            leaders[pid] = pidfd[0]
        except OSError:  # already over and reaped
            pass
        try:
            socket.send_fds(ctl, [struct.pack(">q", pid)], pidfd)
        except OSError:
            _last_sweep(leaders)
        for fd in fds:
            os.close(fd)


def _last_sweep(leaders):
    """The verifier is gone: kill every run still going and every orphan, then exit. (An orphan
    of a leader killed just before would otherwise go to init when this process exits.)"""
    import select

    for pid, fd in leaders.items():
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(0):  # still alive, so the group id is still its own
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
    leaders.clear()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # killed leaders' candidates arrive here as they die
        _sweep(leaders)
        if not _children():
            break
        time.sleep(0.02)
    os._exit(0)


def _sweep(leaders):
    """Forget finished leaders; SIGKILL every other child (an orphan of a killed run)."""
    import select

    for pid, fd in list(leaders.items()):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if poller.poll(0):  # readable pidfd: the process has exited
            os.close(fd)
            del leaders[pid]
    for pid in _children():
        if pid in leaders:
            continue
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if pid in _children():  # still ours (not a reused pid), and not a leader
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(fd)


def _children():
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            return {int(p) for p in f.read().split()}
    except OSError:  # no CONFIG_PROC_CHILDREN: scan
        found = set()
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == me:
                    found.add(int(name))
        return found


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    else:
        main()
