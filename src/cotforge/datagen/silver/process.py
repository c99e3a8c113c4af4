"""Steps 1-3 on a chunk of input rows: rules, model extraction, the verifier check, the teacher filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from cotforge.datagen.silver.config import EXTRACT_PROMPT, SilverConfig, _require_backend
from cotforge.datagen.silver.rules import _normal_question, answer_problem, domain_of, extract_answer, question_problem
from cotforge.errors import InputRowError


@dataclass
class _Row:
    source_index: int
    question: str
    solution: str
    answer: str | None = None
    answer_source: str | None = None
    drop: tuple[str, str] | None = None
    domain: str = "math"
    teacher_agree: int = 0
    teacher_samples: int = 0
    model_error: str | None = None  # why the extractor or teacher call failed, when one did


def iter_silver_rows(source: Any, columns: dict[str, str], limit: int | None = None) -> Iterator[_Row]:
    """The input rows through the column mapping, one at a time (the input is never held whole).

    A structurally broken row - a JSON line without the question or solution field, a question or
    solution that is not text, an answer that is not a scalar - is an
    :class:`~cotforge.errors.InputRowError` naming the file and row, not a silent drop: it means the
    file was converted wrongly, which every later row likely shares. Missing *content* (a null or
    empty solution) is ordinary web noise and is dropped later with the reason ``empty``.
    """
    from cotforge.datagen.inputs import answer_text

    cols = {"question": "question", "solution": "solution", **columns}
    needed = {k: v for k, v in cols.items() if k in ("question", "solution", "answer")}
    source.require(needed)
    count = 0
    for row_no, row in source.rows(list(needed.values())):
        if limit is not None and count >= limit:
            break
        values = {}
        for key, column in needed.items():
            if key != "answer" and column not in row:
                raise InputRowError(source.label, row_no, f"has no {column!r} field (the {key})")
            v = row.get(column)
            if key == "answer":
                if v is not None and not isinstance(v, (str, int, float)):
                    raise InputRowError(source.label, row_no, f"column {column!r}: expected a short answer, got {type(v).__name__}")
                v = answer_text(v)
            elif v is not None and not isinstance(v, str):
                raise InputRowError(source.label, row_no, f"column {column!r}: expected text, got {type(v).__name__} {v!r:.40}")
            values[key] = v or ""
        r = _Row(row_no, values["question"], values["solution"])
        if "answer" in needed and values["answer"].strip():
            r.answer, r.answer_source = values["answer"].strip(), "given"
        count += 1
        yield r


def read_silver_rows(source: Any, columns: dict[str, str], limit: int | None = None) -> list[_Row]:
    """:func:`iter_silver_rows` as a list."""
    return list(iter_silver_rows(source, columns, limit))


def _check_rules(rows: list[_Row], cfg: SilverConfig, seen: set[str] | None = None) -> None:
    """Rules of step 1-2 that need no model. ``seen``: normalised questions of earlier rows (earlier
    chunks of the same input), updated in place, so duplicates are found across chunks."""
    seen = set() if seen is None else seen
    for r in rows:
        if not r.question.strip() or (not r.solution.strip() and r.answer is None):
            r.drop = ("empty", "question empty" if not r.question.strip() else "solution empty")
            continue
        if cfg.dedupe:
            key = _normal_question(r.question)
            if key in seen:
                r.drop = ("duplicate", "question seen earlier in the input")
                continue
            seen.add(key)
        r.drop = question_problem(r.question)
        if r.drop is None and r.answer is None and cfg.extractor != "model":
            r.answer, r.answer_source = extract_answer(r.solution)
            if r.answer is None:
                r.answer_source = None


_NO_ANSWER = {
    "rules": "no boxed answer, answer phrase or usable last line",
    "model": "the extractor model found no single final answer",
    "rules_then_model": "neither the rules nor the extractor model found a single final answer",
}


def _check_answers(rows: list[_Row], cfg: SilverConfig) -> None:
    for r in rows:
        if r.drop is not None:
            continue
        if not r.answer:
            r.drop = ("no_answer", _NO_ANSWER[cfg.extractor])
            continue
        r.drop = answer_problem(r.answer, r.question, cfg)
        r.domain = domain_of(r.answer, r.question)


def _generate(generator: Any, requests: list[Any], params: Any) -> list[list[Any]]:
    """``generator.generate``; a call that raises (a server gone, an OOM in one batch) becomes error
    completions naming the exception, so the chunk's error gate (not a traceback) stops the run and a
    rerun resumes. Errors that make every call meaningless (bad options, a missing extra) still raise."""
    from cotforge.datagen.backends.base import Completion
    from cotforge.datagen.distill.config import FATAL_EXCEPTIONS

    try:
        return generator.generate(requests, params)
    except FATAL_EXCEPTIONS:
        raise
    except Exception as exc:
        reason = f"backend raised {type(exc).__name__}: {exc}"
        return [[Completion.failed(reason, j) for j in range(params.n)] for _ in requests]


def _model_extract(rows: list[_Row], generator: Any, batch: int = 64) -> None:
    """Ask an instruct model for the final answer of rows still without one (all, for ``model``)."""
    from cotforge.datagen.backends.base import GenerationRequest, SamplingParams
    from cotforge.datagen.distill import short_hash
    from cotforge.verifiers.response import clean_answer, last_boxed

    todo = [r for r in rows if r.drop is None and r.answer is None]
    params = SamplingParams(n=1, temperature=0.0, max_tokens=256, seed=0)
    for lo in range(0, len(todo), batch):
        chunk = todo[lo : lo + batch]
        requests = [
            GenerationRequest(
                short_hash("silver-extract", r.source_index, r.question, r.solution),
                [{"role": "user", "content": EXTRACT_PROMPT.replace("{question}", r.question).replace("{solution}", r.solution)}],
            )
            for r in chunk
        ]
        for r, samples in zip(chunk, _generate(generator, requests, params)):
            c = samples[0]
            if c.finish_reason == "error":
                r.model_error = f"extractor: {c.error}"
                continue  # stays without an answer: dropped as no_answer, the reason says model
            boxed = last_boxed(c.answer if c.reasoning is not None else c.text)
            ans = clean_answer(boxed) if boxed else None
            if ans and ans.upper() != "NONE":
                r.answer, r.answer_source = ans, "model"


def _check_verifiable(rows: list[_Row], grader: Any) -> None:
    from cotforge.datagen.distill import DOMAIN_VERIFIERS

    todo = [r for r in rows if r.drop is None]
    jobs = [(DOMAIN_VERIFIERS[r.domain], r.answer, f"The final answer is \\boxed{{{r.answer}}}.", False) for r in todo]
    for r, (name, *_), verdict in zip(todo, jobs, grader.grade_many(jobs)):
        if verdict.status.value != "correct":
            why = verdict.reason or verdict.status.value
            r.drop = ("unverifiable", f"{name} verifier on the answer itself: {verdict.status.value} ({why})")


def _teacher_filter(rows: list[_Row], generator: Any, cfg: SilverConfig, grader: Any, batch: int = 32) -> None:
    from cotforge.datagen.backends.base import GenerationRequest, SamplingParams
    from cotforge.datagen.distill import DOMAIN_VERIFIERS, short_hash

    sampling = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 4096, **(cfg.teacher_sampling or {})}
    params = SamplingParams.from_dict({**sampling, "n": cfg.teacher_samples})
    todo = [r for r in rows if r.drop is None]
    for lo in range(0, len(todo), batch):
        chunk = todo[lo : lo + batch]
        requests = [GenerationRequest(short_hash("silver-teacher", r.question), prompt_messages(r.question, cfg)) for r in chunk]
        results = _generate(generator, requests, params)
        jobs = [(DOMAIN_VERIFIERS[r.domain], r.answer, c.text, c.finish_reason == "length")
                for r, samples in zip(chunk, results) for c in samples if c.finish_reason != "error"]
        verdicts = iter(grader.grade_many(jobs))
        for r, samples in zip(chunk, results):
            ok = [c for c in samples if c.finish_reason != "error"]
            r.teacher_samples = len(samples)
            r.teacher_agree = sum(next(verdicts).status.value == "correct" for _ in ok)
            if not ok:
                r.drop = ("teacher_failed", f"all {len(samples)} teacher samples failed: {samples[0].error}")
                r.model_error = f"teacher: {samples[0].error}"
            elif r.teacher_agree < cfg.teacher_min_agree:
                r.drop = ("teacher_disagrees", f"{r.teacher_agree} of {len(samples)} teacher samples matched the answer "
                                               f"(needed {cfg.teacher_min_agree})")


def prompt_messages(question: str, cfg: SilverConfig) -> list[dict[str, str]]:
    content = question.strip() + (f"\n\n{cfg.instruction}" if cfg.instruction else "")
    return [{"role": "user", "content": content}]


def process_silver(
    rows: list[_Row],
    cfg: SilverConfig,
    *,
    extractor: Any = None,
    teacher: Any = None,
    grader: Any = None,
    seen: set[str] | None = None,
) -> list[_Row]:
    """Run steps 1-3 on ``rows`` in place (and return them). ``extractor`` / ``teacher`` are ready
    generators (or built from the config's backend names when needed); ``seen`` carries the
    normalised questions of earlier chunks for the duplicate rule."""
    from cotforge.datagen.distill import Grader

    cfg.validate()
    grader = grader or Grader()
    _check_rules(rows, cfg, seen)
    if cfg.extractor in ("model", "rules_then_model"):
        extractor = extractor or _build(cfg.extractor_backend, cfg.extractor_model, cfg, "--extractor-backend/--extractor-model")
        _model_extract(rows, extractor)
    _check_answers(rows, cfg)
    _check_verifiable(rows, grader)
    if cfg.teacher_samples:
        teacher = teacher or _build(cfg.teacher_backend, cfg.teacher_model, cfg, "--teacher-backend/--teacher-model")
        _teacher_filter(rows, teacher, cfg, grader)
    return rows


def _build(backend: str | None, model: str | None, cfg: SilverConfig, option: str) -> Any:
    from cotforge.datagen.backends import get_backend

    role = "teacher" if "teacher" in option else "extractor"
    _require_backend(role, backend, model, "this " + ("teacher filter" if role == "teacher" else "extractor"))
    if backend == "replay":
        return get_backend("replay", path=model, **(cfg.backend_options or {}))
    return get_backend(backend, model=model, **(cfg.backend_options or {}))
