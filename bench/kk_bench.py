"""Knights & Knaves generation speed: cotforge vs reasoning-gym's ``knights_knaves``, same run.

For each people count (2..16) it measures, single process:

* cotforge rows/s - what a user gets: full ``KK_SCHEMA`` rows (sample, bitset solve, canonical
  logic key, dedup, quiz rendering, public CoT fields, constructed long CoT, prompt);
* cotforge engine/s - puzzles only (sample, solve, key, dedup), to show where the time goes;
* reasoning-gym items/s - ``KnightsKnavesDataset[i]`` (sample, per-assignment solve, rendering; no
  CoT, no prompt, no dedup) at the sizes it finishes in reasonable time (``--rg-max``);
* cotforge end to end/s - ``build_kk`` into a fresh folder (train + test splits: generation,
  Parquet shards with hashing, DuckDB statistics, card, manifest), rows written per CPU second;
* peak Python heap (tracemalloc) of a separate, smaller run of each (for cotforge including
  building the source and its depth-2 statement catalogue).

Rates are items per CPU second of this process, best of 2-3 repeats: both generators are
single-threaded, and on a shared machine wall-clock time mostly measures the neighbours.

Targets (issue "datagen", K&K part 6, and issue 12 section 5): >= 20x reasoning-gym at 4 people,
>= 100x at 8 - for full rows and for the end-to-end build - and >= 1,000 rows/s at 12 people. Rates are steady-state: one-off setup (the exact count of distinct puzzles at
2-4 people, ~0.1 s; the depth-2 statement catalogue) is not timed, and each generator first runs a
short warm-up on other seeds/splits (cotforge memoises per-statement renderings and compact tables
per process; reasoning-gym gets the same warm-up).

    python bench/kk_bench.py            # full run (~6 min on 2 cores)
    python bench/kk_bench.py --quick    # smaller counts and time budgets (~2 min)

Needs the ``bench`` extra for the peer: ``pip install 'cotforge[bench]'`` (reasoning-gym).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from typing import Callable, Iterator

from cotforge.datagen.kk import KKOptions, KKSplitSource, count_distinct


def _rate(make: Callable[[], Iterator], limit: int, budget_s: float, repeats: int = 1) -> tuple[float, int]:
    """Items per CPU second over at most ``limit`` items or ``budget_s`` seconds (whichever first),
    best of ``repeats``. CPU time (this process) rather than wall time: both generators are
    single-threaded, and on a shared machine wall time mostly measures the neighbours."""
    best, done_best = 0.0, 0
    for _ in range(repeats):
        it = make()
        done = 0
        start = time.process_time()
        for _ in it:
            done += 1
            if done >= limit or time.process_time() - start > budget_s:
                break
        elapsed = time.process_time() - start
        rate = done / elapsed if elapsed > 0 else float("inf")
        if rate > best:
            best, done_best = rate, done
    return best, done_best


def _peak_mib(make: Callable[[], Iterator], limit: int, budget_s: float) -> float:
    tracemalloc.start()
    try:
        _rate(make, limit, budget_s)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def cotforge_makers(n: int, count: int, seed: int, warmup: int):
    options = KKOptions()
    available = count_distinct(n, options)  # the exact count (2-4 people) runs here, not in the timing
    if available is not None:  # near exhaustion a split spends its time on duplicates: stay at half
        count = min(count, max(1, available // 2))
    # steady state: per-process caches (statement renderings, compact tables) fill on another split
    for _ in KKSplitSource(n, "warmup", min(warmup, count), seed, options).rows():
        pass
    src = KKSplitSource(n, "train", count, seed, options)
    return (lambda: src.rows()), (lambda: src.puzzles()), count


def cold_rows(n: int, count: int, seed: int) -> Callable[[], Iterator]:
    """Rows from a fresh source with the statement catalogue rebuilt, so its memory is counted."""
    from cotforge.datagen.kk.sampler import catalogue

    def make():
        catalogue.cache_clear()
        return KKSplitSource(n, "memory", count, seed, KKOptions()).rows()

    return make


def end_to_end_rate(n: int, count: int, seed: int, repeats: int) -> float:
    """Rows per CPU second of a whole ``build_kk`` (train ``count`` + test ``count // 10``), best of
    ``repeats``; DuckDB runs single-threaded in this process, so its work is in the CPU time."""
    import shutil
    import tempfile
    from pathlib import Path

    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    options = KKOptions()
    available = count_distinct(n, options)
    if available is not None:
        count = min(count, max(1, available // 2))
    cfg = KKBuildConfig(people=(n,), train=count, test=max(1, count // 10), seed=seed)
    best = 0.0
    for _ in range(repeats):
        tmp = Path(tempfile.mkdtemp(prefix="kk-bench-"))
        try:
            start = time.process_time()
            manifest = build_kk(tmp / "ds", cfg)
            elapsed = time.process_time() - start
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows = sum(e["rows"] for e in manifest["splits"].values())
        best = max(best, rows / elapsed if elapsed > 0 else float("inf"))
    return best


def rg_maker(n: int, count: int, seed: int, warmup: int = 0):
    from reasoning_gym.logic.knights_knaves import KnightsKnavesConfig, KnightsKnavesDataset

    def make(size, s):
        return KnightsKnavesDataset(KnightsKnavesConfig(n_people=n, depth_constraint=2, width_constraint=2, size=size, seed=s))

    if warmup:
        _rate(lambda: (make(warmup, seed + 10**6)[i] for i in range(warmup)), warmup, 2.0)
    ds = make(count, seed)
    return lambda: (ds[i] for i in range(count))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller counts and time budgets")
    ap.add_argument("--people", default="2-16", help="people counts, e.g. 2-16 or 4,8,12")
    ap.add_argument("--rg-max", type=int, default=None, help="largest size to run reasoning-gym at (default 12, quick 10)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    if "-" in args.people:
        lo, hi = (int(x) for x in args.people.split("-"))
        sizes = list(range(lo, hi + 1))
    else:
        sizes = [int(x) for x in args.people.split(",")]
    count, budget, rg_budget, mem_count = (600, 2.0, 3.0, 100) if args.quick else (3000, 5.0, 8.0, 300)
    warmup, repeats = (200, 2) if args.quick else (500, 3)
    rg_max = args.rg_max if args.rg_max is not None else (10 if args.quick else 12)
    try:
        import reasoning_gym  # noqa: F401

        have_rg = True
    except ImportError:
        have_rg = False
        print("reasoning-gym is not installed: pip install 'cotforge[bench]' to compare against it\n", file=sys.stderr)

    rows = []
    for n in sizes:
        rows_make, engine_make, n_count = cotforge_makers(n, count, args.seed, warmup)
        row_rate, row_done = _rate(rows_make, n_count, budget, repeats)
        eng_rate, _ = _rate(engine_make, n_count, budget, repeats)
        e2e_rate = end_to_end_rate(n, n_count, args.seed + 1, repeats)
        cf_mem = _peak_mib(cold_rows(n, min(mem_count, n_count), args.seed), min(mem_count, n_count), budget)
        rg_rate = rg_mem = None
        if have_rg and n <= rg_max:
            rg_rate, _ = _rate(rg_maker(n, count, args.seed, warmup=20), count, rg_budget, repeats)
            rg_mem = _peak_mib(rg_maker(n, mem_count, args.seed), mem_count, rg_budget)
        rows.append((n, row_rate, eng_rate, rg_rate, cf_mem, rg_mem, row_done, e2e_rate))
        ratio = f"{row_rate / rg_rate:.0f}x" if rg_rate else "-"
        e2e = f"{e2e_rate / rg_rate:.0f}x" if rg_rate else "-"
        print(f"  {n:2d} people: rows {row_rate:8.0f}/s  engine {eng_rate:8.0f}/s  end to end {e2e_rate:8.0f}/s  "
              f"reasoning-gym {(f'{rg_rate:.1f}/s' if rg_rate else '-'):>8}  ratio {ratio} (end to end {e2e})",
              file=sys.stderr, flush=True)

    print("\n| people | cotforge rows/s | cotforge engine/s | cotforge end to end/s | reasoning-gym items/s "
          "| rows vs r-g | engine vs r-g | end to end vs r-g | cotforge peak MiB | reasoning-gym peak MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, row_rate, eng_rate, rg_rate, cf_mem, rg_mem, done, e2e_rate in rows:
        def vs(rate):
            return f"{rate / rg_rate:,.0f}x" if rg_rate else "-"

        print(
            f"| {n} | {row_rate:,.0f} | {eng_rate:,.0f} | {e2e_rate:,.0f} | {f'{rg_rate:,.1f}' if rg_rate else '-'} | "
            f"{vs(row_rate)} | {vs(eng_rate)} | {vs(e2e_rate)} | {cf_mem:.1f} | {f'{rg_mem:.1f}' if rg_mem else '-'} |"
        )

    by_n = {r[0]: r for r in rows}
    checks = []
    for n, target in ((4, 20), (8, 100)):
        if n in by_n and by_n[n][3]:
            _, row_rate, eng_rate, rg_rate = by_n[n][:4]
            checks.append((f"{n} people, full rows: {row_rate / rg_rate:,.0f}x reasoning-gym (target >= {target}x)", row_rate / rg_rate >= target))
            checks.append((f"{n} people, engine: {eng_rate / rg_rate:,.0f}x reasoning-gym (target >= {target}x)", eng_rate / rg_rate >= target))
            e2e_rate = by_n[n][7]
            checks.append((f"{n} people, end to end: {e2e_rate / rg_rate:,.0f}x reasoning-gym (target >= {target}x)", e2e_rate / rg_rate >= target))
    if 12 in by_n:
        checks.append((f"12 people: {by_n[12][1]:,.0f} full rows/s (target >= 1,000)", by_n[12][1] >= 1000))
    print()
    for text, ok in checks:
        print(f"- {'PASS' if ok else 'MISS'}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
