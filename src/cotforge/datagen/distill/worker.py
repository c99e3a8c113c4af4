"""One batch of prompts -> generated, retried, graded ``all`` rows (the same code in every engine)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from cotforge.datagen.backends.failures import transient_error
from cotforge.datagen.distill.config import FATAL_EXCEPTIONS, DistillConfig, short_hash
from cotforge.datagen.distill.grading import Grader
from cotforge.datagen.distill.items import PromptItem
from cotforge.errors import UsageError
from cotforge.records import sampling_record


def build_generator(cfg: DistillConfig, retries: int | None = None) -> Any:
    """The backend of ``cfg``. For ``replay`` the model is the path of the recorded completions.

    ``retries``: the run's ``--retries``. A backend that retries failed requests itself (it takes
    ``max_retries``, like ``openai``) gets the larger of ``retries`` and its own default as its
    ``max_retries`` unless the backend options set one: ``--retries`` raises the persistence of a
    backend, never lowers it (an explicit ``--backend-opt max_retries=N`` is taken as it is).
    """
    import inspect

    from cotforge.datagen.backends import get_backend, load_backend_class

    options = dict(cfg.backend_options)
    if retries is not None and "max_retries" not in options:
        try:
            param = inspect.signature(load_backend_class(cfg.backend)).parameters.get("max_retries")
        except (UsageError, ValueError, TypeError):
            param = None  # an unknown backend: get_backend reports it below
        if param is not None:
            default = param.default if isinstance(param.default, int) and not isinstance(param.default, bool) else 0
            options["max_retries"] = max(retries, default)
    if cfg.backend == "replay":
        return get_backend("replay", path=cfg.model, **options)
    return get_backend(cfg.backend, model=cfg.model, **options)


def _lookup(item: PromptItem) -> dict[str, str]:
    """The prompt's input row as a replay backend may key on it: pass-through columns and the problem."""
    import json

    meta = json.loads(item.metadata) if item.metadata else {}
    return {**{k: str(v) for k, v in meta.items() if v is not None}, "problem": item.problem}


def retries_internally(generator: Any) -> bool:
    """True for a backend that retries failed requests itself (it has an integer ``max_retries``):
    the error completions it returns have used their retries already."""
    value = getattr(generator, "max_retries", None)
    return isinstance(value, int) and not isinstance(value, bool)


def _retryable(completion) -> bool:
    return completion.finish_reason == "error" and transient_error(completion.error)


def sft_assistant_text(messages: Sequence[dict[str, str]], text: str,
                       reasoning: str | None = None) -> tuple[list[dict[str, str]], str]:
    """The prompt messages and assistant content of the SFT row for ``text``.

    A trailing assistant prefill is merged into the assistant turn. When the prompt (chat template
    or prefill) opened the reasoning block, the text has no ``<think>`` of its own: a ``</think>``
    without one, or a ``reasoning`` part with no tag at all (a trace cut off inside its thinking,
    as QwQ / R1-style templates produce), gets ``<think>`` restored, so the SFT target holds the
    whole assistant turn.
    """
    prompt = [dict(m) for m in messages]
    prefix = ""
    if prompt and prompt[-1]["role"] == "assistant":
        prefix = prompt.pop()["content"]
    content = prefix + text
    if "<think>" not in content and ("</think>" in content or reasoning is not None):
        content = "<think>\n" + content
    return prompt, content


@dataclass
class _Generated:
    """A batch between its two stages: generated, not yet graded."""

    items: list[PromptItem]
    results: list[list[Any]]
    attempts: list[list[int]]
    seconds: float


@dataclass
class BatchResult:
    """The rows of one batch (a list of N rows per prompt) and where its time went."""

    rows: list[list[dict[str, Any]]]
    generation_seconds: float = 0.0
    grading_seconds: float = 0.0
    rows_seconds: float = 0.0


class DistillWorker:
    """Generates, retries, grades and turns one batch of prompts into ``all`` rows.

    The same worker runs in process (``engine="local"``) or inside each Ray actor
    (``engine="ray"``), so both engines produce the same rows.
    """

    def __init__(
        self,
        cfg: DistillConfig,
        generator: Any = None,
        *,
        retries: int = 2,
        retry_wait: float = 1.0,
        verify_workers: int | None = None,
    ):
        from cotforge.datagen.reasoning_stats import tokenizer_counter

        self.cfg = cfg
        self.params = cfg.params()
        self.generator = generator if generator is not None else build_generator(cfg, retries)
        # what the rows record as the model: the backend's own name for it (a replay backend knows
        # which model wrote the recorded completions), else the configured one
        self.model = str(getattr(self.generator, "model", "") or cfg.model)
        self.retries, self.retry_wait = retries, retry_wait
        self.grader = Grader(cfg.verifier_options, workers=verify_workers)
        self.count_tokens = tokenizer_counter(cfg.token_counter) if cfg.token_counter else None
        self._sampling = sampling_record(self.params)

    def close(self) -> None:
        close = getattr(self.generator, "close", None)
        if close is not None:
            close()

    # -- generation with retries
    def _call(self, requests: list[Any]) -> tuple[list[list[Any]], int, bool]:
        """One ``generate`` call, retried when it raises: (results, attempts used, gave up).

        After the last attempt every sample becomes an error completion naming the exception.
        """
        from cotforge.datagen.backends.base import Completion

        last: BaseException | None = None
        for attempt in range(1, self.retries + 2):
            try:
                return self.generator.generate(requests, self.params), attempt, False
            except FATAL_EXCEPTIONS:
                raise
            except Exception as exc:  # a transient failure (server, OOM in one batch, ...)
                last = exc
                if attempt <= self.retries and self.retry_wait > 0:
                    time.sleep(min(30.0, self.retry_wait * 2 ** (attempt - 1)))
        reason = f"backend raised {type(last).__name__}: {last} (after {self.retries + 1} attempts)"
        failed = [[Completion.failed(reason, j) for j in range(self.params.n)] for _ in requests]
        return failed, self.retries + 1, True

    def generate(self, items: Sequence[PromptItem]) -> tuple[list[list[Any]], list[list[int]]]:
        """Completions of ``items`` and the attempts each took. Error completions the backend
        returned are asked for again (up to ``retries`` times) unless permanent; a call that kept
        raising has used its retries already."""
        from cotforge.datagen.backends.base import GenerationRequest

        requests = [GenerationRequest(it.prompt_id, [dict(m) for m in it.messages], _lookup(it)) for it in items]
        results, used, gave_up = self._call(requests)
        attempts = [[used] * self.params.n for _ in items]
        settled = set(range(len(items))) if gave_up else set()
        # a backend with its own retry loop (openai: per request, honouring Retry-After) has already
        # spent --retries on the error completions it returns; asking again would multiply them
        rounds = 0 if retries_internally(self.generator) else self.retries
        for _ in range(rounds):
            redo = [i for i, comps in enumerate(results) if i not in settled and any(_retryable(c) for c in comps)]
            if not redo:
                break
            again, used, gave_up = self._call([requests[i] for i in redo])
            if gave_up:
                settled.update(redo)
            for i, fresh in zip(redo, again):
                merged = []
                for j, (old, new) in enumerate(zip(results[i], fresh)):
                    if _retryable(old):
                        merged.append(new)
                        attempts[i][j] += used
                    else:
                        merged.append(old)
                results[i] = merged
        return results, attempts

    # -- rows
    def process(self, items: Sequence[PromptItem]) -> BatchResult:
        """``all`` rows for each prompt of the batch, in order (N rows per prompt).

        The whole batch is graded in one call, so the verifier pool works on many items at once.
        """
        return self.grade_and_build(self.generate_batch(items))

    def generate_batch(self, items: Sequence[PromptItem]) -> "_Generated":
        """Stage 1 (the backend; not thread-safe, so always in the engine's own thread)."""
        t0 = time.perf_counter()
        results, attempts = self.generate(items)
        return _Generated(list(items), results, attempts, time.perf_counter() - t0)

    def grade_and_build(self, g: "_Generated") -> BatchResult:
        """Stage 2 (verifier pool + rows; thread-safe, so batches may overlap)."""
        items, results, attempts = g.items, g.results, g.attempts
        t1 = time.perf_counter()
        jobs: list[tuple[str, str, str, bool]] = []
        where: list[tuple[int, int]] = []
        for p, (it, comps) in enumerate(zip(items, results)):
            name = self.cfg.verifier_for(it.domain)
            for k, c in enumerate(comps):
                if c.finish_reason != "error":
                    jobs.append((name, it.answer, c.text, c.finish_reason == "length"))
                    where.append((p, k))
        verdicts = dict(zip(where, self.grader.grade_many(jobs)))
        t2 = time.perf_counter()
        rows = [
            self._prompt_rows(it, comps, att, [verdicts.get((p, k)) for k in range(len(comps))])
            for p, (it, comps, att) in enumerate(zip(items, results, attempts))
        ]
        return BatchResult(rows, g.seconds, t2 - t1, time.perf_counter() - t2)

    def _prompt_rows(self, item: PromptItem, completions: Sequence[Any], attempts: Sequence[int],
                     verdicts: Sequence[Any]) -> list[dict[str, Any]]:
        from cotforge.datagen.reasoning_stats import completion_stats

        cfg = self.cfg
        verifier_name = cfg.verifier_for(item.domain)
        verifier = self.grader.verifier(verifier_name)
        rows = []
        for c, att, v in zip(completions, attempts, verdicts):
            if c.finish_reason == "error":
                status, score, extracted, reason = "error", 0.0, None, "generation failed"
            else:
                status, score, extracted, reason = v.status.value, float(v.score), v.extracted, v.reason or None
            tokens = self._completion_tokens(item, c)
            stats = completion_stats(c.text, c.reasoning, tokens, self.count_tokens)
            model = c.model or self.model  # a replay of several models keeps each sample's own
            if c.attempts is not None:  # the backend's own requests (its retries) inside our attempts
                att = att + c.attempts - 1
            rows.append({
                "id": short_hash("completion", item.prompt_id, model, self._sampling, c.sample_index,
                                 c.text, c.finish_reason, c.error or ""),
                "prompt_id": item.prompt_id,
                "prompt_index": item.prompt_index,
                "sample_index": c.sample_index,
                "domain": item.domain,
                "problem": item.problem,
                "answer": item.answer,
                "prompt": [dict(m) for m in item.messages],
                "completion": c.text,
                "reasoning": c.reasoning,
                "finish_reason": c.finish_reason,
                "error": c.error,
                "attempts": att,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": tokens,
                "think_tokens": stats.think_tokens,
                "answer_tokens": stats.answer_tokens,
                "reflection": stats.reflection,
                "verifier": verifier_name,
                "verifier_version": str(getattr(verifier, "version", "")),
                "status": status,
                "score": score,
                "extracted": extracted,
                "reason": reason,
                "model": model,
                "backend": cfg.backend,
                "sampling": self._sampling,
                "metadata": item.metadata,
            })
        decide(rows, cfg)
        return rows

    def _completion_tokens(self, item: PromptItem, c: Any) -> int:
        """The completion's token count: the backend's, else the tokenizer's (``--tokenizer``).

        A length filter cannot judge a completion of unknown length, and passing it unjudged would
        make the filter a no-op that the card still claims: that is refused with the reason.
        """
        if c.finish_reason == "error" or c.completion_tokens >= 0:
            return c.completion_tokens
        if self.count_tokens is not None:
            return int(self.count_tokens(c.text))
        cfg = self.cfg
        if cfg.min_completion_tokens > 0 or cfg.max_completion_tokens is not None or cfg.sft_token_budget:
            raise UsageError(
                f"--min-tokens/--max-completion-tokens/--sft-token-budget: the {cfg.backend} backend reported no completion token "
                f"count (prompt {item.prompt_index}, sample {c.sample_index}; servers report none per sample "
                f"when n > 1), so the length filter (or budget) cannot be applied; pass --tokenizer <the teacher's "
                f"tokenizer> to count them, or drop the filter"
            )
        return c.completion_tokens


UNGRADABLE = ("error", "timeout", "unparsable_gold")
#: Reject reason of an accepted-quality completion identical to an earlier accepted one of its prompt.
DUPLICATE_REASON = "exact duplicate of an accepted completion"


def decide(rows: list[dict[str, Any]], cfg: DistillConfig) -> None:
    """Fill pass-rate and acceptance fields of one prompt's rows (in sample order), in place."""
    gradable = [r for r in rows if r["status"] not in UNGRADABLE]
    correct = sum(r["status"] == "correct" for r in rows)
    pass_rate = (correct / len(gradable)) if gradable else None
    kept = 0
    first_with_text: dict[str, int] = {}  # accepted completion text -> its sample index
    for r in sorted(rows, key=lambda r: r["sample_index"]):
        r["prompt_samples"], r["prompt_correct"], r["prompt_pass_rate"] = len(rows), correct, pass_rate
        why = _reject_reason(r, cfg)
        if why is None and r["completion"] in first_with_text:
            # an exact repeat teaches nothing new and weighs its prompt twice in SFT
            why = f"{DUPLICATE_REASON}: sample {first_with_text[r['completion']]}"
        if why is None and cfg.max_per_prompt is not None and kept >= cfg.max_per_prompt:
            why = f"beyond the first {cfg.max_per_prompt} kept for this prompt"
        if why is None:
            first_with_text[r["completion"]] = r["sample_index"]
        r["accepted"] = why is None
        r["reject_reason"] = why
        kept += why is None


def _reject_reason(r: dict[str, Any], cfg: DistillConfig) -> str | None:
    if r["finish_reason"] == "error":
        return f"generation error: {r['error']}"
    if r["finish_reason"] not in cfg.finish_reasons:
        return f"finish_reason {r['finish_reason']} (accepted: {', '.join(cfg.finish_reasons)})"
    if not r["completion"].strip():
        return "empty completion"
    tokens = r["completion_tokens"]
    if tokens is not None and tokens >= 0:
        if tokens < cfg.min_completion_tokens:
            return f"{tokens} completion tokens < minimum {cfg.min_completion_tokens}"
        if cfg.max_completion_tokens is not None and tokens > cfg.max_completion_tokens:
            return f"{tokens} completion tokens > maximum {cfg.max_completion_tokens}"
    if cfg.keep == "correct" and r["status"] != "correct":
        return f"status {r['status']}" + (f": {r['reason']}" if r.get("reason") else "")
    return None
