"""The silver dataset: ``verdicts`` (what happened to every input row), then ``default`` (kept) and
``dropped``, derived from it; sharded and resumable like distill.

``verdicts`` is generated chunk by chunk (``CHUNK_ROWS`` input rows a shard): rules, model
extraction, the verifier check and the teacher filter run on one chunk at a time, so the input is
never held in memory, and a run killed at any point resumes at the first uncommitted chunk without
asking a model again for what is committed. ``default`` and ``dropped`` re-read the input in step
with the verdict shards. A chunk whose model calls failed for a reason a retry could fix (an
unreachable teacher) beyond ``max_error_rate`` stops the run before it is committed
(:class:`~cotforge.datagen.distill.config.TeacherFailed`), so an outage never becomes drops.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.datagen.silver.config import DROP_REASONS, FAMILY, SilverConfig
from cotforge.datagen.silver.process import _build, _Row, iter_silver_rows, process_silver, prompt_messages
from cotforge.errors import UsageError
from cotforge.records import SILVER_DROPPED_SCHEMA, SILVER_KEPT_SCHEMA

#: Input rows per ``verdicts`` shard: the unit of work that a resume keeps or redoes.
CHUNK_ROWS = 512

#: ``verdicts``: one row per input row, in input order.
VERDICTS_SCHEMA = pa.schema([
    ("source_index", pa.int64()),
    ("answer", pa.string()),
    ("answer_source", pa.string()),
    ("domain", pa.string()),
    ("reason_code", pa.string()),  # null: kept
    ("reason", pa.string()),
    ("teacher_samples", pa.int32()),
    ("teacher_agree", pa.int32()),
    ("model_error", pa.string()),  # why an extractor / teacher call failed, when one did
])


class VerdictsSource:
    """Steps 1-3, one chunk of input rows at a time."""

    schema = VERDICTS_SCHEMA

    def __init__(self, source: Any, columns: dict[str, str], limit: int | None, cfg: SilverConfig, *,
                 extractor: Any, teacher: Any, max_error_rate: float, chunk_rows: int = CHUNK_ROWS):
        self.source, self.columns, self.limit, self.cfg = source, columns, limit, cfg
        self.extractor, self.teacher = extractor, teacher
        self.max_error_rate, self.chunk_rows = max_error_rate, chunk_rows
        self.rows_in = 0

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        from cotforge.datagen.distill import Grader
        from cotforge.datagen.silver.rules import _normal_question

        grader = Grader()
        seen: set[str] = set()
        chunk: list[_Row] = []
        for r in iter_silver_rows(self.source, self.columns, self.limit):
            self.rows_in += 1
            if self.rows_in <= start:  # committed by an earlier run: only the duplicate rule needs it
                if self.cfg.dedupe and r.question.strip():
                    seen.add(_normal_question(r.question))
                continue
            chunk.append(r)
            if len(chunk) >= self.chunk_rows:
                yield from self._chunk(chunk, grader, seen)
                chunk = []
        if chunk:
            yield from self._chunk(chunk, grader, seen)

    def _chunk(self, chunk: list[_Row], grader: Any, seen: set[str]) -> Iterator[dict]:
        from cotforge.datagen.backends.failures import tally_errors
        from cotforge.datagen.distill.config import TeacherFailed

        process_silver(chunk, self.cfg, extractor=self.extractor, teacher=self.teacher, grader=grader, seen=seen)
        asked = [r for r in chunk if r.model_error is not None or r.teacher_samples or r.answer_source == "model"]
        tally = tally_errors((r.model_error for r in chunk if r.model_error is not None), max(1, len(asked)))
        if tally.too_many(self.max_error_rate):
            raise TeacherFailed(
                f"model calls failed for {tally.failed:,} of {len(asked):,} input rows "
                f"{chunk[0].source_index}-{chunk[-1].source_index} (above --max-error-rate {self.max_error_rate:.1%}); "
                f"most often ({tally.top_count:,}): {tally.top_error}. Nothing of these rows is committed; rerun the same command "
                f"when the model is reachable to resume"
            )
        for r in chunk:
            code, reason = r.drop if r.drop is not None else (None, None)
            yield {"source_index": r.source_index, "answer": r.answer, "answer_source": r.answer_source,
                   "domain": r.domain, "reason_code": code, "reason": reason, "teacher_samples": r.teacher_samples,
                   "teacher_agree": r.teacher_agree, "model_error": r.model_error}


def _verdicts(files: list[Path]) -> Iterator[dict]:
    for f in files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=2048):
            yield from batch.to_pylist()


class _Derived:
    """``default`` (kept=True) or ``dropped``: the input re-read in step with the verdict shards."""

    def __init__(self, kept: bool, source: Any, columns: dict[str, str], limit: int | None, cfg: SilverConfig,
                 verdict_files: list[Path], teacher_model: str | None):
        self.kept, self.source, self.columns, self.limit, self.cfg = kept, source, columns, limit, cfg
        self.files, self.teacher_model = verdict_files, teacher_model
        self.schema = SILVER_KEPT_SCHEMA if kept else SILVER_DROPPED_SCHEMA

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        from cotforge.datagen.distill import DOMAIN_VERIFIERS, Grader, short_hash

        versions = Grader()
        index = 0
        for r, v in zip(iter_silver_rows(self.source, self.columns, self.limit), _verdicts(self.files)):
            if r.source_index != v["source_index"]:
                raise UsageError(f"{self.source.label}: the input changed during the build (row {r.source_index} "
                                 f"vs verdict {v['source_index']}); rebuild with --overwrite")
            if (v["reason_code"] is None) != self.kept:
                continue
            index += 1
            if index <= start:
                continue
            if self.kept:
                name = DOMAIN_VERIFIERS[v["domain"]]
                yield {
                    "id": short_hash("silver", r.question, v["answer"]), "source_index": r.source_index,
                    "prompt": prompt_messages(r.question, self.cfg), "answer": v["answer"], "question": r.question,
                    "solution": r.solution, "answer_source": v["answer_source"], "domain": v["domain"],
                    "verifier": name, "verifier_version": str(versions.verifier(name).version),
                    "teacher_samples": v["teacher_samples"], "teacher_agree": v["teacher_agree"],
                    "teacher_model": self.teacher_model if self.cfg.teacher_samples else None,
                }
            else:
                yield {
                    "id": short_hash("silver-drop", r.source_index, r.question, r.solution),
                    "source_index": r.source_index, "question": r.question, "solution": r.solution,
                    "answer": v["answer"], "answer_source": v["answer_source"], "reason_code": v["reason_code"],
                    "reason": v["reason"], "teacher_samples": v["teacher_samples"], "teacher_agree": v["teacher_agree"],
                }


def verdict_stats(files: list[Path]) -> dict[str, Any]:
    """The card's statistics, in one streaming pass over the verdict shards."""
    rows = kept = 0
    drops: Counter = Counter()
    sources: Counter = Counter()
    domains: Counter = Counter()
    answer_chars = 0
    model_errors = 0
    for v in _verdicts(files):
        rows += 1
        model_errors += v["model_error"] is not None
        if v["reason_code"] is not None:
            drops[v["reason_code"]] += 1
            continue
        kept += 1
        sources[v["answer_source"]] += 1
        domains[v["domain"]] += 1
        answer_chars += len(v["answer"])
    return {
        "input_rows": rows,
        "kept": kept,
        "dropped": rows - kept,
        "keep_rate": (kept / rows) if rows else 0.0,
        "drop_reasons": dict(sorted(drops.items(), key=lambda kv: -kv[1])),
        "answer_sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
        "domains": dict(domains),
        "mean_answer_chars": (answer_chars / kept) if kept else None,
        "model_errors": model_errors,
    }


def build_silver(
    source: Any,
    out: str | Path,
    cfg: SilverConfig = SilverConfig(),
    *,
    columns: dict[str, str] | None = None,
    limit: int | None = None,
    extractor: Any = None,
    teacher: Any = None,
    overwrite: bool = False,
    name: str = "cotforge-silver",
    version: str = "1.0.0",
    command: str | None = None,
    max_error_rate: float = 0.01,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Build a silver dataset (configs ``default`` = kept, ``dropped``, ``verdicts``) from an opened
    input; rerunning on an interrupted folder resumes it."""
    from cotforge.datagen.inputs import check_out_apart
    from cotforge.hub.silver_card import render_silver_card
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.shards import ShardLimits

    cfg.validate()
    from cotforge.datagen.backends.failures import check_max_error_rate

    max_error_rate = check_max_error_rate(max_error_rate)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: must be >= 1 (omit it to use every input row)")
    check_out_apart(out, [source.record.get("path")])
    columns = dict(columns or {})
    if next(iter_silver_rows(source, columns, limit), None) is None:
        raise UsageError(f"{source.label}: no rows")
    build_config = cfg.resolved()
    build_config.update(columns=columns, limit=limit, input=source.record)
    out = Path(out)
    writer = DatasetWriter(
        out, name=name, family=FAMILY, version=version, build_config=build_config, seeds={},
        command=command or rebuild_command(source, out, cfg, columns, limit, max_error_rate), overwrite=overwrite,
        inputs=[source.record], limits=ShardLimits(max_rows=chunk_rows, max_bytes=1 << 62),
    )
    if cfg.extractor in ("model", "rules_then_model") and extractor is None:
        extractor = _build(cfg.extractor_backend, cfg.extractor_model, cfg, "--extractor-backend/--extractor-model")
    if cfg.teacher_samples and teacher is None:
        teacher = _build(cfg.teacher_backend, cfg.teacher_model, cfg, "--teacher-backend/--teacher-model")
    verdicts = VerdictsSource(source, columns, limit, cfg, extractor=extractor, teacher=teacher,
                              max_error_rate=max_error_rate, chunk_rows=chunk_rows)
    files = [out / s.path for s in writer.write_split("verdicts", "train", verdicts).shards]
    teacher_model = getattr(teacher, "model", None) or cfg.teacher_model
    writer.write_split("default", "train", _Derived(True, source, columns, limit, cfg, files, teacher_model))
    writer.write_split("dropped", "train", _Derived(False, source, columns, limit, cfg, files, teacher_model))
    stats = verdict_stats(files)
    return writer.finish(stats=stats, render_card=lambda m: render_silver_card(m, out, reasons=DROP_REASONS))


def rebuild_command(source: Any, out: Path, cfg: SilverConfig, columns: dict[str, str], limit: int | None,
                    max_error_rate: float = 0.01) -> str:
    """The ``cotforge silver`` command line that rebuilds this dataset (secrets redacted)."""
    from cotforge.datagen.distill.config import redact
    from cotforge.datagen.inputs import command_path

    q = shlex.quote
    rec = source.record
    parts = ["cotforge silver", f"--input {command_path(rec.get('path') or rec.get('id') or source.label)}",
             f"--out {q(str(out.resolve()))}"]
    if rec.get("config") and rec.get("kind") != "file":
        parts.append(f"--config {q(rec['config'])}")
    if rec.get("split") and rec.get("kind") != "file":
        parts.append(f"--split {q(rec['split'])}")
    parts += [f"--column {q(f'{k}={v}')}" for k, v in columns.items()]
    if limit is not None:
        parts.append(f"--limit {limit}")
    parts += [f"--extractor {cfg.extractor}", f"--max-answer-chars {cfg.max_answer_chars}",
              f"--max-answer-words {cfg.max_answer_words}", f"--instruction {q(cfg.instruction)}"]
    if cfg.extractor != "rules":
        parts += [f"--extractor-backend {cfg.extractor_backend}", f"--extractor-model {command_path(cfg.extractor_model)}"]
    if not cfg.dedupe:
        parts.append("--no-dedupe")
    if cfg.teacher_samples:
        sampling = cfg.teacher_sampling or {}
        parts += [f"--teacher-samples {cfg.teacher_samples}", f"--teacher-min-agree {cfg.teacher_min_agree}",
                  f"--teacher-backend {cfg.teacher_backend}", f"--teacher-model {command_path(cfg.teacher_model)}"]
        if "temperature" in sampling:
            parts.append(f"--teacher-temperature {sampling['temperature']}")
        if "max_tokens" in sampling:
            parts.append(f"--teacher-max-tokens {sampling['max_tokens']}")
    parts += [f"--backend-opt {q(f'{k}={json.dumps(v)}')}" for k, v in redact(cfg.backend_options or {}).items()]
    if max_error_rate != 0.01:
        parts.append(f"--max-error-rate {max_error_rate}")
    return " ".join(parts)
