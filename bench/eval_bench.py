"""Eval harness overhead (everything but generation) against a plain math-verify loop, same run.

Corpus: the published outputs in the shared data (``outputs/PROVENANCE.md``), turned into replay
files by :mod:`cotforge.evals.reproduce` - SkyThought's 4 models on MATH-500 (2,000 samples) and
AIME24 (120), Qwen2.5-Math's math_cot_100 (800), and Llama-3.1-8B on MMLU-Pro (12,032).

Harness: ``run_eval(..., backend="replay", plots=False)`` - replaying, grading through the verifier
pool, reasoning statistics, Parquet shards with journal and hashes, metrics with bootstrap CIs and
maj@k equivalence checks, results.json, manifest and card. Each repeat runs in a fresh process
(cold verdict caches, pool started inside the clock), timed around the ``run_eval`` calls.

Peer: what a user writes without a harness - for every math sample ``math_verify.verify(
parse(gold), parse(response))`` serially in one process, nothing stored. It is timed on a fixed
sample of the math responses (``--peer-samples``) and reported as samples/s.

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


def harness_once(work: Path, outputs: Path) -> dict:
    """One timed pass of the harness over every set (runs in its own process)."""
    from cotforge.evals.reproduce import published_sets
    from cotforge.evals.run import run_eval

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
        t0 = time.perf_counter()
        res = run_eval(str(replay), [s.bench], work / f"run{k}", backend="replay", n=s.n, data=data, plots=False)
        dt = time.perf_counter() - t0
        kind = "choice" if s.bench == "mmlu_pro" else "math"
        o = out.setdefault(kind, {"samples": 0, "seconds": 0.0})
        o["samples"] += res["benchmarks"][s.bench]["samples"]
        o["seconds"] += dt
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
    harness, peer = [], []
    for r in range(args.repeats):
        done = subprocess.run([sys.executable, __file__, "--one", "--outputs", str(args.outputs)],
                              capture_output=True, text=True, check=True)
        harness.append(json.loads(done.stdout.strip().splitlines()[-1]))
        peer.append(peer_loop(args.outputs, args.peer_samples, seed=r))

    def rates(runs, kind):
        return [x[kind]["samples"] / x[kind]["seconds"] for x in runs]

    h_math, h_choice = rates(harness, "math"), rates(harness, "choice")
    p_math = [p["samples"] / p["seconds"] for p in peer]
    ratios = [h / p for h, p in zip(h_math, p_math)]
    total = [(x["math"]["samples"] + x["choice"]["samples"]) / (x["math"]["seconds"] + x["choice"]["seconds"]) for x in harness]

    def rng_(v, fmt="{:,.0f}"):
        return f"{fmt.format(min(v))} - {fmt.format(max(v))}"

    print(f"| what | samples | samples/s (range over {args.repeats} runs) |")
    print("|---|---:|---:|")
    print(f"| harness, math sets (run_eval replay, everything but generation) | {harness[0]['math']['samples']} | {rng_(h_math)} |")
    print(f"| harness, MMLU-Pro (choice) | {harness[0]['choice']['samples']} | {rng_(h_choice)} |")
    print(f"| harness, all sets | {harness[0]['math']['samples'] + harness[0]['choice']['samples']} | {rng_(total)} |")
    print(f"| plain math-verify loop (parse + verify, serial) | {peer[0]['samples']} | {rng_(p_math, '{:,.1f}')} |")
    print(f"\nharness / plain loop on math: {rng_(ratios, '{:.1f}')}x")
    if args.json:
        args.json.write_text(json.dumps({"harness": harness, "peer": peer, "ratio_math": ratios}, indent=2))
    return 0


if __name__ == "__main__":  # the verifier pool's workers re-import the main module
    sys.exit(main())
