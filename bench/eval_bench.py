"""Eval harness overhead (everything but generation) against a plain math-verify loop, same run.

Corpus: the published outputs in the shared data (``outputs/PROVENANCE.md``), turned into replay
files by :mod:`cotforge.evals.reproduce` - SkyThought's 4 models on MATH-500 (2,000 samples) and
AIME24 (120), Qwen2.5-Math's math_cot_100 (800), and Llama-3.1-8B on MMLU-Pro (12,032).

Harness: ``run_eval(..., backend="replay", plots=False)`` - replaying, grading through the verifier
pool, reasoning statistics, Parquet shards with journal and hashes, metrics with bootstrap CIs and
maj@k equivalence checks, results.json, manifest and card. Each repeat runs in a fresh process, so
every verdict cache is cold. Imports (pyarrow's lazy pandas import included) and the verifier pool's
start (its forkserver loads SymPy and math-verify) happen before the clock, as the peer's ``import math_verify`` does; their seconds are
reported apart (``startup``). A third mode replaces verification by a constant verdict, leaving the
harness's own cost (replay, rows, statistics, shards, metrics, card). Two grading modes, alternated within each repeat: ``workers`` (the
opt-in: every item verified in the pool's processes) and ``in-process`` (the default: the cheap
part of each verdict settled in the harness's grading thread, ``COTFORGE_EVAL_GRADE_IN_WORKERS=0``).

Peer: what a user writes without a harness - for every math sample ``math_verify.verify(
parse(gold), parse(response))`` serially in one process, nothing stored. It is timed on a fixed
sample of the math responses (``--peer-samples``) and reported as samples/s.

Wall-clock rates move with whatever else the machine runs; samples per CPU-second (this process
plus the pool's processes, from psutil) move much less, and bound what an idle machine gives.

    python bench/eval_bench.py [--repeats 3] [--peer-samples 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start_pool() -> float:
    """Start every verifier-pool worker with a trivial job (no real item, so no cache is warmed)."""
    import os

    from cotforge.verifiers import get_verifier
    from cotforge.verifiers.pool import Deferred, default_pool

    t0 = time.perf_counter()
    pool = default_pool()
    jobs = [Deferred("verify", (str(k), "\\boxed{0}"), {}) for k in range(4 * (os.cpu_count() or 1))]
    pool.run(get_verifier("math"), jobs)
    return time.perf_counter() - t0


def null_grader() -> None:
    """Replace verification by a constant verdict (bench only): what is left is the harness's own cost."""
    from cotforge.evals.grading import Grader

    def grade(self, rows):
        return [{"status": "incorrect", "score": 0.0, "correct": False, "extracted": None, "reason": "bench"} for _ in rows]

    Grader.grade = grade
    Grader.equivalences = lambda self, per_question: [{} for _ in per_question]


def cpu_seconds() -> float:
    """CPU time of this process and all its descendants alive now (the pool's forkserver and workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:  # a worker replaced meanwhile
            pass
    return total


def harness_once(work: Path, outputs: Path) -> dict:
    """One timed pass of the harness over every set (runs in its own process)."""
    import os

    t0 = time.perf_counter()
    import cotforge.evals.finish  # noqa: F401 - imports before the clock, as for the peer
    import cotforge.evals.grading  # noqa: F401
    import duckdb  # noqa: F401
    import pyarrow as pa

    # pyarrow imports pandas (0.3-0.4 s) the first time it converts a Python list, which is the
    # first shard a run writes: an import like the others, so it is paid here, before the clock
    # (until this line it landed inside the first timed set)
    pa.array([0])
    from cotforge.evals.reproduce import published_sets
    from cotforge.evals.run import run_eval

    startup = {"imports": time.perf_counter() - t0, "pool": start_pool()}
    if os.environ.get("COTFORGE_BENCH_NULL_GRADER") == "1":
        null_grader()

    sets = published_sets(outputs)
    prepared = []
    for k, s in enumerate(sets):
        replay = work / f"{k}.replay.jsonl"
        replay.write_text("".join(json.dumps(r) + "\n" for r in s.replay))
        data = None
        if s.data_rows is not None:
            df = work / f"{k}.data.jsonl"
            df.write_text("".join(json.dumps(r) + "\n" for r in s.data_rows))
            data = {s.bench: df}
        prepared.append((k, s, replay, data))
    out = {}
    for k, s, replay, data in prepared:
        c0, t0 = cpu_seconds(), time.perf_counter()
        res = run_eval(str(replay), [s.bench], work / f"run{k}", backend="replay", n=s.n, data=data, plots=False)
        dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
        kind = "choice" if s.bench == "mmlu_pro" else "math"
        o = out.setdefault(kind, {"samples": 0, "seconds": 0.0, "cpu_seconds": 0.0})
        o["samples"] += res["benchmarks"][s.bench]["samples"]
        o["seconds"] += dt
        o["cpu_seconds"] += dc
    out["startup"] = startup
    return out


def peer_loop(outputs: Path, samples: int, seed: int = 0) -> dict:
    import logging

    from math_verify import parse, verify

    from cotforge.evals.reproduce import published_sets

    logging.disable(logging.WARNING)
    pairs = []
    for s in published_sets(outputs):
        if s.bench == "mmlu_pro":
            continue
        golds = {}
        from cotforge.evals.benchmarks import get_benchmark

        data_rows = s.data_rows or [{"unique_id": it.id, "answer": it.gold} for it in get_benchmark(s.bench).load().items]
        for r in data_rows:
            golds[str(r.get("unique_id") or r.get("id"))] = str(r["answer"])
        pairs += [(golds[r["prompt_id"]], r["completion"]) for r in s.replay if r["prompt_id"] in golds]
    rng = random.Random(seed)
    chosen = rng.sample(pairs, min(samples, len(pairs)))
    t0 = time.perf_counter()
    for gold, response in chosen:
        try:
            verify(parse(f"${gold}$"), parse(response))
        except Exception:
            pass
    dt = time.perf_counter() - t0
    return {"samples": len(chosen), "seconds": dt}


def main() -> int:
    ap = argparse.ArgumentParser(description="eval harness overhead vs a plain math-verify loop")
    from cotforge.evals.benchmark import shared_data_dir

    ap.add_argument("--outputs", type=Path, default=shared_data_dir() / "outputs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-samples", type=int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(harness_once(Path(tmp), args.outputs)))
        return 0
    if not args.outputs.is_dir():
        print(f"error: {args.outputs} not found (the shared data outputs/ folder)", file=sys.stderr)
        return 2
    import os

    modes = {"workers": "1", "in-process": "0", "none (harness's own cost)": "null"}
    harness: dict[str, list] = {m: [] for m in modes}
    peer = []
    for r in range(args.repeats):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))  # neither mode always goes first
        for mode in order:
            env = {**os.environ, "COTFORGE_EVAL_GRADE_IN_WORKERS": "0" if modes[mode] == "null" else modes[mode],
                   "COTFORGE_BENCH_NULL_GRADER": "1" if modes[mode] == "null" else "0"}
            done = subprocess.run([sys.executable, __file__, "--one", "--outputs", str(args.outputs)],
                                  capture_output=True, text=True, check=True, env=env)
            harness[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
        peer.append(peer_loop(args.outputs, args.peer_samples, seed=r))

    def rates(runs, kind):
        return [x[kind]["samples"] / x[kind]["seconds"] for x in runs]

    def total(runs):
        return [(x["math"]["samples"] + x["choice"]["samples"]) / (x["math"]["seconds"] + x["choice"]["seconds"]) for x in runs]

    def rng_(v, fmt="{:,.0f}"):
        return f"{fmt.format(min(v))} - {fmt.format(max(v))}"

    p_math = [p["samples"] / p["seconds"] for p in peer]
    first = harness["workers"][0]
    print(f"| what | samples | samples/s (range over {args.repeats} runs) |")
    print("|---|---:|---:|")
    for mode, runs in harness.items():
        print(f"| harness ({mode} grading), math sets | {first['math']['samples']} | {rng_(rates(runs, 'math'))} |")
        print(f"| harness ({mode} grading), MMLU-Pro (choice) | {first['choice']['samples']} | {rng_(rates(runs, 'choice'))} |")
        print(f"| harness ({mode} grading), all sets | {first['math']['samples'] + first['choice']['samples']} | {rng_(total(runs))} |")
    print(f"| plain math-verify loop (parse + verify, serial) | {peer[0]['samples']} | {rng_(p_math, '{:,.1f}')} |")
    for mode, runs in harness.items():
        if mode.startswith("none"):
            continue
        ratios = [h / p for h, p in zip(rates(runs, "math"), p_math)]
        print(f"\nharness ({mode} grading) / plain loop on math: {rng_(ratios, '{:.1f}')}x")
    for mode, runs in harness.items():
        per_cpu = [(x["math"]["samples"] + x["choice"]["samples"]) / (x["math"]["cpu_seconds"] + x["choice"]["cpu_seconds"]) for x in runs]
        math_cpu = [x["math"]["samples"] / x["math"]["cpu_seconds"] for x in runs]
        print(f"harness ({mode} grading) samples per CPU-second (harness + pool workers): all {rng_(per_cpu)}, math {rng_(math_cpu)}")
    starts = [x["startup"]["imports"] + x["startup"]["pool"] for runs in harness.values() for x in runs]
    print(f"startup before the clock (imports + pool start): {rng_(starts, '{:.2f}')} s")
    if args.json:
        args.json.write_text(json.dumps({"harness": harness, "peer": peer}, indent=2))
    return 0


if __name__ == "__main__":  # the verifier pool's workers re-import the main module
    sys.exit(main())
