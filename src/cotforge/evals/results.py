"""Scores of a run computed from its stored samples: the content of ``results.json``.

Only the small columns are read (status, correctness, extracted answer, token counts), shard by
shard, so memory follows the number of questions, not the size of the responses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.errors import UsageError
from cotforge.evals import metrics
from cotforge.evals.analysis import COLUMNS as ANALYSIS_COLUMNS
from cotforge.evals.analysis import summarize_samples
from cotforge.evals.schema import RATE_KEYS

RESULTS = "results.json"
_COLUMNS = ("question_id", "question_index", "sample_index", "status", "correct", "extracted", "meta", "verify_kwargs")


def bench_files(run_dir: Path, bench: str, manifest: dict[str, Any] | None = None, *, check: bool = True) -> list[Path]:
    """The shards of one benchmark of a run; ``check``: each must still be the file the manifest
    lists (size and SHA-256), so a damaged or missing shard is named instead of surfacing as a
    decompression traceback (or, worse, as different numbers)."""
    from cotforge.store.manifest import manifest_shards, read_manifest
    from cotforge.store.verify import require_intact

    manifest = manifest or read_manifest(run_dir)
    shards = manifest_shards(manifest).get(f"{bench}/test")
    if shards is None:
        raise UsageError(f"{run_dir}: the run has no benchmark {bench!r}")
    if check:
        require_intact(run_dir, shards, manifest)
    return [run_dir / s.path for s in shards]


def read_table(files: list[Path], columns: tuple[str, ...]) -> pa.Table:
    cols = list(dict.fromkeys(columns))
    tables = [pq.read_table(f, columns=cols) for f in files]
    if not tables:
        from cotforge.evals.schema import EVAL_SAMPLE_SCHEMA

        return EVAL_SAMPLE_SCHEMA.empty_table().select(cols)
    return pa.concat_tables(tables)


def per_question(table: pa.Table) -> list[dict[str, Any]]:
    """Questions in benchmark order, each with its samples' outcomes in sample order."""
    by_q: dict[int, dict[str, Any]] = {}
    cols = {c: table.column(c).to_pylist() for c in _COLUMNS}
    for i in range(table.num_rows):
        qi = cols["question_index"][i]
        q = by_q.setdefault(qi, {"id": cols["question_id"][i], "meta": cols["meta"][i],
                                 "verify_kwargs": cols["verify_kwargs"][i], "samples": []})
        q["samples"].append((cols["sample_index"][i], cols["correct"][i], cols["status"][i], cols["extracted"][i]))
    out = []
    for qi in sorted(by_q):
        q = by_q[qi]
        q["samples"].sort()
        out.append(q)
    return out


def question_scores(run_dir: str | Path, bench: str) -> dict[str, float]:
    """Per-question fraction correct, keyed by question id (what ``compare`` pairs on)."""
    qs = per_question(read_table(bench_files(Path(run_dir), bench), _COLUMNS))
    return {q["id"]: sum(bool(s[1]) for s in q["samples"]) / len(q["samples"]) for q in qs}


def bench_results(table: pa.Table, benchmark: Any, grader: Any, *, seed: int = 0) -> dict[str, Any]:
    qs = per_question(table)
    if not qs:
        raise UsageError(f"benchmark {benchmark.name}: no samples to score")
    correct = [[bool(s[1]) for s in q["samples"]] for q in qs]
    ns = {len(c) for c in correct}
    n = min(ns)
    scores = metrics.question_scores(correct)
    avg = sum(scores) / len(scores)
    lo, hi = metrics.bootstrap_ci(scores, seed=seed)
    statuses = [s[2] for q in qs for s in q["samples"]]
    out: dict[str, Any] = {
        "avg@n": avg, "n": n, "questions": len(qs), "samples": len(statuses),
        "stderr": metrics.clustered_stderr(scores), "ci95": [lo, hi],
        "rates": metrics.rates(statuses, RATE_KEYS),
        "pass@k": {str(k): metrics.pass_at_k([c[:n] for c in correct], k) for k in range(1, n + 1)},
    }
    if len(ns) > 1:
        out["note"] = f"questions have {sorted(ns)} samples; pass@k and maj@k use the first {n} of each"
    out[f"pass@{n}"] = out["pass@k"][str(n)]
    if benchmark.majority:
        answers = [[s[3] if s[2] in ("correct", "incorrect") else None for s in q["samples"]] for q in qs]
        eq = grader.equivalences([(json.loads(q["verify_kwargs"] or "{}"), a) for q, a in zip(qs, answers)])
        groups = [metrics.group_answers(a, e) for a, e in zip(answers, eq)]
        out["maj@k"] = {str(k): metrics.maj_at_k([c[:n] for c in correct], [g[:n] for g in groups], k)
                        for k in range(1, n + 1)}
        out[f"maj@{n}"] = out["maj@k"][str(n)]
    out["breakdowns"] = breakdowns(qs, scores, benchmark.breakdowns)
    out["analysis"] = summarize_samples(table.select(list(ANALYSIS_COLUMNS)))
    return out


def breakdowns(qs: list[dict[str, Any]], scores: list[float], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    metas = [json.loads(q["meta"] or "{}") for q in qs]
    for key in keys:
        groups: dict[str, list[float]] = defaultdict(list)
        for m, s in zip(metas, scores):
            groups[str(m.get(key))].append(s)
        out[key] = {
            v: {"avg@n": sum(g) / len(g), "stderr": metrics.clustered_stderr(g), "questions": len(g)}
            for v, g in sorted(groups.items(), key=lambda kv: _natural(kv[0]))
        }
    return out


def _natural(v: str) -> tuple:
    return (0, int(v), "") if v.lstrip("-").isdigit() else (1, 0, v)


def load_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RESULTS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{run_dir}: not an eval run (no {RESULTS})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: malformed results ({exc})") from None


def table_for_results(run_dir: Path, bench: str, manifest: dict[str, Any] | None = None) -> pa.Table:
    # called right after the run wrote (and hashed) these shards: no second hashing pass
    return read_table(bench_files(run_dir, bench, manifest, check=False), _COLUMNS + ANALYSIS_COLUMNS)
