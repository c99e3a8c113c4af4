"""The verifier pool: deadlines, memory cap, crashes, ordering, and callers in threads, asyncio
and other processes. The misbehaving verifiers live at module level so workers can unpickle them."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import threading
import time

import pytest

from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.math import MathVerifier
from cotforge.verifiers.pool import Deferred, VerifierPool, averify_batch, default_pool, in_worker, verify_batch


class Misbehaving:
    """verify(gold, response): the response says what to do."""

    name = "misbehaving"
    version = "test"
    timeout = 1.0

    def verify(self, gold, response, **kw):
        if response == "hang":
            while True:
                pass
        if response == "sleep":
            time.sleep(60)
        if response == "alloc":
            blob = bytearray(4 * 1024**3)  # beyond the worker's address-space cap
            return Verdict(Status.ERROR, 0.0, None, f"allocated {len(blob)}")
        if response == "crash":
            os._exit(3)
        if response == "raise":
            raise RuntimeError("boom")
        if response == "pid":
            return Verdict(Status.CORRECT, 1.0, str(os.getpid()), "pid", {"in_worker": in_worker()})
        return Verdict(Status.CORRECT if gold == response else Status.INCORRECT, float(gold == response), response, "compared")


class CountingPresettle:
    """Settles even numbers in the caller, defers odd ones to a worker."""

    name = "counting"
    version = "test"

    def presettle(self, gold, response, **kw):
        if int(response) % 2 == 0:
            return Verdict(Status.CORRECT, 1.0, response, "in caller", {"where": "caller"})
        return Deferred("grade", (gold, response), {}, response)

    def grade(self, gold, response):
        return Verdict(Status.INCORRECT, 0.0, response, "in worker", {"where": "worker", "pid": os.getpid()})

    def verify(self, gold, response, **kw):  # pragma: no cover - not used by the pool
        raise AssertionError


class Barrier:
    """Returns only once ``n`` items are running at the same time (each in its own worker), else
    waits until its deadline: a batch that waits for another batch to finish never gets there."""

    name = "barrier"
    version = "test"

    def verify(self, gold, response, **kw):
        if not response.startswith("barrier:"):
            return Verdict(Status.CORRECT, 1.0, response, "plain item")
        directory, n = gold, int(response.split(":")[1])
        open(os.path.join(directory, str(os.getpid())), "w").close()
        while len(os.listdir(directory)) < n:
            time.sleep(0.01)
        return Verdict(Status.CORRECT, 1.0, response, "all running together")


@pytest.fixture(scope="module")
def pool():
    p = VerifierPool(2, timeout=1.0, memory_mb=512)
    yield p
    p.close()


def test_results_in_order_and_in_workers(pool):
    n = 40
    golds = [str(i) for i in range(n)]
    responses = [str(i) if i % 3 else "x" for i in range(n)]
    out = verify_batch(Misbehaving(), golds, responses, pool=pool)
    assert [v.status for v in out] == [Status.CORRECT if i % 3 else Status.INCORRECT for i in range(n)]
    assert [v.extracted for v in out] == responses
    pid = verify_batch(Misbehaving(), ["0"], ["pid"], pool=pool)[0]
    assert pid.details["in_worker"] is True and int(pid.extracted) != os.getpid()
    assert not in_worker()


def test_hang_is_killed_and_the_rest_still_graded(pool):
    killed_before = pool.stats["killed"]
    out = verify_batch(Misbehaving(), ["1", "2", "3", "4", "5"], ["1", "hang", "3", "sleep", "5"], pool=pool, timeout=0.5)
    assert [v.status for v in out] == [Status.CORRECT, Status.TIMEOUT, Status.CORRECT, Status.TIMEOUT, Status.CORRECT]
    assert "killed" in out[1].reason and out[1].details["deadline_s"] == 0.5
    assert pool.stats["killed"] == killed_before + 2
    # the replacement workers work
    assert verify_batch(Misbehaving(), ["7"], ["7"], pool=pool)[0].status is Status.CORRECT


def test_memory_cap(pool):
    out = verify_batch(Misbehaving(), ["1", "2"], ["alloc", "2"], pool=pool)
    assert out[0].status is Status.TIMEOUT and out[0].details["limit"] == "memory"
    assert out[1].status is Status.CORRECT


def test_crash_and_exception_are_errors(pool):
    out = verify_batch(Misbehaving(), ["1", "2", "3"], ["crash", "raise", "3"], pool=pool)
    assert out[0].status is Status.ERROR and "exit code 3" in out[0].reason
    assert out[1].status is Status.ERROR and "RuntimeError: boom" in out[1].reason
    assert out[2].status is Status.CORRECT


def test_presettle_split_and_duplicates(pool):
    out = verify_batch(CountingPresettle(), ["g"] * 6, ["2", "3", "3", "4", "5", "3"], pool=pool)
    assert [v.details["where"] for v in out] == ["caller", "worker", "worker", "caller", "worker", "worker"]
    # identical deferred items are graded once and share the verdict
    assert out[1] is out[2] is out[5]


class WherePresettled:
    """Presettles every item, saying in which process; "die" kills a worker that presettles it."""

    name = "where"
    version = "test"

    def presettle(self, gold, response, **kw):
        if response == "die" and in_worker():
            os._exit(7)
        if response.startswith("defer"):
            return Deferred("grade", (gold, response), {}, response)
        return Verdict(Status.CORRECT if gold == response else Status.INCORRECT, float(gold == response), response, "presettled",
                       {"pid": os.getpid(), **kw})

    def grade(self, gold, response):
        return Verdict(Status.INCORRECT, 0.0, response, "graded", {"pid": os.getpid()})

    def verify(self, gold, response, **kw):  # pragma: no cover - not used by the pool
        raise AssertionError


def test_a_large_batch_is_presettled_in_the_workers_with_the_same_results(pool, monkeypatch):
    import cotforge.verifiers.pool.batch as batch

    n = 101
    golds = [str(i % 7) for i in range(n)]
    responses = [str(i % 5) if i % 10 else f"defer{i % 3}" for i in range(n)]
    kwargs = [{"k": i} for i in range(n)]
    small = verify_batch(WherePresettled(), golds, responses, kwargs=kwargs, pool=pool)  # below the threshold
    monkeypatch.setattr(batch, "PARALLEL_PRESETTLE_MIN", 16)
    large = verify_batch(WherePresettled(), golds, responses, kwargs=kwargs, pool=pool)
    strip = lambda v: (v.status, v.extracted, v.reason, {k: x for k, x in v.details.items() if k != "pid"})  # noqa: E731
    assert [strip(v) for v in large] == [strip(v) for v in small]
    presettled = [v for v in large if v.reason == "presettled"]
    assert {v.details["pid"] for v in presettled} - {os.getpid()} and os.getpid() not in {v.details["pid"] for v in presettled}
    assert all(v.details["pid"] == os.getpid() for v in small if v.reason == "presettled")
    # deferred items found by the slices are still graded once each, in the workers
    assert {v.reason for v, r in zip(large, responses) if r.startswith("defer")} == {"graded"}
    # one worker: no slices
    one = verify_batch(WherePresettled(), golds, responses, kwargs=kwargs, pool=pool, workers=1)
    assert all(v.details["pid"] == os.getpid() for v in one if v.reason == "presettled")


def test_a_slice_whose_worker_dies_is_presettled_in_the_caller(pool, monkeypatch):
    import cotforge.verifiers.pool.batch as batch

    monkeypatch.setattr(batch, "PARALLEL_PRESETTLE_MIN", 16)
    responses = [str(i % 4) for i in range(64)]
    responses[5] = "die"
    out = verify_batch(WherePresettled(), ["1"] * 64, responses, pool=pool)
    assert [v.status for v in out] == [Status.CORRECT if r == "1" else Status.INCORRECT for r in responses]
    assert out[5].reason == "presettled" and out[5].details["pid"] == os.getpid()


def test_usage_errors(pool):
    with pytest.raises(UsageError, match="same length"):
        verify_batch("math", ["1"], ["1", "2"])
    with pytest.raises(UsageError, match="truncated"):
        verify_batch("math", ["1"], ["1"], truncated=[True, False])
    with pytest.raises(UsageError, match="only be given with a verifier name"):
        verify_batch(MathVerifier(), ["1"], ["1"], fallback=False)
    with pytest.raises(UsageError, match="workers"):
        VerifierPool(0)
    with pytest.raises(UsageError, match="timeout"):
        VerifierPool(1, timeout=0)
    with pytest.raises(ValueError, match="unknown verifier"):
        verify_batch("nope", ["1"], ["1"])
    assert verify_batch("math", [], []) == []


def test_from_threads():
    # Threads share the process-wide pool; no signals are involved, so this works off the main thread.
    v = MathVerifier()
    golds = [r"\frac{\sqrt{2}}{2}", r"1-\frac{1}{e}", "x^2+1", r"\sqrt{8}"]
    resps = [r"\boxed{\frac{1}{\sqrt2}}", r"\boxed{\frac{e-1}{e}}", r"\boxed{1+x^2}", r"\boxed{2\sqrt{2}}"]

    def work(i):
        return v.verify(golds[i % 4], resps[i % 4]).status

    with cf.ThreadPoolExecutor(4) as ex:
        assert list(ex.map(work, range(16))) == [Status.CORRECT] * 16

    errors = []

    def batch():
        try:
            out = verify_batch("math", golds, resps, timeout=5.0)
            assert all(o.status is Status.CORRECT for o in out)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=batch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


N_CALLERS = 3


def test_concurrent_callers_share_the_workers(tmp_path):
    # Each caller's batch holds one item that can only finish while every caller's such item is
    # running: with batches graded one after another (one lock around a whole batch) each of
    # them would wait until its deadline instead. No timing involved.
    with VerifierPool(N_CALLERS, timeout=30.0, memory_mb=512) as p:
        out: list = [None] * N_CALLERS

        def caller(k):
            golds = [str(tmp_path)] * 4
            out[k] = verify_batch(Barrier(), golds, ["a", f"barrier:{N_CALLERS}", "b", "c"], pool=p)

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(N_CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(o is not None for o in out)
        assert [[v.reason for v in o] for o in out] == [["plain item", "all running together", "plain item", "plain item"]] * N_CALLERS
        assert len(os.listdir(tmp_path)) == N_CALLERS  # in three different workers


def test_a_stuck_item_blocks_only_its_own_caller():
    with VerifierPool(N_CALLERS, timeout=1.0, memory_mb=512) as p:
        out: list = [None] * N_CALLERS

        def caller(k):
            golds = [str(i) for i in range(6)]
            out[k] = verify_batch(Misbehaving(), golds, ["0", "1", "hang", "3", "4", "5"], pool=p, timeout=1.0)

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(N_CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = [Status.CORRECT, Status.CORRECT, Status.TIMEOUT, Status.CORRECT, Status.CORRECT, Status.CORRECT]
        assert [[v.status for v in o] for o in out] == [expected] * N_CALLERS
        assert p.stats["killed"] == N_CALLERS


def test_max_workers_caps_one_batch(pool):
    out = verify_batch(Misbehaving(), ["0"] * 8, ["pid"] * 8, pool=pool, workers=1)
    assert len({v.extracted for v in out}) == 1


def _python(script: str, *, stdin: bool, tmp_path) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), *sys.path]))
    if stdin:
        return subprocess.run([sys.executable, "-"], input=script, text=True, capture_output=True, env=env, cwd=tmp_path, timeout=180)
    path = tmp_path / "script.py"
    path.write_text(script)
    return subprocess.run([sys.executable, str(path)], text=True, capture_output=True, env=env, cwd=tmp_path, timeout=180)


def test_verify_from_a_stdin_script(tmp_path):
    # `python - <<EOF`: the main module is "<stdin>", which the workers cannot import again.
    script = (
        "from test_pool import Misbehaving\n"
        "from cotforge.verifiers.pool import verify_isolated\n"
        "print(verify_isolated(Misbehaving(), '1', '1').status.value)\n"
    )
    done = _python(script, stdin=True, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "correct"


#: A verifier class defined in a script (its pickle refers to __main__); ``extracted`` is the pid
#: of the process that graded it.
LOCAL_VERIFIER = (
    "import os\n"
    "from cotforge.verifiers.base import Status, Verdict\n"
    "from cotforge.verifiers.pool import verify_isolated\n"
    "class Local:\n"
    "    name, version, timeout = 'local', 'test', 5.0\n"
    "    def verify(self, gold, response, **kw):\n"
    "        return Verdict(Status.CORRECT, 1.0, str(os.getpid()), 'local')\n"
)


def test_workers_that_cannot_start_give_error_verdicts(tmp_path):
    # A verifier defined in the script itself: the workers must import the script to load it.
    # This one fails when imported again (as unguarded scripts often do): every worker dies
    # before it is ready, and the verifier reports that on the items, naming the guard, instead
    # of raising.
    script = (
        "import sys\n"
        "if __name__ != '__main__':\n"
        "    sys.exit(3)\n"
        + LOCAL_VERIFIER
        + "v = verify_isolated(Local(), '1', '1')\n"
        "print(v.status.value, '|', v.reason)\n"
    )
    done = _python(script, stdin=False, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    status, reason = done.stdout.strip().split(" | ", 1)
    assert status == "error" and "__main__" in reason


def test_a_verifier_defined_in_a_guarded_script_is_graded_in_the_workers(tmp_path):
    # Its pickle refers to __main__, so the workers that grade it import the script (guarded).
    script = (
        LOCAL_VERIFIER
        + "if __name__ == '__main__':\n"
        "    from cotforge.verifiers import get_verifier\n"
        "    # first a built-in verifier: its workers start without the script ...\n"
        "    m = get_verifier('math').verify(r'\\frac{\\sqrt{3}}{2} + x', r'\\boxed{\\sin(\\pi/3) + x}')\n"
        "    # ... then the script's own: a worker that imports the script takes it\n"
        "    v = verify_isolated(Local(), '1', '1')\n"
        "    print(m.status.value, v.status.value, v.extracted != str(os.getpid()))\n"
    )
    done = _python(script, stdin=False, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["correct", "correct", "True"], done.stdout + done.stderr[-2000:]


def test_from_asyncio():
    async def main():
        a, b = await asyncio.gather(
            averify_batch("math", ["2"], [r"\boxed{\sqrt{4}}"]),
            averify_batch("choice", ["B"], ["The answer is (B)."]),
        )
        return a[0].status, b[0].status

    assert asyncio.run(main()) == (Status.CORRECT, Status.CORRECT)


def _grade_in_child(args):
    golds, responses = args
    return [v.status.value for v in verify_batch("math", golds, responses, timeout=5.0)]


def test_from_a_process_pool():
    # A child process (spawned, like a Ray or ProcessPoolExecutor worker) builds its own pool.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        out = ex.submit(_grade_in_child, ([r"\frac{\sqrt{2}}{2}", "3"], [r"\boxed{\frac{1}{\sqrt2}}", r"\boxed{4}"])).result(timeout=120)
    assert out == ["correct", "incorrect"]


def test_from_a_daemonic_multiprocessing_pool():
    # multiprocessing.Pool workers are daemonic; the verifier pool still starts inside them.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as p:
        out = p.apply_async(_grade_in_child, (([r"2\sqrt{2}"], [r"\boxed{\sqrt{8}}"]),)).get(timeout=120)
    assert out == ["correct"]


def test_default_pool_is_shared():
    assert default_pool() is default_pool()


def test_importing_the_verifiers_is_light():
    # The caller side never needs SymPy (only workers do), and nothing here pulls in torch.
    import subprocess
    import sys

    code = (
        "import sys, cotforge.verifiers.math, cotforge.verifiers.choice, cotforge.verifiers.theoremqa, cotforge.verifiers.pool;"
        "from cotforge.verifiers.math import MathVerifier;"
        "MathVerifier().presettle('025', r'\\boxed{25}');"
        "bad = [m for m in ('torch', 'sympy', 'math_verify') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class SlowToLoad(Misbehaving):
    """Unpickling takes longer than the per-item deadline (as importing a heavy verifier module can)."""

    def __init__(self):
        self.state = "some"  # pickle calls __setstate__ only for an object with state

    def __setstate__(self, state):
        time.sleep(1.5)
        self.__dict__.update(state)


def test_loading_a_verifier_does_not_count_against_its_first_item():
    with VerifierPool(1, timeout=0.5, memory_mb=512) as p:
        out = verify_batch(SlowToLoad(), ["1", "2"], ["1", "3"], pool=p, timeout=0.5)
    assert [v.status for v in out] == [Status.CORRECT, Status.INCORRECT]
    assert p.stats["killed"] == 0


def test_a_finishing_dispatcher_leaves_its_successor_in_place():
    # The loop lets go of the pool (no work left); before its thread ends, a caller starts the next
    # dispatcher. The old thread must not clear the new one's slot, or a third dispatcher would run
    # beside it and the two would lose each other's results (a hang seen in bench/eval_bench.py).
    p = VerifierPool(1)
    successor = threading.Thread(target=lambda: None)

    def loop_then_caller_starts_another():
        with p._lock:
            p._thread = successor

    p._dispatch_loop = loop_then_caller_starts_another
    p._dispatch()
    assert p._thread is successor


def test_a_script_without_a_main_guard_runs_once_and_grades_normally(tmp_path):
    # Without `if __name__ == "__main__":`, spawn and forkserver children would run the whole
    # script again in every worker (its prints, its writes, a whole eval into the same folder).
    # The pool's workers never import the caller's script unless a verifier's pickle needs it,
    # so the script's body runs once and the items get real verdicts.
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "import os\n"
        "print('BODY', os.getpid(), flush=True)\n"
        "from cotforge.verifiers import get_verifier\n"
        "v = get_verifier('math')\n"
        "statuses = [v.verify(r'\\sin^2 x + \\cos^2 x', f'\\\\boxed{{\\\\sin x + {k}}}').status.value for k in range(3)]\n"
        "statuses.append(v.verify(r'\\frac{\\sqrt{3}}{2} + x', r'\\boxed{\\sin(\\pi/3) + x}').status.value)\n"
        "print('STATUSES', statuses)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("BODY") == 1, done.stdout
    assert "STATUSES ['incorrect', 'incorrect', 'incorrect', 'correct']" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "could not start a verifier worker" not in done.stderr, done.stderr[-3000:]


def test_the_forkserver_warm_up_parses_its_list_and_can_be_turned_off():
    # The warm-up only fills ANTLR's prediction tables; a shape the grammar refuses is skipped.
    from cotforge.verifiers._preload import WARM_UP, warm_up_parser

    assert warm_up_parser(WARM_UP) >= len(WARM_UP) - 3
    assert warm_up_parser(("\\frac{",)) == 0
