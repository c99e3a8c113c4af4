"""The code sandbox holds against candidates that attack it, as root and as an ordinary user.

Every attack first escapes the in-process guard (``os.fspath.__self__`` is the real ``posix``
module; ``ctypes`` comes back once its ``sys.modules`` block is deleted), so what is tested is
the boundary itself: uids, Landlock, the process split and the parent's cleanup.
"""

import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from cotforge.verifiers.base import Status, is_setup_failure
from cotforge.verifiers.rewards import correctness_reward
from cotforge.verifiers.code import CodeVerifier
from cotforge.verifiers.code_harness import decode, encode
from cotforge.verifiers.code_sandbox import landlock_abi

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="these attacks target a verifier running as root")
SRC = Path(__file__).resolve().parents[2] / "src"

ADD = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
}

# Escape the guard: the real posix module, and ctypes re-imported.
ESCAPE = textwrap.dedent("""\
    import os, sys
    posix = os.fspath.__self__
    for _m in ("ctypes", "_ctypes"):
        sys.modules.pop(_m, None)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
""")


def candidate(body: str) -> str:
    """A response whose code runs ESCAPE at module level, then ``body`` inside ``add``."""
    return "```python\n" + ESCAPE + "def add(a, b):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "```"


@pytest.fixture(scope="module")
def verifier():
    return CodeVerifier(timeout=2.0, use_reference=False, memory_mb=512)


@pytest.fixture()
def canaries():
    """Files nobody may touch: 0644 in a root 0755 directory, and 0666 in a 0777 non-sticky
    directory (like /tmp/ray/session_*/...): only Landlock keeps a sandbox uid out of the second."""
    base = Path(tempfile.mkdtemp(prefix="cotforge-canary-", dir="/tmp"))
    base.chmod(0o755)
    closed = base / "closed"
    closed.mkdir(mode=0o755)
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    files = {}
    for d, mode in ((closed, 0o644), (shared, 0o666)):
        for name in ("unlink", "truncate", "write", "otrunc", "rename"):
            f = d / name
            f.write_text("precious")
            f.chmod(mode)
            files[f] = "precious"
    yield base, closed, shared, files
    shutil.rmtree(base, ignore_errors=True)


def assert_untouched(base, files):
    for f, text in files.items():
        assert f.exists() and f.read_text() == text, f
    created = sorted(p.name for p in base.rglob("*") if p not in files and p.name not in ("closed", "shared"))
    assert created == []


def file_attacks(*dirs: Path) -> str:
    """Every way to change a file in each of ``dirs``, then the right answer (so a verdict other
    than ``correct`` means the attack did not run to its end)."""
    return f"""\
        for d in {[str(d) for d in dirs]!r}:
            for attempt in (
                lambda: posix.unlink(d + "/unlink"),
                lambda: posix.truncate(d + "/truncate", 0),
                lambda: open(d + "/write", "w").write("pwned"),
                lambda: posix.close(posix.open(d + "/otrunc", posix.O_WRONLY | posix.O_TRUNC)),
                lambda: posix.rename(d + "/rename", d + "/renamed"),
                lambda: open(d + "/created", "w").write("pwned"),
                lambda: posix.mkdir(d + "/dir"),
            ):
                try:
                    attempt()
                except OSError:
                    pass
        return a + b
    """


# --------------------------------------------------------------------------------------------
# As root (this machine and CI)


@needs_root
@pytest.mark.parametrize("landlock", [True, False], ids=["uid+landlock", "uid-only"])
def test_root_candidate_cannot_delete_or_overwrite_files(canaries, landlock):
    base, closed, shared, files = canaries
    v = CodeVerifier(timeout=2.0, use_reference=False, memory_mb=512)
    if not landlock:
        v.sandbox._abi = 0  # as on a kernel without Landlock: the uid is the only file boundary
    verdict = v.verify(ADD, candidate(file_attacks(closed, shared)))
    assert verdict.correct, verdict  # every attempt ran
    assert "uid" in verdict.details["sandbox"]
    if "landlock-fs" in verdict.details["sandbox"]:
        assert_untouched(base, files)
    else:  # uid alone: the 0755/0644 canaries hold; world-writable ones are not protected
        assert not landlock
        assert_untouched(closed, {f: t for f, t in files.items() if f.parent == closed})


@needs_root
def test_root_candidate_runs_unprivileged_in_its_own_directory(verifier):
    v = verifier.verify(ADD, candidate("""\
        status = open("/proc/self/status").read()
        assert "CapEff:\\t0000000000000000" in status and "NoNewPrivs:\\t1" in status, status
        assert posix.getuid() not in (0, 65534) and posix.getgroups() == []
        st = posix.stat(".")
        assert st.st_uid == posix.getuid() and st.st_mode & 0o777 == 0o700
        try:
            posix.listdir("/root")
            raise AssertionError("root's home is readable")
        except PermissionError:
            pass
        return a + b
    """))
    assert v.correct, v


@needs_root
def test_root_candidate_cannot_fork_or_start_threads_even_through_posix(verifier):
    v = verifier.verify(ADD, candidate("""\
        import threading
        try:
            threading.Thread(target=print).start()
            raise AssertionError("a thread started")
        except RuntimeError:
            pass
        pid = posix.fork()
        if pid == 0:
            posix._exit(0)
        return a + b
    """))
    assert v.status is Status.INCORRECT and "BlockingIOError" in v.reason, v


@needs_root
def test_root_without_setuid_capability_refuses_instead_of_running_as_root(tmp_path):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    code = ("from cotforge.verifiers.code import CodeVerifier\n"
            f"add = {ADD!r}\n"
            "v = CodeVerifier(timeout=5.0, use_reference=False)\n"
            "x = v.verify(add, '    return a + b\\n')\n"
            "print(repr((x.status.value, x.reason, x.details.get('setup_failure'))))\n")
    proc = subprocess.run([setpriv, "--bounding-set=-setuid,-setgid", "--inh-caps=-setuid,-setgid", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    status, reason, setup_failure = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert status == "error" and "cannot be set up" in reason and "allow_unsandboxed=True" in reason, reason
    assert setup_failure is True  # not the candidate's doing: rewards return None, not a wrong score


@needs_root
def test_root_candidate_cannot_kill_the_verifier_its_parent_or_anyone(verifier):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        v = verifier.verify(ADD, candidate(f"""\
            for pid in (posix.getppid(), {os.getpid()}, {victim.pid}, 1):
                for sig in (9, 15):
                    try:
                        posix.kill(pid, sig)
                    except OSError:
                        pass
            try:
                posix.kill(-1, 9)  # everything this uid may signal: only this process
            except OSError:
                pass
            for pid in (posix.getppid(), {os.getpid()}):
                assert libc.ptrace(16, pid, 0, 0) != 0  # PTRACE_ATTACH is refused
            posix.killpg(posix.getpgid(0), 9)  # its own group: ends only itself
        """))
        assert victim.poll() is None  # still running
        assert v.status is Status.INCORRECT and "before the tests finished" in v.reason, v
    finally:
        victim.kill()
        victim.wait()


def _pid_from(details) -> int:
    tail = details.get("stderr_tail", "")
    return int(tail.split("PID=", 1)[1].split()[0])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except OSError:
        return False


SURVIVE = """\
    posix.setsid()
    libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0
    import signal
    for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    posix.write(2, f"PID={posix.getpid()}\\n".encode())
    import time
    while True:
        time.sleep(0.05)
"""


@needs_root
def test_root_candidate_that_leaves_its_group_does_not_survive_the_timeout(verifier):
    # setsid + clear the parent-death signal + ignore everything catchable, then hang.
    v = verifier.verify(ADD, candidate(SURVIVE))
    assert v.status is Status.TIMEOUT, v
    pid = _pid_from(v.details)
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


@needs_root
def test_root_candidate_cannot_forge_a_pass(verifier):
    # Wrong answers, plus every in-process route to a result: gc for any report/send function
    # or channel, frame walking, and a forged result frame written to every fd and the parent's.
    v = verifier.verify(ADD, candidate(f"""\
        import gc
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_globals.values()) + list(frame.f_locals.values()):
                if hasattr(value, "send"):
                    try:
                        value.send({{"ok": True, "reaped": True}})
                    except Exception:
                        pass
            frame = frame.f_back
        for obj in gc.get_objects():
            if callable(obj) and getattr(obj, "__name__", "") in ("report", "_end", "send"):
                try:
                    obj({{"ok": True}})
                except BaseException:
                    pass
        forged = {encode({"ok": True, "reaped": True, "error": ""})!r}
        frame = len(forged).to_bytes(8, "big") + forged
        for fd in range(256):
            try:
                posix.write(fd, frame)
            except OSError:
                pass
        for path in ("/proc/%d/fd/1" % posix.getppid(), "/proc/%d/fd/1" % {os.getpid()}):
            try:
                with open(path, "wb") as f:
                    f.write(frame)
            except OSError:
                pass
        return a - b
    """))
    assert v.status is Status.INCORRECT and not v.correct, v


FORGED_SANDBOX_ERROR = """```python
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Channel":
        try:
            obj.send({"sandbox_error": "forged"})
        except OSError:  # the test process's end, closed here
            pass
def add(a, b):
    return a - b
```"""


def test_candidate_cannot_turn_its_verdict_into_a_sandbox_error(verifier):
    # A forged "sandbox unavailable" would make the verdict `error` (a skipped reward, not a
    # wrong one) and disable the verifier for every later candidate.
    v = verifier.verify(ADD, FORGED_SANDBOX_ERROR)
    assert v.status is Status.INCORRECT and "malformed" in v.reason, v
    assert verifier.verify(ADD, "    return a + b\n").correct  # still working


def test_candidate_cannot_read_the_tests(verifier):
    # The hidden tests (and EvalPlus's embedded reference solution) never enter its process.
    gold = dict(ADD, test=ADD["test"] + "# SECRET-MARKER\n")
    v = verifier.verify(gold, candidate("""\
        import gc
        # Built at run time: a literal (even "SECRET" + "-MARKER", folded by the compiler) would
        # sit in this code's own constants tuple, which gc may still track.
        marker = "".join(map(chr, [83, 69, 67, 82, 69, 84, 45, 77, 65, 82, 75, 69, 82]))
        seen = []
        for obj in gc.get_objects():
            values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
            for value in list(values):
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                if isinstance(value, str) and marker in value:
                    seen.append(value)
        assert not seen, "found the tests"
        return a + b
    """))
    assert v.correct, v


def test_always_equal_objects_do_not_cross_the_boundary(verifier):
    v = verifier.verify(ADD, "```python\nclass Eq:\n    def __eq__(self, other):\n        return True\n"
                             "def add(a, b):\n    return Eq()\n```")
    assert v.status is Status.INCORRECT and "cannot cross the sandbox boundary" in v.reason, v


def test_plain_values_round_trip_and_junk_is_rejected():
    from decimal import Decimal
    from fractions import Fraction

    value = [None, True, 3, -(10 ** 5000), 1.5, float("inf"), -0.0, 2j, "é\udc80", b"\x00", (1, [2]), {3, 4},
             frozenset({5}), {"k": (6,)}, Fraction(1, 3), Decimal("1.10")]
    back = decode(encode(value))
    assert back == value and [type(x) for x in back] == [type(x) for x in value]
    for junk in (b"", b"Z", b"l\x00\x00\x00\x05N", b"i\x00\x00\x00\x02zz", b"NN", b"S\x00\x00\x00\x01l\x00\x00\x00\x00"):
        with pytest.raises((ValueError, TypeError)):
            decode(junk)


NETWORK_PROBE = """\
    import socket
    reached = []
    for family, kind, where in ((socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 9)),
                                (socket.AF_INET, socket.SOCK_DGRAM, ("192.0.2.1", 9)),  # TEST-NET-1
                                (socket.AF_INET6, socket.SOCK_DGRAM, ("::1", 9))):
        try:
            s = socket.socket(family, kind)
            s.settimeout(1)
            s.connect(where) if kind == socket.SOCK_STREAM else s.sendto(b"x", where)
            reached.append(where)
        except ConnectionRefusedError:  # something answered: the network is there
            reached.append(where)
        except OSError:
            pass
    assert not reached, ("reached", reached)
    return a + b
"""


def test_network_is_off_unless_asked(verifier):
    v = verifier.verify(ADD, candidate(NETWORK_PROBE))
    assert v.correct, v  # every TCP/UDP attempt failed
    if IS_ROOT:
        assert "netns" in v.details["sandbox"] or "landlock-tcp" in v.details["sandbox"]
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        kept = CodeVerifier(timeout=2.0, use_reference=False, network=True).verify(ADD, candidate(f"""\
            import socket
            socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=2).close()
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
            try:
                socket.socket(socket.AF_UNIX)
                raise AssertionError("unix socket")
            except PermissionError:
                pass
            return a + b
        """))
    finally:
        listener.close()
    assert kept.correct and "netns" not in kept.details["sandbox"], kept  # TCP reached the listener
    assert "landlock-tcp" not in kept.details["sandbox"]


class UnixServer:
    """A listening unix socket anyone may connect to (0777, like X11's or a D-Bus socket), in
    ``directory``; records what a client sends."""

    def __init__(self, directory: Path, owner: int | None = None):
        import socket
        import threading

        self.path = str(directory / "listener")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        if owner is not None:
            os.chown(self.path, owner, owner)
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.got: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.got.append(conn.recv(100) or b"(connected)")
                except OSError:
                    self.got.append(b"(connected)")

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


def unix_attack(path: str) -> str:
    return f"""\
        import socket
        for make in (lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), lambda: socket.socketpair()[0]):
            try:
                s = make()
                s.connect({path!r})
                s.send(b"pwned")
            except OSError:
                pass
        return a + b
    """


def test_candidate_cannot_reach_unix_sockets(verifier, tmp_path):
    # A pathname unix socket (X11, D-Bus, tmux, a multiprocessing forkserver) is open to
    # whoever its permission bits allow; Landlock does not cover connect(): seccomp refuses
    # AF_UNIX sockets.
    tmp_path.chmod(0o755)
    server = UnixServer(tmp_path)
    try:
        v = verifier.verify(ADD, candidate(unix_attack(server.path)))
        assert v.correct, v  # the attack ran to its end, every connect failed
        assert "seccomp" in v.details["sandbox"]
    finally:
        server.close()
    assert server.got == []


def test_a_stop_iteration_from_the_candidate_does_not_end_the_tests_early(verifier):
    # Raised through the proxy as the real StopIteration it would end ``zip(map(candidate, ...))``
    # at once, as if every check had passed: control-flow exceptions arrive as plain errors.
    gold = dict(ADD, test=("def check(candidate):\n"
                           "    for got, want in zip(map(lambda p: candidate(*p), [(1, 2), (-1, 1)]), [3, 0]):\n"
                           "        assert got == want\n"))
    assert verifier.verify(gold, "    return a + b\n").correct
    v = verifier.verify(gold, "```python\ndef add(a, b):\n    raise StopIteration\n```")
    assert v.status is Status.INCORRECT and "StopIteration" in v.reason, v


# --------------------------------------------------------------------------------------------
# As an ordinary user: the same verifier run by uid 65534 with a Python that user can read


NONROOT_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from cotforge.verifiers.code import CodeVerifier
gold = json.loads(sys.argv[3])
out = {}
v = CodeVerifier(timeout=2.0, use_reference=False)
for name, response in json.loads(open(sys.argv[1]).read()).items():
    run_gold, response = response if isinstance(response, list) else (gold, response)
    verdict = v.verify(run_gold, response)
    out[name] = [verdict.status.value, verdict.reason, verdict.details.get("sandbox"), verdict.details.get("stderr_tail", "")]
loose = CodeVerifier(timeout=2.0, use_reference=False, allow_unsandboxed=True)
out["loose"] = [loose.verify(gold, "    return a + b\n").status.value]
print(json.dumps(out))
"""

# A gold whose test process is busy in C (no signal handler runs) after the candidate answered,
# and a candidate that keeps running from a timer after answering, out of the group and without
# a parent-death signal.
STUCK_GOLD = dict(ADD, test="def check(candidate):\n    assert candidate(1, 2) == 3\n    sum(range(10 ** 12))\n")
ORPHAN = """\
    posix.setsid()
    libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0
    import signal, time
    def forever(*_):
        posix.write(2, f"PID={posix.getpid()}\\n".encode())
        while True:
            time.sleep(0.05)
    signal.signal(signal.SIGALRM, forever)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    return a + b
"""

KILL_EVERYONE = """\
    ppid = posix.getppid()
    with open("/proc/%d/status" % ppid) as f:
        verifier = int([line for line in f if line.startswith("PPid:")][0].split()[1])
    for pid in (ppid, verifier, -1):
        try:
            posix.kill(pid, 9)
        except OSError:
            pass
    return a - b
"""


@needs_root
def test_as_an_ordinary_user_landlock_confines_or_the_verifier_refuses():
    import json

    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None or subprocess.run([python, "-c", "import sys; assert sys.version_info >= (3, 9)"]).returncode:
        pytest.skip("no system python3 >= 3.9 for the unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="cotforge-user-", dir="/tmp"))
    try:
        base.chmod(0o755)
        files = {}
        for name in ("unlink", "truncate", "write", "otrunc", "rename"):
            f = base / name
            f.write_text("precious")
            files[f] = "precious"
        for f in [base, *files]:
            os.chown(f, 65534, 65534)  # the user's own files: only Landlock protects them
        attacks = {
            "good": "    return a + b\n",
            "files": candidate(file_attacks(base)),
            "kill": candidate(KILL_EVERYONE),
            "fork": candidate("pid = posix.fork()\nif pid == 0:\n    posix._exit(0)\nreturn a + b\n"),
            "forge": FORGED_SANDBOX_ERROR,
            "survive": candidate(SURVIVE),
            "unix": candidate(unix_attack(str(base / "listener"))),
            "orphan": [STUCK_GOLD, candidate(ORPHAN)],
        }
        server = UnixServer(base, owner=65534)  # the user's own socket (a forkserver, tmux)
        spec = base / "attacks.json"
        spec.write_text(json.dumps(attacks))
        script = base / "run.py"
        script.write_text(NONROOT_SCRIPT)

        def as_nobody():
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)

        try:
            proc = subprocess.run([python, "-I", str(script), str(spec), str(SRC), json.dumps(ADD)],
                                  capture_output=True, text=True, timeout=120, cwd=base,
                                  env={"PATH": "/usr/bin:/bin", "HOME": str(base)}, preexec_fn=as_nobody)
        finally:
            server.close()
        if proc.returncode and "No module named" in proc.stderr:
            pytest.skip(f"cotforge is not importable by the unprivileged user: {proc.stderr.strip().splitlines()[-1]}")
        assert proc.returncode == 0, proc.stderr  # the verifier was not killed
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["loose"] == ["correct"]  # allow_unsandboxed always runs
        if landlock_abi() < 6:
            assert out["good"][0] == "error" and "allow_unsandboxed=True" in out["good"][1], out
            return
        assert out["good"][0] == "correct" and "landlock-signals" in out["good"][2] and "uid" not in out["good"][2], out
        for name in ("kill", "fork", "forge", "survive"):  # "files" answers right: its canaries are the test
            assert out[name][0] in ("incorrect", "timeout"), (name, out[name])
        assert "BlockingIOError" in out["fork"][1]
        assert out["survive"][0] == "timeout"
        assert out["unix"][0] == "correct" and server.got == [], (out["unix"], server.got)  # ran, reached nothing
        assert_untouched(base, {**files, spec: spec.read_text(), script: NONROOT_SCRIPT})
        assert not _alive(_pid_from({"stderr_tail": out["survive"][3]}))
        # The test process was stuck in C at the deadline (SIGUSR1 unhandled), so it was killed
        # without killing the candidate, which had left the group: the zygote reaps the orphan.
        assert out["orphan"][0] == "timeout", out["orphan"]
        orphan = _pid_from({"stderr_tail": out["orphan"][3]})
        deadline = time.monotonic() + 3
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(orphan)
    finally:
        shutil.rmtree(base, ignore_errors=True)


CI_SCRIPT = r"""
import json, os, sys, tempfile
from cotforge.verifiers.code import CodeVerifier
import cotforge.verifiers.code_harness as harness
gold, attacks = json.loads(open(sys.argv[1]).read())
assert harness.__file__.startswith(sys.argv[2]), harness.__file__  # the copy in the closed directory
assert tempfile.gettempdir().startswith(sys.argv[2])  # TMPDIR closed as well
v = CodeVerifier(timeout=2.0, use_reference=False)
out = {}
for name, response in attacks.items():
    verdict = v.verify(gold, response)
    out[name] = [verdict.status.value, verdict.reason, verdict.details.get("sandbox")]
print(json.dumps(out))
"""


@needs_root
def test_ci_layout_a_fresh_venv_and_checkout_in_a_closed_directory(canaries):
    # .ci/run builds .venv inside the checkout; on a GPU box the checkout, the venv, TMPDIR and
    # the interpreter (pyenv) may all sit under a 0700 /root. The drop must still happen there.
    import json

    base_dir, closed, shared, files = canaries
    home = Path(tempfile.mkdtemp(prefix="cotforge-ci-"))  # 0700, root's
    try:
        repo = home / "repo"
        shutil.copytree(SRC / "cotforge", repo / "src" / "cotforge", ignore=shutil.ignore_patterns("__pycache__"))
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True, timeout=120)
        venv_python = repo / ".venv" / "bin" / "python"
        site = subprocess.run([str(venv_python), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        deps = [p for p in sys.path if p.endswith("site-packages")]  # this venv's packages, as pip would install
        Path(site, "cotforge_ci.pth").write_text("\n".join([str(repo / "src"), *deps]) + "\n")
        (home / "tmp").mkdir(mode=0o700)
        attacks = {
            "good": candidate("""\
                for var in ("TMPDIR", "HOME"):  # absolute paths into a directory this uid can use
                    with open(os.environ[var] + "/probe-" + var, "w") as f:
                        f.write("ok")
                assert posix.getuid() != 0
                return a + b
            """),
            "files": candidate(file_attacks(closed, shared)),
            "kill": candidate(KILL_EVERYONE),
            "forge": FORGED_SANDBOX_ERROR,
        }
        spec = home / "attacks.json"
        spec.write_text(json.dumps([ADD, attacks]))
        proc = subprocess.run([str(venv_python), "-c", CI_SCRIPT, str(spec), str(home)], capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(home / "tmp"),
                                                "HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 0, proc.stderr  # the verifier survived the kill attempts
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["good"][0] == "correct" and "uid" in out["good"][2], out["good"]
        assert out["files"][0] == "correct", out["files"]  # ran to its end; the canaries are the test
        assert out["kill"][0] == "incorrect" and out["forge"][0] == "incorrect", out
        assert_untouched(base_dir, files)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_refusal_without_confinement_is_an_error_verdict(monkeypatch):
    import cotforge.verifiers.code_sandbox as cs

    v = CodeVerifier(timeout=2.0, use_reference=False)
    monkeypatch.setattr(cs, "_is_root", lambda: False)
    v.sandbox._abi = 5
    verdict = v.verify(ADD, "    return a + b\n")
    assert verdict.status is Status.ERROR and "allow_unsandboxed=True" in verdict.reason, verdict
    assert "Landlock ABI 5" in verdict.reason
    assert is_setup_failure(verdict) and correctness_reward(verdict) is None  # skipped, not scored wrong
    # Landlock alone is not enough for an ordinary user: its own unix sockets need the seccomp filter.
    v.sandbox._abi = 7
    monkeypatch.setattr(cs, "_seccomp_supported", lambda: False)
    verdict = v.verify(ADD, "    return a + b\n")
    assert verdict.status is Status.ERROR and "no seccomp filter" in verdict.reason and is_setup_failure(verdict)


def test_unsandboxed_runs_warn(monkeypatch, caplog):
    import cotforge.verifiers.code_sandbox as cs

    v = CodeVerifier(timeout=2.0, use_reference=False, allow_unsandboxed=True)
    monkeypatch.setattr(cs, "_is_root", lambda: False)
    v.sandbox._abi = 0
    with caplog.at_level("WARNING", logger="cotforge.verifiers.code_sandbox"):
        assert v.verify(ADD, "    return a + b\n").correct
        assert v.verify(ADD, "    return a + b\n").correct
    warnings = [r for r in caplog.records if "UNSANDBOXED" in r.getMessage()]
    assert len(warnings) == 1  # once per batch (a minute), not once per candidate


def _run_bpf(prog: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Classic BPF as the kernel runs a seccomp filter (the subset the filter uses)."""
    import struct

    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    ins = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ins[pc]
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code in (0x15, 0x35):
            pc += jt if (acc == k if code == 0x15 else acc >= k) else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_refuses_exactly_the_listed_syscalls(machine):
    # Runs the generated filter for both architectures (only one of them can load it here).
    from cotforge.verifiers import code_confine as cc

    allow, eperm = 0x7FFF0000, 0x00050001
    arch, numbers, foreign = cc._ARCHES[machine]
    named = dict(zip(cc._DENIED, numbers))
    for allow_inet in (False, True):
        prog = cc.seccomp_program(machine, allow_inet)
        for name, nr in named.items():
            if name != "socket":
                assert _run_bpf(prog, arch, nr) == eperm, (name, allow_inet)
        for domain, inet in ((1, False), (2, True), (10, True), (16, False), (17, False)):  # unix, inet, inet6, netlink, packet
            assert _run_bpf(prog, arch, named["socket"], domain) == (allow if allow_inet and inet else eperm), domain
        for nr in (0, 1, 2, 3, 57, 60, 63, 220, 231, 435):  # read, write, open(at), close, fork/clone...: not listed
            if nr not in numbers:
                assert _run_bpf(prog, arch, nr) == allow, nr
        assert _run_bpf(prog, 0x40000003, 1) == eperm  # i386 ABI
        if foreign is not None:
            assert _run_bpf(prog, arch, foreign | 41) == eperm  # x32 ABI
