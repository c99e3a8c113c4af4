"""The recipes' own reward tables: warm-up before RLVR (Shrestha et al. 2025; MATH, MMLU-Pro,
HumanEval+, K&K) and Logic-RL (K&K), exactly as RECIPES.md gives them."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.response import last_boxed, to_text
from cotforge.verifiers.rewards.shaping import answer_content, format_check, ungradable

WARMUP_DOMAINS = ("math", "mmlu_pro", "humaneval", "kk")

_SHARED: dict[tuple[str, str], Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_verifier(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """One verifier per (name, options) for the preset functions, so per-instance caches (the
    code verifier's reference timings) survive across calls. Built under a lock."""
    key = (name, json.dumps(dict(options or {}), sort_keys=True, default=repr))
    with _SHARED_LOCK:
        v = _SHARED.get(key)
        if v is None:
            from cotforge.verifiers import get_verifier

            v = _SHARED[key] = get_verifier(name, **dict(options or {}))
        return v


_BOXED_LETTER = re.compile(r"^\s*(?:\\text(?:bf)?\{\s*)?\(?([A-Pa-p])\)?\s*\}?\s*$")


def _warmup_math(gold: Any, content: str) -> float | None:
    boxed = last_boxed(content)
    if boxed is None:
        return -1.0
    verdict = shared_verifier("math", {"fallback": False}).verify(gold, "\\boxed{" + boxed + "}")
    if ungradable(verdict):
        return None
    return 2.0 if verdict.status is Status.CORRECT else -0.5


def _warmup_mmlu(gold: Any, content: str) -> float | None:
    g = str(gold).strip().upper()
    boxed = last_boxed(content)
    m = _BOXED_LETTER.match(boxed) if boxed is not None else None
    return 2.0 if (m and m.group(1).upper() == g) else -0.5


_MATH_GOLD_OK: dict[str, bool] = {}
_MATH_GOLD_LOCK = threading.Lock()


def math_gold_ok(gold: Any) -> bool:
    """Whether the math verifier can grade against ``gold`` at all. It decides that only while
    grading a response, so a response-independent probe (``\\boxed{0}``) asks it once per gold;
    a verifier error is not remembered (it may be transient)."""
    from cotforge.verifiers.math import gold_text

    key = gold_text(gold)
    if key is None:
        return False
    with _MATH_GOLD_LOCK:
        known = _MATH_GOLD_OK.get(key)
    if known is not None:
        return known
    status = shared_verifier("math", {"fallback": False}).verify(key, "\\boxed{0}").status
    if status is Status.ERROR:
        return True  # the real grading will report it (and pay nothing)
    ok = status is not Status.UNPARSABLE_GOLD
    with _MATH_GOLD_LOCK:
        if len(_MATH_GOLD_OK) > 65536:
            _MATH_GOLD_OK.clear()
        _MATH_GOLD_OK[key] = ok
    return ok


def warmup_gold_ok(domain: str, gold: Any) -> bool:
    """Whether ``gold`` can be graded in ``domain``; checked before any reward (format included)
    is paid, so a broken item gives ``None`` whatever the completion, as ``kk`` does."""
    if domain == "mmlu_pro":
        return gold is not None and re.fullmatch(r"[A-P]", str(gold).strip().upper()) is not None
    if domain == "humaneval":
        from cotforge.verifiers.code import gold_problem

        return gold_problem(gold) is None
    if domain == "kk":
        from cotforge.verifiers.kk import parse_gold

        try:
            parse_gold(gold)
        except ValueError:
            return False
        return True
    return math_gold_ok(gold)


def _warmup_humaneval(gold: Any, content: str, code_options: Mapping[str, Any] | None) -> float | None:
    verdict = shared_verifier("code", code_options).verify(gold, content)
    if ungradable(verdict):
        return None
    return 2.0 if verdict.status is Status.CORRECT else -1.0


def warmup_reward(
    domain: str, gold: Any, completion: Any, *, code_options: Mapping[str, Any] | None = None
) -> float | None:
    """The warm-up-before-RLVR reward (Shrestha et al. 2025) for one completion.

    Format failure (see :func:`format_check`, rule ``warmup``) -> -2 in every domain. Then, on the
    text inside ``<answer>``: ``math``: no ``\\boxed{}`` -1, correct +2, wrong -0.5 (an answer that
    breaks the checker is wrong); ``mmlu_pro``: the letter in ``\\boxed{X}`` equals the gold letter
    +2, else -0.5; ``humaneval``: all tests pass +2, else -1; ``kk``: unknown name or role -1,
    exact +2, else -0.5. ``None`` when the gold cannot be graded, whatever the completion (a format
    penalty included: a broken item teaches nothing). (Their MMLU-Pro code also fell back to a bare
    letter anywhere in the answer; that rewards listing letters, so only the boxed letter counts
    here, as the paper states.)
    """
    if domain not in WARMUP_DOMAINS:
        raise ValueError(f"unknown warm-up domain {domain!r}; choose one of {', '.join(WARMUP_DOMAINS)}")
    if domain == "kk":
        return correctness_or_score(shared_verifier("kk", {"scoring": "warmup"}).verify(gold, completion))
    if not warmup_gold_ok(domain, gold):
        return None
    text = to_text(completion) or ""
    ok, _ = format_check(text, rule="warmup")
    if not ok:
        return -2.0
    content = answer_content(text) or ""
    if domain == "math":
        return _warmup_math(gold, content)
    if domain == "mmlu_pro":
        return _warmup_mmlu(gold, content)
    return _warmup_humaneval(gold, content, code_options)


def correctness_or_score(verdict: Verdict, *, wrong: float | None = None) -> float | None:
    """A preset verifier's own score; ``None`` when the item cannot be graded. An ``error`` the
    completion caused scores ``wrong`` (default: the verdict's own score)."""
    if ungradable(verdict):
        return None
    if verdict.status is Status.ERROR and wrong is not None:
        return float(wrong)
    return float(verdict.score)


def logic_rl_reward(gold: Any, completion: Any, *, prompt_opens_think: bool = False) -> float | None:
    """Logic-RL's K&K reward: format +1/-1 plus answer +2 / -1.5 / -2 (-2 when the format fails).

    The answer follows Logic-RL's own parser as well as cotforge's: every person must be stated as
    ``<name> is a <role>`` and the answer must hold exactly as many role words as there are people,
    or it is unparseable (-2); see :class:`cotforge.verifiers.kk.KKVerifier`.
    """
    verdict = shared_verifier("kk", {"scoring": "logic_rl"}).verify(
        gold, completion, prompt_opens_think=prompt_opens_think
    )
    return correctness_or_score(verdict, wrong=-1.0)
