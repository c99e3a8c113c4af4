"""Per-candidate cost of the code sandbox, against a bare interpreter start measured in the same run.

    python bench/code_sandbox_bench.py [--n 20] [--repeats 3]

Prints, per repeat, the mean wall time of one sandboxed candidate (a passing and a failing
one on a toy problem) and of ``python -I -c pass`` (the peer), and their ratio; then the range
over repeats. The machine may be shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args()
    v = CodeVerifier(use_reference=False, timeout=10.0)
    first = v.verify(ADD, "    return a + b\n")
    assert first.correct, first
    print(f"sandbox user: {first.details.get('sandbox_user')}")
    ratios, cands, peers = [], [], []
    for r in range(args.repeats):
        peer = _mean_s(lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True), args.n)
        good = _mean_s(lambda: v.verify(ADD, "    return a + b\n"), args.n // 2)
        bad = _mean_s(lambda: v.verify(ADD, "    return a - b\n"), args.n - args.n // 2)
        cand = (good + bad) / 2
        ratios.append(cand / peer)
        cands.append(cand)
        peers.append(peer)
        print(f"repeat {r}: candidate {cand * 1e3:.1f} ms, bare interpreter {peer * 1e3:.1f} ms, ratio {cand / peer:.2f}")
    print(f"candidate ms: {min(cands) * 1e3:.1f}-{max(cands) * 1e3:.1f} (median {statistics.median(cands) * 1e3:.1f}); "
          f"peer ms: {min(peers) * 1e3:.1f}-{max(peers) * 1e3:.1f}; ratio {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
