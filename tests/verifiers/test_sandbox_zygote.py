"""The code sandbox's zygote: runs forked from it start clean, cannot reach it, survive its death
and a fork of the verifier; without it (``use_zygote = False``) runs start an interpreter each."""

import os
import time

import pytest

from cotforge.verifiers.base import Status
from cotforge.verifiers.code import CodeVerifier
from cotforge.verifiers.code_zygote import available

from test_sandbox import ADD, SURVIVE, _alive, _pid_from, candidate

needs_zygote = pytest.mark.skipif(not available(), reason="the zygote needs Linux pidfds and fd passing")


@pytest.fixture()
def verifier():
    v = CodeVerifier(timeout=1.5, use_reference=False, memory_mb=512)
    yield v
    if v.sandbox._zygote is not None:
        v.sandbox._zygote.close()


@needs_zygote
def test_runs_do_not_see_each_others_state(verifier):
    # Each run is a fresh fork of a process that never ran problem code.
    leave = candidate("""\
        import json
        json.left_behind = True
        sys.modules["planted"] = object()
        return a + b
    """)
    look = candidate("""\
        import json
        assert not hasattr(json, "left_behind") and "planted" not in sys.modules
        return a + b
    """)
    assert verifier.verify(ADD, leave).correct
    v = verifier.verify(ADD, look)
    assert v.correct, v


@needs_zygote
def test_neither_process_of_a_run_holds_a_socket(verifier):
    # The zygote's control socket (the only way to it) is closed in the leader before anything
    # runs; the candidate process keeps only its pipes and read-only directory handles.
    no_sockets = ("    import os\n"
                  "    links = []\n"
                  "    for fd in os.listdir('/proc/self/fd'):\n"
                  "        try:\n"
                  "            links.append(os.readlink('/proc/self/fd/' + fd))\n"
                  "        except FileNotFoundError:  # listdir's own handle, closed since\n"
                  "            pass\n"
                  "    assert len(links) >= 3 and not [l for l in links if l.startswith('socket:')], links\n")
    gold = dict(ADD, test="def check(candidate):\n" + no_sockets + "    assert candidate(1, 2) == 3\n")
    v = verifier.verify(gold, "```python\ndef add(a, b):\n" + no_sockets + "    return a + b\n```")
    assert v.correct, v


@needs_zygote
def test_a_dead_zygote_is_replaced(verifier):
    assert verifier.verify(ADD, "    return a + b\n").correct
    zygote = verifier.sandbox._zygote
    first = zygote._proc
    first.kill()
    first.wait()
    v = verifier.verify(ADD, "    return a + b\n")
    assert v.correct, v
    assert zygote._proc is not first and zygote._proc.poll() is None


@needs_zygote
def test_a_forked_verifier_starts_its_own_zygote(verifier):
    assert verifier.verify(ADD, "    return a + b\n").correct
    parent_zygote = verifier.sandbox._zygote._proc.pid
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            v = verifier.verify(ADD, "    return a - b\n")
            mine = verifier.sandbox._zygote._proc.pid
            os.write(w, f"{v.status.value} {mine}".encode())
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 100).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    assert got[0] == "incorrect" and int(got[1]) != parent_zygote
    assert verifier.verify(ADD, "    return a + b\n").correct  # the parent's is untouched


def test_without_the_zygote_runs_start_an_interpreter_and_hold_the_same(verifier):
    verifier.sandbox.use_zygote = False
    assert verifier.verify(ADD, "    return a + b\n").correct
    assert verifier.verify(ADD, "    return a - b\n").status is Status.INCORRECT
    v = verifier.verify(ADD, candidate(SURVIVE))  # setsid, no parent-death signal, signals ignored
    assert v.status is Status.TIMEOUT, v
    pid = _pid_from(v.details)
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert verifier.sandbox._zygote is None


@needs_zygote
def test_the_zygote_exits_when_the_verifier_lets_go(verifier):
    assert verifier.verify(ADD, "    return a + b\n").correct
    zygote = verifier.sandbox._zygote
    proc = zygote._proc
    zygote._ctl.close()  # what the verifier exiting (or the sandbox being collected) does
    assert proc.wait(timeout=10) == 0
    zygote._ctl = zygote._proc = None
