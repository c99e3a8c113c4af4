"""Reward terms that score one completion with plain numbers: format rules, correctness from a
verdict, the cosine length-scaled reward, repetition penalties and DAPO's soft overlong penalty.

Scales, so terms can be combined knowingly (defaults):

====================================  ==========================================================
term                                  range
====================================  ==========================================================
:func:`format_reward`                 logic_rl +1 / -1; warmup 0 / -2
:func:`correctness_reward`            ``correct`` / ``incorrect`` (1 / 0)
:func:`cosine_scaled_reward`          correct [+1, +2], wrong [-10, 0], limit reached -10
:func:`repetition_penalties`          per token 0 or -0.05
:func:`repetition_penalty` (summed)   [-0.05 x L, 0]: -200 at L = 4,000 tokens, which swamps the
                                      cosine range; use :func:`repetition_penalty_mean` (per-token
                                      mean, [-0.05, 0]) beside sequence rewards, or the dense form
                                      with its own discount in a PPO-style trainer
:func:`text_repetition_penalty`       [penalty, 0]: (1 - unique/total word n-grams) x penalty
:func:`soft_overlong_penalty`         [-1, 0]
====================================  ==========================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from cotforge.verifiers.base import Status, Verdict, is_setup_failure
from cotforge.verifiers.response import to_text

FORMAT_RULES = ("logic_rl", "warmup")

_WARMUP_SHAPE = re.compile(r".+</think>\s*<answer>(.+)</answer>\s*$", re.DOTALL)


def _count_problem(text: str, tags: Sequence[str]) -> str | None:
    for tag in tags:
        n = text.count(tag)
        if n != 1:
            return f"{tag!r} appears {n} times (expected once)"
    return None


def format_check(text: str, *, rule: str = "logic_rl") -> tuple[bool, str]:
    """Whether ``text`` follows the format ``rule``, and if not, why.

    ``logic_rl``: ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` each once and in that
    order. ``warmup``: ``</think>``, ``<answer>``, ``</answer>`` each once and the completion
    matches ``.+</think>\\s*<answer>(.+)</answer>\\s*$`` (the prompt already opened ``<think>``).
    """
    if rule not in FORMAT_RULES:
        raise ValueError(f"unknown format rule {rule!r}; choose one of {', '.join(FORMAT_RULES)}")
    if not isinstance(text, str):
        return False, "no text"
    if rule == "logic_rl":
        tags = ("<think>", "</think>", "<answer>", "</answer>")
        problem = _count_problem(text, tags)
        if problem:
            return False, problem
        pos = [text.find(t) for t in tags]
        if pos != sorted(pos):
            return False, "tags out of order (expected <think>...</think><answer>...</answer>)"
        return True, ""
    problem = _count_problem(text, ("</think>", "<answer>", "</answer>"))
    if problem:
        return False, problem
    if not _WARMUP_SHAPE.search(text):
        return False, "does not match '.+</think>\\s*<answer>(.+)</answer>\\s*$'"
    return True, ""


def answer_content(text: str) -> str | None:
    """The text inside the warm-up format's ``<answer>`` block, or ``None``."""
    m = _WARMUP_SHAPE.search(text)
    return m.group(1) if m else None


_FORMAT_SCORES = {"logic_rl": (1.0, -1.0), "warmup": (0.0, -2.0)}


def format_reward(
    completion: Any,
    *,
    rule: str = "logic_rl",
    prompt_opens_think: bool = False,
    ok: float | None = None,
    bad: float | None = None,
) -> float:
    """``ok`` when the completion follows ``rule``, else ``bad`` (defaults: logic_rl +1/-1,
    warmup 0/-2). ``prompt_opens_think``: the prompt ended with ``<think>``, so it is counted."""
    default_ok, default_bad = _FORMAT_SCORES.get(rule, (1.0, -1.0))
    text = to_text(completion) or ""
    if prompt_opens_think and "<think>" not in text:
        text = "<think>" + text
    good, _ = format_check(text, rule=rule)
    return (default_ok if ok is None else ok) if good else (default_bad if bad is None else bad)


def correctness_reward(verdict: Verdict, *, correct: float = 1.0, incorrect: float = 0.0) -> float | None:
    """``correct`` / ``incorrect`` for a verdict; ``None`` only when the item cannot be graded:
    an ``unparsable_gold``, or an ``error`` that the verifier marks as a setup failure (workers
    that cannot start, a verifier that cannot load; :func:`cotforge.verifiers.base.is_setup_failure`).

    Everything a completion can cause scores ``incorrect``: no answer, truncation, a timeout, and
    an ``error`` raised while grading that answer (a power tower that overflows, a worker killed
    by it). Otherwise a policy learns that breaking the checker beats being wrong, because TRL
    leaves ``None`` out of the sum.
    """
    if verdict.status is Status.UNPARSABLE_GOLD:
        return None
    if verdict.status is Status.ERROR and is_setup_failure(verdict):
        return None
    return correct if verdict.status is Status.CORRECT else incorrect


def ungradable(verdict: Verdict) -> bool:
    """True when ``verdict`` judges nothing about the completion (see :func:`correctness_reward`)."""
    return verdict.status is Status.UNPARSABLE_GOLD or (verdict.status is Status.ERROR and is_setup_failure(verdict))


def _check_lengths(gen_len: int, max_len: int) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len <= 0:
        raise ValueError(f"max_len (L_max, the maximum number of new tokens) must be a positive int, got {max_len!r}")
    if not isinstance(gen_len, int) or isinstance(gen_len, bool) or gen_len < 0:
        raise ValueError(f"gen_len must be a non-negative int, got {gen_len!r}")


def cosine_scaled_reward(
    correct: bool,
    gen_len: int,
    max_len: int,
    *,
    r0c: float = 2.0,
    rLc: float = 1.0,
    r0w: float = -10.0,
    rLw: float = 0.0,
    exceed: float = -10.0,
    margin: int = 16,
) -> float:
    """The cosine length-scaled reward of Yeo et al. (2025).

    ``CosFn(t, T, a, b) = b + (a - b) * (1 + cos(t * pi / T)) / 2`` with ``t = gen_len`` and
    ``T = max_len`` (the maximum number of new tokens): correct answers get
    ``CosFn(t, T, r0c, rLc)``, wrong ones ``CosFn(t, T, r0w, rLw)``; when
    ``gen_len + margin >= max_len`` (the generation ran into the limit, as in their code) the
    reward is ``exceed`` whatever the answer.
    """
    _check_lengths(gen_len, max_len)
    if gen_len + margin >= max_len:
        return float(exceed)
    a, b = (r0c, rLc) if correct else (r0w, rLw)
    return float(b + (a - b) * (1.0 + math.cos(gen_len * math.pi / max_len)) / 2.0)


def _check_repetition(ngram_size: int, penalty: float) -> None:
    if ngram_size < 1:
        raise ValueError(f"ngram_size must be >= 1, got {ngram_size}")
    if penalty > 0:
        raise ValueError(f"penalty must be <= 0, got {penalty}")


def repetition_penalties(
    tokens: Sequence[Any], *, ngram_size: int = 40, penalty: float = -0.05, only_start: bool = False
) -> list[float]:
    """Dense repetition penalty: one value per token, ``penalty`` on every token that lies inside
    an ``ngram_size``-gram which already occurred earlier in ``tokens`` (token ids).

    Follows the long-CoT study's code: a token covered by several repeated n-grams is penalised
    once; ``only_start=True`` skips a repeated n-gram that starts inside the previous one. This is
    the per-token form a PPO-style trainer places on the tokens (with its own discount).
    """
    _check_repetition(ngram_size, penalty)
    toks = list(tokens)
    n = len(toks)
    out = [0.0] * n
    if n < ngram_size or penalty == 0:
        return out
    seen: set[tuple[Any, ...]] = set()
    filled_to = 0  # out[:filled_to] already decided for covered spans
    curr_end = -1
    for start in range(n - ngram_size + 1):
        gram = tuple(toks[start : start + ngram_size])
        if gram in seen:
            if not only_start or start > curr_end:
                for i in range(max(start, filled_to), start + ngram_size):
                    out[i] = float(penalty)
                filled_to = max(filled_to, start + ngram_size)
            curr_end = start + ngram_size
        else:
            seen.add(gram)
    return out


def repetition_penalty(
    tokens: Sequence[Any], *, ngram_size: int = 40, penalty: float = -0.05, only_start: bool = False
) -> float:
    """Summed form of :func:`repetition_penalties`: ``penalty`` x (repeated tokens), so it grows
    with length, down to ``penalty x len(tokens)`` (see the scale table in the module docstring)."""
    return float(sum(repetition_penalties(tokens, ngram_size=ngram_size, penalty=penalty, only_start=only_start)))


def repetition_penalty_mean(
    tokens: Sequence[Any], *, ngram_size: int = 40, penalty: float = -0.05, only_start: bool = False
) -> float:
    """Per-token mean of :func:`repetition_penalties`: ``penalty`` x (share of repeated tokens), in
    ``[penalty, 0]`` whatever the length, so it stays on the scale of sequence-level rewards."""
    dense = repetition_penalties(tokens, ngram_size=ngram_size, penalty=penalty, only_start=only_start)
    return float(sum(dense) / len(dense)) if dense else 0.0


def text_repetition_penalty(text: Any, *, ngram_size: int = 40, penalty: float = -0.05) -> float:
    """The study's text rule (no token ids): lower-cased whitespace words, ``(1 - unique n-grams /
    total n-grams) x penalty``; 0 when the text has fewer than ``ngram_size`` words."""
    _check_repetition(ngram_size, penalty)
    words = (to_text(text) or "").lower().split()
    total = len(words) - ngram_size + 1
    if total <= 0 or penalty == 0:
        return 0.0
    unique = len({tuple(words[i : i + ngram_size]) for i in range(total)})
    return float((1.0 - unique / total) * penalty)


def soft_overlong_penalty(gen_len: int, max_len: int, cache: int) -> float:
    """DAPO's soft overlong punishment (as TRL's ``get_soft_overlong_punishment``): 0 up to
    ``max_len - cache`` tokens, then falling linearly to -1 at ``max_len``, and -1 beyond it."""
    _check_lengths(gen_len, max_len)
    if not isinstance(cache, int) or not 0 < cache <= max_len:
        raise ValueError(f"cache must be an int in (0, max_len={max_len}], got {cache!r}")
    if gen_len <= max_len - cache:
        return 0.0
    if gen_len <= max_len:
        return float((max_len - cache - gen_len) / cache)
    return -1.0
