"""Which n-gram length should ``cotforge decontam`` default to? Catch rate on injected benchmark
items against false positives on clean prompts, measured through the real ``decontaminate``.

Injected set: ``--items`` MATH-500 problems (seeded choice) in three forms -
  * exact copies;
  * light paraphrases: every 10th word replaced (a rewrite that keeps most phrasing);
  * templated wraps: the problem inside an instruction template ("Solve the following ...").
Clean set: the 1,319 GSM8K test questions (ToRA's published outputs), which share MATH-500's style
but none of its items, plus the MATH-500 answers' neighbours are never used.

For each n it prints the catch rate per form and overall, and the false-positive rate on the clean
set; the peer of every figure is the current default (13) measured in the same run. The rates are
deterministic; the timing column is the median of ``--repeats`` runs (the machine is shared, so
treat it as a range, printed min-max).

    python bench/decontam_bench.py [--items 20] [--ngrams 5,6,8,10,13] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cotforge.datagen.decontam import DecontamConfig, decontaminate, shared_data_dir  # noqa: E402
from cotforge.store.dataset import DatasetWriter  # noqa: E402

TEMPLATE = "Solve the following math problem. Show your work and put the final answer in \\boxed{{}}.\n\n{problem}\n\nLet's think step by step."
FILLER = ("thing", "value", "item", "part", "case")


def paraphrase(text: str) -> str:
    words = text.split(" ")
    return " ".join(FILLER[i % len(FILLER)] if i % 10 == 9 else w for i, w in enumerate(words))


def load(data: Path, items: int, seed: int) -> tuple[list[dict], list[dict]]:
    math500 = [json.loads(line) for line in (data / "math500" / "test.jsonl").open(encoding="utf-8")]
    chosen = random.Random(seed).sample(math500, items)
    injected = []
    for form, fn in (("exact", lambda p: p), ("paraphrase", paraphrase), ("template", lambda p: TEMPLATE.format(problem=p))):
        injected += [{"problem": fn(r["problem"]), "form": form} for r in chosen]
    gsm = next((data / "outputs" / "tora_gsm8k").glob("*.jsonl"))
    clean = [{"problem": json.loads(line)["question"], "form": "clean"} for line in gsm.open(encoding="utf-8")]
    return injected, clean


class Rows:
    schema = pa.schema([("problem", pa.string()), ("form", pa.string())])

    def __init__(self, rows):
        self._rows = rows

    def rows(self, start=0, done=()):
        yield from self._rows[start:]


def measure(folder: Path, data: Path, n: int, benchmarks: tuple[str, ...]) -> tuple[dict[str, tuple[int, int]], float]:
    import pyarrow.parquet as pq

    out = folder / f"out-{n}"
    t0 = time.perf_counter()
    decontaminate(folder / "in", out, DecontamConfig(ngram=n, min_ngram=n, benchmarks=benchmarks), data_dir=data,
                  overwrite=True)
    seconds = time.perf_counter() - t0
    counts: dict[str, list[int]] = {}
    for f in sorted((out / "data").rglob("*.parquet")):
        t = pq.read_table(f, columns=["form", "contaminated"])
        for form, hit in zip(t.column("form").to_pylist(), t.column("contaminated").to_pylist()):
            c = counts.setdefault(form, [0, 0])
            c[0] += bool(hit)
            c[1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--ngrams", default="5,6,8,10,13")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--benchmarks", default="all",
                    help="benchmarks checked against (comma-separated, or all): false positives against any of them count")
    args = ap.parse_args()
    data = shared_data_dir()
    if not (data / "math500").is_dir() or not (data / "outputs" / "tora_gsm8k").is_dir():
        sys.exit(f"benchmark data not found under {data} (set COTFORGE_SHARED_DATA)")
    injected, clean = load(data, args.items, args.seed)
    ngrams = [int(x) for x in args.ngrams.split(",")]
    from cotforge.datagen.decontam import BENCHMARKS

    benchmarks = tuple(BENCHMARKS) if args.benchmarks == "all" else tuple(args.benchmarks.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        w = DatasetWriter(folder / "in", name="bench", family="bench", version="1", build_config={}, seeds={}, command="bench")
        w.write_split("default", "train", Rows(injected + clean))
        w.finish()
        print(f"decontam bench: {args.items} MATH-500 items x 3 forms injected, {len(clean):,} clean GSM8K questions; "
              f"machine shared with other jobs, timings are min-max of {args.repeats} runs")
        print(f"{'n':>3} | {'exact':>7} | {'paraphr.':>8} | {'template':>8} | {'caught':>9} | {'false pos.':>12} | "
              f"{'seconds':>11} | caught vs n=13")
        results = {}
        for n in ngrams + ([13] if 13 not in ngrams else []):
            runs = [measure(folder, data, n, benchmarks) for _ in range(max(1, args.repeats))]
            counts = runs[0][0]
            times = [s for _, s in runs]
            results[n] = (counts, times)
        base_caught = sum(results[13][0][f][0] for f in ("exact", "paraphrase", "template"))
        for n in ngrams:
            counts, times = results[n]
            caught = sum(counts[f][0] for f in ("exact", "paraphrase", "template"))
            total = sum(counts[f][1] for f in ("exact", "paraphrase", "template"))
            fp, clean_n = counts["clean"]
            cell = lambda f: f"{counts[f][0]}/{counts[f][1]}"  # noqa: E731
            ratio = f"{caught / base_caught:.2f}x" if base_caught else "n/a"
            print(f"{n:>3} | {cell('exact'):>7} | {cell('paraphrase'):>8} | {cell('template'):>8} | "
                  f"{caught:>3}/{total:<3} {caught / total:>4.0%} | {fp:>4}/{clean_n} {fp / clean_n:>5.2%} | "
                  f"{min(times):5.2f}-{max(times):5.2f} | {ratio} (median {statistics.median(times):.2f}s)")


if __name__ == "__main__":
    main()
