"""Per-candidate cost of the code sandbox, against a bare interpreter start measured in the same run.

    python bench/code_sandbox_bench.py [--n 20] [--repeats 3] [--old PATH]

Prints, per repeat, the mean wall time of one sandboxed candidate (a passing and a failing
one on a toy problem) with runs forked from the zygote (``new``) and with an interpreter
started per run (``new-no-zygote``), and of ``python -I -c pass`` (the peer), and their ratios;
then the range over repeats. ``--old PATH``: also time the CodeVerifier of another code.py (e.g. the previous
sandbox: ``git show bfcece5:src/cotforge/verifiers/code.py > /tmp/old_code.py``), interleaved
in the same repeats. The machine may be shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

from cotforge.verifiers.code import CodeVerifier

ADD = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
}


def _mean_s(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="candidates per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--old", help="another code.py whose CodeVerifier to time alongside")
    args = ap.parse_args()
    verifiers = {"new": CodeVerifier(use_reference=False, timeout=10.0)}
    started = CodeVerifier(use_reference=False, timeout=10.0)
    started.sandbox.use_zygote = False  # one interpreter started per candidate, as before the zygote
    verifiers["new-no-zygote"] = started
    if args.old:
        spec = importlib.util.spec_from_file_location("old_code", args.old)
        old = importlib.util.module_from_spec(spec)
        sys.modules["old_code"] = old  # dataclasses look their module up
        spec.loader.exec_module(old)
        verifiers["old"] = old.CodeVerifier(use_reference=False, timeout=10.0)
    for name, v in verifiers.items():
        first = v.verify(ADD, "    return a + b\n")
        assert first.correct, first
        print(f"{name}: sandbox user {first.details.get('sandbox_user')}, layers {first.details.get('sandbox', '-')}")
    times: dict[str, list[float]] = {name: [] for name in [*verifiers, "peer"]}
    for r in range(args.repeats):
        times["peer"].append(_mean_s(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True), args.n))
        line = [f"repeat {r}: bare interpreter {times['peer'][-1] * 1e3:.1f} ms"]
        for name, v in verifiers.items():
            good = _mean_s(lambda: v.verify(ADD, "    return a + b\n"), args.n // 2)
            bad = _mean_s(lambda: v.verify(ADD, "    return a - b\n"), args.n - args.n // 2)
            times[name].append((good + bad) / 2)
            line.append(f"{name} {times[name][-1] * 1e3:.1f} ms ({times[name][-1] / times['peer'][-1]:.2f}x)")
        print(", ".join(line))
    for name in verifiers:
        ms = times[name]
        ratios = [t / p for t, p in zip(ms, times["peer"])]
        print(f"{name}: {min(ms) * 1e3:.1f}-{max(ms) * 1e3:.1f} ms per candidate (median {statistics.median(ms) * 1e3:.1f}), "
              f"{min(ratios):.2f}-{max(ratios):.2f}x a bare interpreter start")
    r = [n / o for n, o in zip(times["new"], times["new-no-zygote"])]
    print(f"new / new-no-zygote: {min(r):.2f}-{max(r):.2f}")
    if "old" in verifiers:
        r = [n / o for n, o in zip(times["new"], times["old"])]
        print(f"new / old: {min(r):.2f}-{max(r):.2f}")


if __name__ == "__main__":
    main()
