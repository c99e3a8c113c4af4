"""Reproducing published scores with the harness itself: ``run_eval(..., backend="replay")``.

Each published output set in the shared ``outputs/`` folder becomes a replay file (prompt id = the
benchmark's question id) and, where the questions are not a benchmark on disk, a data file in the
benchmark's own format. The harness then "generates" by replaying, grades with the verifiers and
scores with :mod:`cotforge.evals.metrics`, exactly as for a live model. The published number is
recomputed from the set's own per-sample correctness flags (which equal its published accuracy;
see the data's PROVENANCE.md), so the paired difference ours - published has a CI over questions.

Sets: SkyThought's Qwen2.5-Math-harness runs of four models on MATH-500 and AIME24 (greedy, one
sample), Qwen2.5-Math's ``math_cot_100`` file (100 MATH questions x 8 samples: avg@8, maj@8 with
the published ``pred`` strings voted, pass@8), TIGER-Lab's Llama-3.1-8B-Instruct MMLU-Pro 5-shot.
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotforge.evals import metrics

MMLU_PRO_ZIP = "mmlu_pro_model_outputs_Meta-Llama-3_1-8B-Instruct_5shots.zip"
_WS = re.compile(r"\s+")


@dataclass
class PublishedSet:
    label: str  # e.g. "MATH-500 / Qwen2.5-14B-Instruct"
    bench: str
    model: str
    n: int
    replay: list[dict[str, Any]]  # replay rows: prompt_id, sample_index, completion
    published: dict[str, dict[str, float]]  # metric -> question id -> published per-question value
    published_headline: dict[str, float]  # metric -> the published number (fraction)
    data_rows: list[dict[str, Any]] | None = None  # a benchmark-format data file, when needed
    notes: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return _WS.sub(" ", str(text)).strip()


def _listish(value: Any) -> list:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _skythought(outputs: Path) -> Iterator[PublishedSet]:
    from cotforge.evals.benchmarks import get_benchmark

    sky = outputs / "skythought_qwen25math_eval"
    for bench_name in ("math500", "aime24"):
        items = get_benchmark(bench_name).load().items
        by_text = {_norm(it.question): it.id for it in items}
        for model_dir in sorted(p for p in sky.glob("*") if p.is_dir()):
            files = sorted(f for f in (model_dir / bench_name).glob("*.jsonl"))
            if not files:
                continue
            rows = [json.loads(line) for line in files[0].open(encoding="utf-8") if line.strip()]
            metrics_files = sorted((model_dir / bench_name).glob("*metrics.json"))
            replay, flags, unmatched = [], {}, 0
            for i, r in enumerate(rows):
                qid = by_text.get(_norm(r["question"]))
                if qid is None:  # question text differs from ours: fall back to the position
                    unmatched += 1
                    qid = items[int(r.get("idx", i))].id
                replay.append({"prompt_id": qid, "sample_index": 0, "completion": _listish(r["code"])[0]})
                flags[qid] = float(bool(_listish(r["score"])[0]))
            acc = json.loads(metrics_files[0].read_text())["acc"] / 100 if metrics_files else sum(flags.values()) / len(flags)
            s = PublishedSet(f"{get_benchmark(bench_name).title} / {model_dir.name}", bench_name, model_dir.name, 1,
                             replay, {"avg@n": flags}, {"avg@n": acc})
            if unmatched:
                s.notes.append(f"{unmatched} questions matched by position (text differs)")
            yield s


def _qwen_math_cot_100(outputs: Path) -> Iterator[PublishedSet]:
    path = outputs / "qwen25math_rm_maj_example_math_cot_100.jsonl"
    if not path.is_file():
        return
    replay, data_rows = [], []
    avg, maj, pas = {}, {}, {}
    for line in path.open(encoding="utf-8"):
        if not line.strip():
            continue
        r = json.loads(line)
        qid = f"math_cot_100/{r['idx']}"
        codes, scores, preds = _listish(r["code"]), [bool(x) for x in _listish(r["score"])], _listish(r["pred"])
        data_rows.append({"unique_id": qid, "problem": r["question"], "answer": r["answer"], "level": r.get("level")})
        for j, c in enumerate(codes):
            replay.append({"prompt_id": qid, "sample_index": j, "completion": c})
        avg[qid] = sum(scores) / len(scores)
        pas[qid] = float(any(scores))
        # The published harness votes on its extracted strings (empty = no answer).
        groups = metrics.group_answers([p if p not in (None, "") else None for p in preds])
        win = metrics.majority_vote(groups, len(groups))
        maj[qid] = float(win is not None and scores[win])
    n = 8
    head = {"avg@n": sum(avg.values()) / len(avg), f"maj@{n}": sum(maj.values()) / len(maj), f"pass@{n}": sum(pas.values()) / len(pas)}
    yield PublishedSet("MATH 100 x 8 / Qwen2.5-Math math_cot_100", "math500", "Qwen2.5-Math math_cot_100 example", n,
                       replay, {"avg@n": avg, f"maj@{n}": maj, f"pass@{n}": pas}, head, data_rows)


def _mmlu_pro(outputs: Path) -> Iterator[PublishedSet]:
    path = outputs / MMLU_PRO_ZIP
    if not path.is_file():
        return
    with zipfile.ZipFile(path) as z:
        rows = json.loads(z.read(z.namelist()[0]))
    replay, flags = [], {}
    for r in rows:
        qid = str(r["question_id"])
        replay.append({"prompt_id": qid, "sample_index": 0, "completion": r["generated_text"] or ""})
        flags[qid] = float(r["pred"] == r["answer"])
    yield PublishedSet("MMLU-Pro / Llama-3.1-8B-Instruct (5-shot CoT)", "mmlu_pro", "Llama-3.1-8B-Instruct", 1,
                       replay, {"avg@n": flags}, {"avg@n": sum(flags.values()) / len(flags)})


def published_sets(outputs: str | Path, benches: tuple[str, ...] | None = None) -> list[PublishedSet]:
    """Every published set (only those of ``benches`` when given; the others are not read)."""
    outputs = Path(outputs)
    want = set(benches) if benches is not None else {"math500", "aime24", "mmlu_pro"}
    sets = [s for s in _skythought(outputs) if s.bench in want]
    if "math500" in want:
        sets += list(_qwen_math_cot_100(outputs))
    if "mmlu_pro" in want:
        sets += list(_mmlu_pro(outputs))
    return sets


def reproduce(outputs: str | Path, work: str | Path, *, verify_workers: int | None = None,
              benches: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Run every published set (of ``benches`` when given) through the harness under ``work``;
    one comparison row per metric."""
    from cotforge.evals.results import bench_files, read_table
    from cotforge.evals.run import run_eval

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    out_rows = []
    for k, s in enumerate(published_sets(outputs, benches)):
        tag = f"{k:02d}_{s.bench}_{re.sub(r'[^A-Za-z0-9.-]+', '_', s.model)}"
        replay = work / f"{tag}.replay.jsonl"
        replay.write_text("".join(json.dumps(r) + "\n" for r in s.replay), encoding="utf-8")
        data = None
        if s.data_rows is not None:
            data_file = work / f"{tag}.data.jsonl"
            data_file.write_text("".join(json.dumps(r) + "\n" for r in s.data_rows), encoding="utf-8")
            data = {s.bench: data_file}
        run_dir = work / tag
        results = run_eval(str(replay), [s.bench], run_dir, backend="replay", n=s.n, data=data,
                           verify_workers=verify_workers, overwrite=True, plots=False)
        b = results["benchmarks"][s.bench]
        ours_q = per_question_metrics(read_table(bench_files(run_dir, s.bench), (
            "question_id", "question_index", "sample_index", "status", "correct", "extracted", "meta", "verify_kwargs")), b, s)
        for metric, published in s.published_headline.items():
            ours_value = b["avg@n"] if metric == "avg@n" else b[metric]
            d = metrics.paired_difference(ours_q[metric], s.published[metric])
            name = f"avg@{s.n}" if metric == "avg@n" else metric
            out_rows.append({
                "set": s.label, "metric": name, "questions": b["questions"], "published": published, "ours": ours_value,
                "difference": ours_value - published, "ci95": list(d.ci95), "ours_ci95": b["ci95"] if metric == "avg@n" else None,
                "disagreeing": sorted(q for q in ours_q[metric] if q in s.published[metric] and ours_q[metric][q] != s.published[metric][q]),
                "run": str(run_dir), "notes": s.notes,
            })
    return out_rows


def per_question_metrics(table: Any, bench_result: dict[str, Any], s: PublishedSet) -> dict[str, dict[str, float]]:
    """Our per-question values of each metric the published set reports (for the paired CI)."""
    from cotforge.evals.benchmarks import get_benchmark
    from cotforge.evals.grading import Grader
    from cotforge.evals.results import per_question

    qs = per_question(table)
    out: dict[str, dict[str, float]] = {"avg@n": {q["id"]: sum(bool(x[1]) for x in q["samples"]) / len(q["samples"]) for q in qs}}
    n = s.n
    if f"pass@{n}" in s.published:
        out[f"pass@{n}"] = {q["id"]: metrics.pass_at_k_single(len(q["samples"]), sum(bool(x[1]) for x in q["samples"]), n) for q in qs}
    if f"maj@{n}" in s.published:
        bench = get_benchmark(s.bench)
        grader = Grader(bench, bench_result["verifier"]["options"])
        answers = [[x[3] if x[2] in ("correct", "incorrect") else None for x in q["samples"]] for q in qs]
        eq = grader.equivalences([(json.loads(q["verify_kwargs"] or "{}"), a) for q, a in zip(qs, answers)])
        out[f"maj@{n}"] = {}
        for q, a, e in zip(qs, answers, eq):
            win = metrics.majority_vote(metrics.group_answers(a, e), n)
            out[f"maj@{n}"][q["id"]] = float(win is not None and bool(q["samples"][win][1]))
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| published set | metric | questions | published | cotforge (replay) | difference | 95% CI of difference | items that disagree |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['metric']} | {r['questions']} | {100 * r['published']:.2f} | {100 * r['ours']:.2f} | "
            f"{100 * r['difference']:+.2f} | [{100 * r['ci95'][0]:+.2f}, {100 * r['ci95'][1]:+.2f}] | {len(r['disagreeing'])} |"
        )
    return "\n".join(lines)
