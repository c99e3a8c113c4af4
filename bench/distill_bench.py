"""Distillation throughput without the model: verification, bookkeeping and writing, in completions/s.

Target (issue "datagen", section 8): at least 2,000 completions/s on 2 cores. Generation is taken
out by the replay backend serving published model outputs (``../shared/data/outputs``):

- ``math500x4``: the 500 MATH-500 problems, 4 samples each = the greedy outputs of the four models in
  SkyThought's Qwen2.5-Math-style evaluation (Qwen2.5-14B-Instruct, Qwen2.5-Math-7B, gemma-2-27b-it,
  Sky-T1-32B short) - 2,000 completions;
- ``math100x8``: 100 MATH problems x 8 sampled CoT answers from Qwen2.5-Math's rm@k example - 800.

Each runs ``cotforge.datagen.distill.distill`` end to end (inputs -> replay -> math verifier ->
rows, pass rates, accept/reject -> zstd Parquet shards -> accepted/prompts configs -> DuckDB stats
-> card). The peer, measured in the same run on the same (gold, completion) pairs, is the loop that
open-r1-style filters run: ``math_verify.verify(parse(gold), parse(completion))`` per completion,
grading only, nothing written. Agreement of our verdicts with the published per-sample ``score``
is printed too, as a sanity check that speed did not come from skipping work.

    python bench/distill_bench.py              # both sets, with the peer
    python bench/distill_bench.py --no-peer    # ours only (the peer takes ~40 s on math500x4)
    python bench/distill_bench.py --stragglers # openai backend vs a local server (own process) with 10%
                                               # slow prompts: continuous submission vs batch by batch vs
                                               # the backend alone with all requests in flight

Each set is measured once, in a fresh verdict cache, after a warm-up on unrelated prompts. Run it on
an idle machine: the verifier pool uses every core.

"grading busy" is the time batches spent in the verifiers (presettle in process + the isolated worker
pool), summed over batches: distill grades several batches at once (``grading_overlap()``: 8 on 2
cores) while the next one is generated, so it can exceed the wall time. "row building" is the time spent turning verdicts into rows
(reasoning statistics, ids, accept/reject).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT.parent / "shared" / "data" / "outputs"
SKY = OUTPUTS / "skythought_qwen25math_eval"
SKY_MODELS = ["Qwen2.5-14B-Instruct", "Qwen2.5-Math-7B", "gemma-2-27b-it", "Sky-T1-math-correct-5K-32B-short-ckpts"]


def _as_list(v):
    if isinstance(v, list):
        return v
    import ast

    return ast.literal_eval(v)


def load_math500x4():
    """problems [(question, answer)], samples {question: [(model, text, published score)]}."""
    per_q: dict[str, list] = {}
    answers: dict[str, str] = {}
    for model in SKY_MODELS:
        path = next((SKY / model / "math500").glob("*.jsonl"))
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            answers[r["question"]] = r["answer"]
            per_q.setdefault(r["question"], []).append((model, _as_list(r["code"])[0], bool(_as_list(r["score"])[0])))
    return [(q, answers[q]) for q in per_q], per_q


def load_math100x8():
    per_q: dict[str, list] = {}
    problems = []
    for line in (OUTPUTS / "qwen25math_rm_maj_example_math_cot_100.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        problems.append((r["question"], r["answer"]))
        per_q[r["question"]] = [("qwen2.5-math (rm@k example)", t, bool(s)) for t, s in zip(_as_list(r["code"]), _as_list(r["score"]))]
    return problems, per_q


def run_set(name, problems, samples, tmp: Path):
    from cotforge.datagen.distill import DistillConfig, distill, make_items
    from cotforge.datagen.inputs import Problem

    n = len(next(iter(samples.values())))
    probs = [Problem(i, q, a, "math") for i, (q, a) in enumerate(problems)]
    cfg_args = dict(sampling={"n": n, "temperature": 0.0, "max_tokens": 4096}, template={"system": None, "user": "{problem}"})
    items, _ = make_items(probs, DistillConfig(backend="replay", model="x", **cfg_args))
    records = tmp / f"{name}.jsonl"
    with records.open("w", encoding="utf-8") as fh:
        for it in items:
            for j, (model, text, _) in enumerate(samples[it.problem]):
                fh.write(json.dumps({"prompt_id": it.prompt_id, "sample_index": j, "completion": text,
                                     "finish_reason": "stop", "model": model}) + "\n")
    cfg = DistillConfig(backend="replay", model=str(records), keep="correct", **cfg_args)
    # warm-up on other prompts (a K&K-style toy set): one-time imports (pyarrow's pandas shim, DuckDB,
    # Jinja) and the verifier pool's start are paid here, not in the measured run
    warm = [Problem(i, f"warm-up {i}", "(1) Ann is a knight", "kk") for i in range(4)]
    warm_items, _ = make_items(warm, DistillConfig(backend="replay", model="x", **cfg_args))
    with (tmp / f"{name}-warm.jsonl").open("w", encoding="utf-8") as fh:
        for it in warm_items:
            for j in range(n):
                fh.write(json.dumps({"prompt_id": it.prompt_id, "sample_index": j, "finish_reason": "stop",
                                     "completion": "<answer>(1) Ann is a knight</answer>"}) + "\n")
    distill(warm, tmp / f"{name}-warm", DistillConfig(backend="replay", model=str(tmp / f"{name}-warm.jsonl"), **cfg_args))
    start_pool()

    # one measured run: a second one in this process would hit the verifiers' verdict caches
    t0 = time.perf_counter()
    m = distill(probs, tmp / f"{name}-0", cfg, batch_prompts=64)
    best = time.perf_counter() - t0
    completions = m["stats"]["completions"]

    # agreement with the published per-sample scores
    import pyarrow.parquet as pq

    rows = [r for f in sorted((tmp / f"{name}-0" / "data" / "all").glob("*.parquet"))
            for r in pq.read_table(f, columns=["problem", "sample_index", "status"]).to_pylist()]
    agree = sum((r["status"] == "correct") == samples[r["problem"]][r["sample_index"]][2] for r in rows)

    pairs = [(a, t) for (q, a) in problems for (_, t, _) in samples[q]]
    run = m["stats"]["run"]
    return {"set": name, "completions": completions, "wall": best, "rate": completions / best,
            "agree": agree / len(rows), "accepted": m["stats"]["accepted"], "pairs": pairs,
            "grading": run["grading_seconds"], "rows": run["row_building_seconds"]}


def start_pool() -> None:
    """Start every verifier-pool worker (the forkserver's SymPy import and parser warm-up
    included) with trivial jobs sent to the workers as they are: an item the fast path settles,
    such as ``verify_batch("math", ["1"], ["\\boxed{1}"])``, never reaches the pool, which would
    then start inside the measured run. No real item is graded, so no verdict is cached."""
    import os

    from cotforge.verifiers import get_verifier
    from cotforge.verifiers.pool import Deferred, default_pool

    jobs = [Deferred("verify", (str(k), "\\boxed{0}"), {}) for k in range(4 * (os.cpu_count() or 1))]
    default_pool().run(get_verifier("math"), jobs)


def peer_rate(pairs, limit: int):
    """open-r1-style filtering: math_verify parse + verify per completion, in process, nothing written,
    with math-verify's default 5 s timeouts. Measured on every k-th pair (``limit`` of them): a few
    pathological outputs take the full timeout, so the whole set would take minutes."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    step = max(1, len(pairs) // limit)
    sample = pairs[::step][:limit]
    t0 = time.perf_counter()
    for gold, text in sample:
        try:
            verify(parse(f"${gold}$"), parse(text))
        except Exception:
            pass
    return len(sample) / (time.perf_counter() - t0), len(sample)


# ------------------------------------------------------------------ straggler scenario (a local server)


def serve_stragglers(delays_file: str) -> None:
    """An OpenAI-compatible chat server on localhost: each prompt answers after its own delay.
    Runs in a process of its own (``--serve-stragglers``), so it never competes with the client for
    the GIL; prints its port, then serves until killed."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    delays = json.loads(Path(delays_file).read_text())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            question = body["messages"][-1]["content"]
            time.sleep(delays.get(question, 0.02))
            answer = question.split("=")[0].strip().split()[-1]
            payload = {"choices": [{"index": k, "message": {"content": f"\\boxed{{{answer}}}"}, "finish_reason": "stop",
                                    "token_ids": [1, 2, 3]} for k in range(body.get("n", 1))],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3 * body.get("n", 1)}}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the default backlog of 5 drops connections (1 s SYN retries) under load

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    sys.stdin.read()  # until the parent closes our stdin (or dies)


def _start_server(delays: dict[str, float], tmp: Path):
    import subprocess

    (tmp / "delays.json").write_text(json.dumps(delays))
    proc = subprocess.Popen([sys.executable, __file__, "--serve-stragglers", str(tmp / "delays.json")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def _ideal_seconds(durations: list[float], concurrency: int) -> float:
    """Makespan with every request submitted at once, ``concurrency`` served at a time (list scheduling)."""
    import heapq

    free = [0.0] * concurrency
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def straggler_scenario(tmp: Path, prompts: int, share: float, slow: float, repeats: int) -> None:
    """Distill through the openai backend against a local server (its own process) where ``share``
    of the prompts take ``slow`` seconds (the rest 0.02 s). Measured in the same run: distill with
    continuous submission (ours), distill one batch at a time (what a batch design does), and the
    backend alone with every prompt in one call (all requests in flight, nothing graded or written:
    the practical ideal on this machine). Ratios are to that measured ideal and to the schedule's
    theoretical makespan."""
    import random

    from cotforge.datagen.backends.base import GenerationRequest, SamplingParams
    from cotforge.datagen.backends.openai_compat import OpenAIGenerator
    from cotforge.datagen.distill import DistillConfig, distill
    from cotforge.datagen.inputs import Problem

    rng = random.Random(0)
    problems = [Problem(i, f"{i} + 0 = {i}", str(i), "math") for i in range(prompts)]
    delays = {p.problem: (slow if rng.random() < share else 0.02) for p in problems}
    server, port = _start_server(delays, tmp)
    concurrency = 32
    schedule = _ideal_seconds([delays[p.problem] for p in problems], concurrency)
    options = {"base_url": f"http://127.0.0.1:{port}/v1", "max_concurrency": concurrency}
    cfg = DistillConfig(backend="openai", model="m", sampling={"n": 4, "max_tokens": 16},
                        template={"system": None, "user": "{problem}"}, backend_options=options)
    results: dict[str, list[float]] = {"distill, continuous submission": [], "distill, batch by batch": [],
                                       "backend alone, all in flight": []}
    hashes = set()
    try:
        for r in range(repeats):
            for mode in results:
                t0 = time.perf_counter()
                if mode.startswith("backend"):
                    g = OpenAIGenerator("m", **options)
                    g.generate([GenerationRequest(str(p.index), [{"role": "user", "content": p.problem}])
                                for p in problems], SamplingParams(n=4, max_tokens=16))
                    g.close()
                else:
                    OpenAIGenerator.concurrent_calls = "continuous" in mode
                    m = distill(problems, tmp / f"s-{len(hashes)}-{r}-{mode[9:14]}", cfg, batch_prompts=16)
                    hashes.add(m["content_hash"])
                results[mode].append(time.perf_counter() - t0)
    finally:
        OpenAIGenerator.concurrent_calls = True
        server.stdin.close()
        server.wait(timeout=10)
    measured = min(results["backend alone, all in flight"])
    print(f"straggler scenario: {prompts} prompts x 4 samples, {share:.0%} take {slow:g} s (others 0.02 s), "
          f"max_concurrency {concurrency}, --batch-prompts 16; theoretical makespan {schedule:.2f} s; "
          f"{repeats} runs each; machine shared with other jobs; distill outputs "
          f"{'all have the same content hash' if len(hashes) == 1 else 'DIFFER'}")
    print("| run | wall (min-max) | ratio to all-in-flight (best) | ratio to theoretical |")
    print("|---|---:|---:|---:|")
    for mode, times in results.items():
        print(f"| {mode} | {min(times):.2f}-{max(times):.2f} s | {min(times) / measured:.2f}-{max(times) / measured:.2f}x "
              f"| {min(times) / schedule:.2f}-{max(times) / schedule:.2f}x |")


def main() -> None:
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=2000.0)
    ap.add_argument("--no-peer", action="store_true", help="skip the math_verify loop")
    ap.add_argument("--peer-limit", type=int, default=400, help="pairs the math_verify loop grades per set")
    ap.add_argument("--stragglers", action="store_true", help="run only the straggler scenario (local server)")
    ap.add_argument("--straggler-prompts", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--serve-stragglers", metavar="DELAYS_JSON", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_stragglers:
        serve_stragglers(args.serve_stragglers)
        return
    sys.path.insert(0, str(ROOT / "src"))
    if args.stragglers:
        with tempfile.TemporaryDirectory() as tmp:
            straggler_scenario(Path(tmp), args.straggler_prompts, 0.1, 1.0, args.repeats)
        return
    if not SKY.is_dir():
        sys.exit(f"published outputs not found at {OUTPUTS}; this benchmark reads them in place")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, loader in (("math500x4", load_math500x4), ("math100x8", load_math100x8)):
            problems, samples = loader()
            results.append(run_set(name, problems, samples, Path(tmp)))
    print("| set | completions | wall | completions/s | grading busy | row building | peer (math_verify loop) "
          "| ratio | verdicts = published | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        rate = r["rate"]
        peer = None if args.no_peer else peer_rate(r["pairs"], args.peer_limit)
        peer_cell = "-" if peer is None else f"{peer[0]:,.0f}/s (n={peer[1]})"
        ratio_cell = "-" if peer is None else f"{rate / peer[0]:.1f}x"
        verdict = "met" if rate >= args.target else "MISSED"
        print(f"| {r['set']} | {r['completions']:,} | {r['wall']:.2f} s | {rate:,.0f} | {r['grading']:.2f} s | "
              f"{r['rows']:.2f} s | {peer_cell} | {ratio_cell} | {100 * r['agree']:.1f}% | "
              f"{verdict} (>= {args.target:,.0f}/s) |")

if __name__ == "__main__":
    main()
