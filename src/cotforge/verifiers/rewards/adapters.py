"""TRL reward-function adapters: ``f(prompts, completions, completion_ids=None, **columns) ->
list[float | None]`` with ``__name__`` set (TRL logs rewards under it).

Completions may be plain strings or conversational (a list of message dicts); dataset columns
arrive as lists in ``columns`` and non-list extras TRL adds (``trainer_state``, logging hooks) are
ignored. The gold answer is read from a column (``gold="answer"``), several columns
(``gold=("test", "entry_point")`` -> a dict), or a function of the row. The functions keep no
mutable state besides a lazily built verifier (created under a lock), so they are safe to call
from several threads at once.

Rewards grade strictly: the math and TheoremQA verifiers run with ``fallback=False`` (an unmarked
response is not graded by its last number) unless ``verifier_options`` says otherwise, and the
question (the prompt, or a named column) is passed to verifiers that refuse an answer restating it.
``None`` means "this row cannot be graded" (TRL leaves it out); a row on which *every* reward
function returns ``None`` gets no advantage in TRL 1.16. Since TRL sums the others with nansum,
:func:`combined_reward_func` folds several terms into one that is ``None`` for the whole row when
any term cannot grade it (the format reward then stops paying on an item with a broken gold).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.response import to_text
from cotforge.verifiers.rewards.presets import WARMUP_DOMAINS, correctness_or_score, logic_rl_reward, warmup_reward
from cotforge.verifiers.rewards.shaping import (
    FORMAT_RULES,
    _check_lengths,
    correctness_reward,
    cosine_scaled_reward,
    format_reward,
    repetition_penalty,
    repetition_penalty_mean,
    soft_overlong_penalty,
    text_repetition_penalty,
    ungradable,
)
from cotforge.verifiers.rewards.think import prompt_opens_think as _opens_think

log = logging.getLogger(__name__)

GoldSpec = str | Sequence[str] | Callable[[dict[str, Any]], Any]

#: Verifiers whose ``fallback`` option (grade an unmarked response by its last number) rewards
#: turn off by default.
_STRICT_BY_DEFAULT = ("math", "theoremqa")


def _rows(n: int, columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-completion rows from TRL's column lists; scalars TRL adds (trainer_state, hooks) are skipped."""
    lists = {
        k: v
        for k, v in columns.items()
        if isinstance(v, (list, tuple)) or (hasattr(v, "__len__") and hasattr(v, "__getitem__") and not isinstance(v, (str, bytes, Mapping)))
    }
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for k, v in lists.items():
        try:
            if len(v) != n:
                continue
        except TypeError:
            continue
        for i in range(n):
            rows[i][k] = v[i]
    return rows


def _gold_getter(gold: GoldSpec) -> Callable[[dict[str, Any]], Any]:
    if callable(gold):
        return gold
    if isinstance(gold, str):
        key = gold

        def one(row: dict[str, Any]) -> Any:
            if key not in row:
                raise KeyError(
                    f"reward function needs the dataset column {key!r} (gold answers); columns passed: {sorted(row)}"
                )
            return row[key]

        return one
    keys = list(gold)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"gold must be a column name, a sequence of column names or a callable, got {gold!r}")

    def many(row: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in keys if k not in row]
        if missing:
            raise KeyError(f"reward function needs the dataset columns {missing}; columns passed: {sorted(row)}")
        return {k: row[k] for k in keys}

    return many


class _ThinkDetector:
    """Decides per prompt whether it opened ``<think>``: a fixed ``setting``, else the prompt as the
    model saw it (plain text, or messages rendered with ``tokenizer`` / ``chat_template``)."""

    def __init__(self, setting: bool | None, tokenizer: Any = None, chat_template: str | None = None):
        self.setting, self.tokenizer, self.chat_template = setting, tokenizer, chat_template

    def __call__(self, prompts: Any, i: int) -> bool:
        prompt = prompts[i] if prompts is not None else None
        return _opens_think(prompt, self.setting, tokenizer=self.tokenizer, chat_template=self.chat_template)


class _LazyVerifier:
    """A verifier built on first use, once, under a lock (reward functions are called from threads)."""

    def __init__(self, verifier: Any, options: Mapping[str, Any] | None):
        self._spec = verifier
        self._options = dict(options or {})
        if isinstance(verifier, str) and verifier in _STRICT_BY_DEFAULT:
            self._options.setdefault("fallback", False)
        self._instance = None if isinstance(verifier, str) else verifier
        self._lock = threading.Lock()
        if isinstance(verifier, str):
            from cotforge.verifiers import REGISTRY

            if verifier not in REGISTRY:
                raise ValueError(f"unknown verifier {verifier!r}; known: {', '.join(sorted(REGISTRY))}")
        elif not hasattr(verifier, "verify"):
            raise ValueError(f"verifier must be a registry name or an object with .verify(), got {verifier!r}")
        self._takes_question: bool | None = None

    @property
    def name(self) -> str:
        return self._spec if isinstance(self._spec, str) else getattr(self._spec, "name", type(self._spec).__name__)

    def get(self) -> Any:
        if self._instance is None:
            with self._lock:
                if self._instance is None:
                    from cotforge.verifiers import get_verifier

                    self._instance = get_verifier(self._spec, **self._options)
        return self._instance

    def takes_question(self) -> bool:
        """Whether ``verify`` accepts ``question=`` (verifiers with a restatement guard)."""
        if self._takes_question is None:
            try:
                params = inspect.signature(self.get().verify).parameters
                self._takes_question = "question" in params or bool(getattr(self.get(), "accepts_question", False))
            except (TypeError, ValueError):
                self._takes_question = False
        return self._takes_question


def _named(fn: Callable[..., list[float | None]], name: str) -> Callable[..., list[float | None]]:
    fn.__name__ = name
    fn.__qualname__ = name
    return fn


def grade_batch(
    verifier: Any,
    golds: Sequence[Any],
    responses: Sequence[Any],
    kwargs: Sequence[dict[str, Any]] | None = None,
    *,
    workers: int | None = None,
) -> list[Verdict]:
    """Grade ``responses[i]`` against ``golds[i]``; one verdict each, in order.

    Verifiers that isolate each item themselves (``isolated = True``: the code verifier's
    subprocesses) run ``workers`` at a time in threads. All others go through
    :func:`cotforge.verifiers.pool.verify_batch`: what a verifier settles cheaply stays in this
    process, the rest runs in killable worker processes with a per-item deadline.
    """
    golds, responses = list(golds), list(responses)
    kw = [dict(k or {}) for k in kwargs] if kwargs is not None else [{} for _ in golds]
    if not (len(golds) == len(responses) == len(kw)):
        raise ValueError(f"{len(golds)} golds, {len(responses)} responses and {len(kw)} kwargs: lengths differ")
    if not golds:
        return []
    if getattr(verifier, "isolated", False):
        workers = workers or os.cpu_count() or 1
        if workers > 1 and len(golds) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as ex:
                return list(ex.map(lambda a: verifier.verify(a[0], a[1], **a[2]), zip(golds, responses, kw)))
        return [verifier.verify(g, r, **k) for g, r, k in zip(golds, responses, kw)]
    from cotforge.verifiers.pool import verify_batch

    return verify_batch(verifier, golds, responses, kwargs=kw, workers=workers)


def _truncated(ids: Any, max_completion_length: int | None) -> bool:
    return bool(max_completion_length and ids is not None and len(ids) >= max_completion_length)


def _warn_errors(verdicts: Sequence[Verdict], name: str) -> None:
    errors = [v for v in verdicts if v.status is Status.ERROR and not ungradable(v)]
    if errors:
        log.warning("%s: %d of %d completions broke the verifier and score as wrong (first: %s)",
                    name, len(errors), len(verdicts), errors[0].reason[:200])


QuestionSpec = bool | str | None


def _prompt_text(prompt: Any) -> str | None:
    """A prompt's text: the string itself, or the user turns of a conversation joined."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)):
        parts = [to_text(m.get("content")) or "" for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return "\n".join(parts) or None
    return None


def _question_of(question: QuestionSpec, prompts: Any, rows: list[dict[str, Any]], i: int) -> str | None:
    if isinstance(question, str):
        if question not in rows[i]:
            raise KeyError(f"reward function needs the dataset column {question!r} (questions); columns passed: {sorted(rows[i])}")
        return to_text(rows[i][question])
    return _prompt_text(prompts[i]) if prompts is not None else None


def _grade(
    lazy: _LazyVerifier, prompts: Any, completions: Sequence[Any], columns: Mapping[str, Any], get_gold,
    *, truncated: Sequence[bool], think: _ThinkDetector, question: QuestionSpec, workers: int | None,
) -> list[Verdict]:
    n = len(completions)
    rows = _rows(n, columns)
    golds = [get_gold(r) for r in rows]
    kw: list[dict[str, Any]] = []
    ask_question = question not in (None, False) and lazy.takes_question()
    for i in range(n):
        k: dict[str, Any] = {}
        if truncated[i]:
            k["truncated"] = True
        if lazy.name == "kk":
            k["prompt_opens_think"] = think(prompts, i)
        if ask_question:
            k["question"] = _question_of(question, prompts, rows, i)
        kw.append(k)
    verdicts = grade_batch(lazy.get(), golds, list(completions), kw, workers=workers)
    _warn_errors(verdicts, lazy.name)
    return verdicts


def correctness_reward_func(
    verifier: Any = "math",
    *,
    gold: GoldSpec = "answer",
    correct: float = 1.0,
    incorrect: float = 0.0,
    use_verdict_score: bool = False,
    verifier_options: Mapping[str, Any] | None = None,
    max_completion_length: int | None = None,
    question: QuestionSpec = True,
    prompt_opens_think: bool | None = None,
    tokenizer: Any = None,
    chat_template: str | None = None,
    workers: int | None = None,
    name: str | None = None,
) -> Callable[..., list[float | None]]:
    """TRL reward function: each completion graded by ``verifier`` (a registry name or instance).

    ``use_verdict_score`` returns the verifier's own score (e.g. ``kk`` with
    ``verifier_options={"scoring": "logic_rl"}``) instead of ``correct``/``incorrect``.
    ``max_completion_length``: completions whose ``completion_ids`` reach it are graded as
    truncated. ``question``: for verifiers that refuse an answer restating the problem
    (``math``: ``restates_question``): ``True`` (default) reads it from the prompt, a string names
    the column holding it, ``False`` turns the guard off. ``prompt_opens_think`` / ``tokenizer`` / ``chat_template``: how to tell
    that the prompt opened ``<think>`` (K&K). Grading goes through :func:`grade_batch`, ``workers``
    at a time (``None``: one per CPU). Returns ``None`` where the item cannot be graded.
    """
    lazy = _LazyVerifier(verifier, verifier_options)
    get_gold = _gold_getter(gold)
    think = _ThinkDetector(prompt_opens_think, tokenizer, chat_template)

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        n = len(completions)
        cut = [_truncated(completion_ids[i] if completion_ids is not None else None, max_completion_length) for i in range(n)]
        verdicts = _grade(lazy, prompts, completions, columns, get_gold, truncated=cut, think=think,
                          question=question, workers=workers)
        if use_verdict_score:
            return [correctness_or_score(v) for v in verdicts]
        return [correctness_reward(v, correct=correct, incorrect=incorrect) for v in verdicts]

    return _named(reward, name or f"{lazy.name}_correctness")


def format_reward_func(
    rule: str = "logic_rl",
    *,
    prompt_opens_think: bool | None = None,
    tokenizer: Any = None,
    chat_template: str | None = None,
    ok: float | None = None,
    bad: float | None = None,
    name: str | None = None,
) -> Callable[..., list[float]]:
    """TRL reward function for :func:`format_reward`. ``prompt_opens_think=None`` decides per
    prompt: a plain-text prompt that leaves ``<think>`` open, or a conversational prompt whose chat
    template (``tokenizer`` or ``chat_template``) opens it, counts as the completion's ``<think>``."""
    if rule not in FORMAT_RULES:
        raise ValueError(f"unknown format rule {rule!r}; choose one of {', '.join(FORMAT_RULES)}")
    think = _ThinkDetector(prompt_opens_think, tokenizer, chat_template)

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        return [format_reward(c, rule=rule, prompt_opens_think=think(prompts, i), ok=ok, bad=bad)
                for i, c in enumerate(completions)]

    return _named(reward, name or f"{rule}_format")


def _lengths(completion_ids: Any, n: int, what: str) -> list[int]:
    if completion_ids is None:
        raise ValueError(f"{what} needs completion_ids (token counts); TRL's GRPOTrainer passes them")
    if len(completion_ids) != n:
        raise ValueError(f"{what}: {len(completion_ids)} completion_ids for {n} completions")
    return [len(ids) for ids in completion_ids]


def cosine_reward_func(
    verifier: Any = "math",
    *,
    max_completion_length: int,
    gold: GoldSpec = "answer",
    r0c: float = 2.0,
    rLc: float = 1.0,
    r0w: float = -10.0,
    rLw: float = 0.0,
    exceed: float = -10.0,
    margin: int = 16,
    verifier_options: Mapping[str, Any] | None = None,
    question: QuestionSpec = True,
    prompt_opens_think: bool | None = None,
    tokenizer: Any = None,
    chat_template: str | None = None,
    workers: int | None = None,
    name: str | None = None,
) -> Callable[..., list[float | None]]:
    """TRL reward function for :func:`cosine_scaled_reward`; correctness from ``verifier`` (as in
    :func:`correctness_reward_func`), length from ``completion_ids``; ``max_completion_length`` is
    L_max (GRPOConfig's value). ``None`` only where the item cannot be graded."""
    _check_lengths(0, max_completion_length)
    lazy = _LazyVerifier(verifier, verifier_options)
    get_gold = _gold_getter(gold)
    think = _ThinkDetector(prompt_opens_think, tokenizer, chat_template)

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        n = len(completions)
        lengths = _lengths(completion_ids, n, "the cosine reward")
        cut = [L >= max_completion_length for L in lengths]
        verdicts = _grade(lazy, prompts, completions, columns, get_gold, truncated=cut, think=think,
                          question=question, workers=workers)
        out: list[float | None] = []
        for v, L in zip(verdicts, lengths):
            if ungradable(v):
                out.append(None)
                continue
            out.append(cosine_scaled_reward(v.status is Status.CORRECT, L, max_completion_length,
                                            r0c=r0c, rLc=rLc, r0w=r0w, rLw=rLw, exceed=exceed, margin=margin))
        return out

    return _named(reward, name or "cosine_scaled")


REPETITION_REDUCTIONS = ("sum", "mean")


def repetition_penalty_func(
    *, ngram_size: int = 40, penalty: float = -0.05, only_start: bool = False, reduction: str = "sum",
    name: str | None = None,
) -> Callable[..., list[float]]:
    """TRL reward function for the repetition penalty over ``completion_ids``.

    ``reduction="sum"`` is the study's summed dense penalty (down to ``penalty x L``: -200 at 4k
    tokens, so weight it accordingly beside the cosine reward's [-10, 2]); ``"mean"`` is its
    per-token mean, in ``[penalty, 0]``. Without token ids the study's text rule applies:
    ``(1 - unique/total word n-grams) x penalty`` (:func:`text_repetition_penalty`).
    """
    if penalty > 0 or ngram_size < 1:
        raise ValueError(f"need ngram_size >= 1 and penalty <= 0, got {ngram_size}, {penalty}")
    if reduction not in REPETITION_REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REPETITION_REDUCTIONS)}")
    per_tokens = repetition_penalty if reduction == "sum" else repetition_penalty_mean

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        if completion_ids is not None:
            return [per_tokens(list(ids), ngram_size=ngram_size, penalty=penalty, only_start=only_start)
                    for ids in completion_ids]
        return [text_repetition_penalty(to_text(c) or "", ngram_size=ngram_size, penalty=penalty) for c in completions]

    return _named(reward, name or f"repetition_{ngram_size}gram" + ("" if reduction == "sum" else "_mean"))


def soft_overlong_reward_func(
    *, max_completion_length: int, cache: int, name: str | None = None
) -> Callable[..., list[float]]:
    """TRL reward function for :func:`soft_overlong_penalty`."""
    soft_overlong_penalty(0, max_completion_length, cache)  # validates the settings now, not mid-training

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        n = len(completions) if completions is not None else (len(completion_ids) if completion_ids is not None else 0)
        lengths = _lengths(completion_ids, n, "the soft overlong penalty")
        return [soft_overlong_penalty(L, max_completion_length, cache) for L in lengths]

    return _named(reward, name or "soft_overlong")


def _map_jobs(fn: Callable[[Any], Any], jobs: list[Any], workers: int | None) -> list[Any]:
    if workers and workers > 1 and len(jobs) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(fn, jobs))
    return [fn(j) for j in jobs]


def warmup_reward_func(
    domain: str,
    *,
    gold: GoldSpec = "answer",
    code_options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    name: str | None = None,
) -> Callable[..., list[float | None]]:
    """TRL reward function for :func:`warmup_reward` in ``domain`` (math, mmlu_pro, humaneval, kk).
    For ``humaneval`` pass ``gold=("test", "entry_point")`` (plus the HumanEval prompt column under
    the name ``prompt`` via a callable, since TRL keeps the ``prompt`` column for itself)."""
    if domain not in WARMUP_DOMAINS:
        raise ValueError(f"unknown warm-up domain {domain!r}; choose one of {', '.join(WARMUP_DOMAINS)}")
    get_gold = _gold_getter(gold)

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        rows = _rows(len(completions), columns)
        jobs = [(get_gold(r), c) for r, c in zip(rows, completions)]
        return _map_jobs(lambda j: warmup_reward(domain, j[0], j[1], code_options=code_options), jobs, workers)

    return _named(reward, name or f"warmup_{domain}")


def logic_rl_reward_func(
    *, gold: GoldSpec = "answer", prompt_opens_think: bool | None = None, tokenizer: Any = None,
    chat_template: str | None = None, name: str | None = None,
) -> Callable[..., list[float | None]]:
    """TRL reward function for :func:`logic_rl_reward` (K&K). ``prompt_opens_think=None``: decided
    per prompt (Logic-RL's template ends with ``<|im_start|>assistant\\n<think>``; a conversational
    prompt is rendered with ``tokenizer`` / ``chat_template`` first)."""
    get_gold = _gold_getter(gold)
    think = _ThinkDetector(prompt_opens_think, tokenizer, chat_template)

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        rows = _rows(len(completions), columns)
        return [logic_rl_reward(get_gold(rows[i]), c, prompt_opens_think=think(prompts, i)) for i, c in enumerate(completions)]

    return _named(reward, name or "logic_rl")


def combined_reward_func(
    terms: Sequence[Callable[..., list[float | None]] | tuple[Callable[..., list[float | None]], float]],
    *,
    name: str | None = None,
) -> Callable[..., list[float | None]]:
    """One TRL reward function from several: the weighted sum of ``terms`` (each a reward function
    or ``(function, weight)``), ``None`` for the whole row when any term returns ``None``.

    TRL sums reward functions with nansum, so a format reward keeps paying on a row whose gold is
    unparsable while the correctness term is left out; combined, such a row is unscorable and TRL
    gives it no advantage.
    """
    pairs: list[tuple[Callable[..., Any], float]] = []
    for t in terms:
        fn, weight = t if isinstance(t, tuple) else (t, 1.0)
        if not callable(fn):
            raise ValueError(f"combined_reward_func: {fn!r} is not a reward function")
        pairs.append((fn, float(weight)))
    if not pairs:
        raise ValueError("combined_reward_func needs at least one term")

    def reward(prompts=None, completions=None, completion_ids=None, **columns):
        if completions is None:
            raise ValueError("reward function called without completions")
        values = [fn(prompts=prompts, completions=completions, completion_ids=completion_ids, **columns) for fn, _ in pairs]
        out: list[float | None] = []
        for i in range(len(completions)):
            row = [v[i] for v in values]
            out.append(None if any(x is None for x in row) else float(sum(w * x for (_, w), x in zip(pairs, row))))
        return out

    return _named(reward, name or "+".join(getattr(fn, "__name__", "term") for fn, _ in pairs))
