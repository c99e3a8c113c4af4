"""Math answers: Math-Verify underneath, with a fast path, a verdict cache and process isolation.

Grading one (gold, response) goes through three stages, cheapest first:

1. In the caller's process, without SymPy (:meth:`MathVerifier.presettle`): parse the response
   (``<think>``, truncation), extract the final answer (the last ``\\boxed{}`` or several final
   boxes as one set, ``<answer>``, "the answer is" in English and other common languages,
   ``Answer:``, bold, or a short formula-only response), clean gold and answer up
   (:func:`~cotforge.verifiers.math_text.prenormalize`: upright constants, sentence punctuation,
   mixed numbers, plain-word units), refuse broken golds, absurd answers (a 1 MB string,
   ``100000000!``, towers of powers: ``incorrect``) and, when the question is given, answers that
   restate it (``incorrect``, reason ``restates_question``), and compare with the gold by the fast
   normaliser (:mod:`cotforge.verifiers.normalize`). A response with no marked answer whose
   first math-verify extraction is plain (:mod:`cotforge.verifiers.math_unmarked`) is compared
   the same way, here when math-verify is loaded, else first thing in the worker. A cache of
   (gold, answer) verdicts answers repeats.
2. Whatever is left becomes a :class:`~cotforge.verifiers.pool.Deferred` job that a pool worker
   runs (:meth:`MathVerifier.grade`): math-verify's ``parse`` and ``verify``, gold first, with
   math-verify's own signal-based timeouts disabled (``parsing_timeout=None``,
   ``timeout_seconds=None``) because the pool kills a worker that overruns its deadline. Only a
   whole parse counts (``extraction_mode="first_match"``: when the final LaTeX does not parse,
   math-verify would otherwise take a shorter match, such as the ``1`` of
   ``1-\\frac{1}{\\mathrm{e}}``); a gold that parses to no value is ``unparsable_gold``, an answer
   that parses to none is ``incorrect``, and an answer whose checking raises (OverflowError,
   RecursionError, MemoryError, ...) is ``incorrect`` with the exception as the reason. SymPy's
   cache is cleared before each item so that a verdict never depends on the items graded before.
3. The worker's verdict is cached in the caller (:meth:`MathVerifier.remember`).

The gold may be a bare answer (``\\dfrac{1}{2}``, ``025``), a number, or a full solution with a
``\\boxed{}``; it is wrapped in ``$...$`` before math-verify sees it, since math-verify only finds
LaTeX inside delimiters (a bare ``\\dfrac{1}{2}`` would parse to nothing).
"""

from __future__ import annotations

import functools
import logging
import re
from fractions import Fraction
from typing import Any

from cotforge.verifiers.base import Status, Verdict, setup_error
from cotforge.verifiers.cache import LRU
from cotforge.verifiers.math_text import (
    MAX_DIGITS, drop_punctuation_in_math, gold_problem, number_from_words, prenormalize, repeating_decimal_as_fraction, restates_question, space_out_scripts, too_big_to_evaluate,
)
from cotforge.verifiers.math_sympy_rules import equation_sides_differ, inequality_as_set, numeric_differs, working_line
from cotforge.verifiers.math_unmarked import unmarked_candidate
from cotforge.verifiers.normalize import MAX_FAST_CHARS, fast_compare
from cotforge.verifiers.pool import DEFAULT_TIMEOUT, Deferred, verify_isolated
from cotforge.verifiers.response import extract_with_source, final_boxes, last_boxed, parse_response, to_text

__all__ = ["MAX_DIGITS", "MathVerifier", "gold_problem", "gold_text", "too_big_to_evaluate"]

#: (verifier identity, gold, answer, source) -> Verdict, shared by all MathVerifier instances here.
_VERDICTS: LRU[Verdict] = LRU(maxsize=200_000)

# When nothing can be extracted, math-verify's own extraction looks at this much of the end of
# the answer text (it takes the last LaTeX or number anyway; the head only costs time).
_FALLBACK_TAIL_CHARS = 2000

_WORDS_RE = re.compile(r"(?<!\\)\b[A-Za-z]{3,}\b")
_OTHER_SCRIPT_RE = re.compile(r"[\u00c0-\u024f\u0400-\u04ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# A plain number in prose: 220, -3.5, 1,000, 13/28, 25% (a fraction or percent stays whole).
_PROSE_NUMBER_RE = re.compile(r"(?<![\w.])[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*%)?(?![\w])")


class _DropDisabledTimeoutWarning(logging.Filter):
    """math-verify warns once that its timeouts are off; here that is deliberate (the pool kills)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropDisabledTimeoutWarning())


def gold_text(gold: object) -> str | None:
    """The gold answer as a short string: numbers stringified, the final ``\\boxed{}`` of a full
    solution taken (several final boxes as one list), ``$`` delimiters removed. ``None`` when there is nothing usable."""
    if isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return str(gold)
    if isinstance(gold, Fraction):
        return f"{gold.numerator}/{gold.denominator}" if gold.denominator != 1 else str(gold.numerator)
    if isinstance(gold, float):
        return repr(gold) if gold == gold and gold not in (float("inf"), float("-inf")) else None
    text = to_text(gold)
    if text is None:
        return None
    text = text.strip()
    if "\\boxed" in text or "\\fbox" in text:
        boxes = final_boxes(text)  # $\boxed{1}\boxed{2}$ is the set {1, 2}, as in a response
        text = ", ".join(boxes) if boxes else (last_boxed(text) or "")
    while len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text[1:-1].strip()
    return text or None


def _values(parsed: list) -> list:
    """The parsed values of a math-verify ``parse`` result (it appends the matched string)."""
    return [x for x in parsed if not isinstance(x, str)]


def _strict_parse(text: str) -> list:
    r"""math-verify's ``parse`` that only accepts a whole parse of the match it chose: with its
    default ``any_match`` it falls back to any shorter match when the last one does not parse,
    so ``$1-\frac{1}{\mathrm{e}}$`` became 1 and ``$2^{10}.$`` became 2."""
    from math_verify import parse

    return _values(parse(text, extraction_mode="first_match", parsing_timeout=None))


@functools.lru_cache(maxsize=8192)
def _parse_gold(text: str) -> list:
    parsed = _strict_parse(f"${text}$") or _strict_parse(f"\\boxed{{{text}}}")
    from sympy import Basic, nan, oo, zoo

    for value in parsed:
        # 1/0 parses to zoo, 0/0 to nan: no answer equals them
        if isinstance(value, Basic) and (value.has(zoo) or value.has(nan)) and not value.has(oo):
            return []
    return parsed


def _parse_answer(answer: str, source: str) -> list:
    if source == "text":  # no marked answer: let math-verify find the last expression itself
        from math_verify import parse

        return _values(parse(answer, parsing_timeout=None))
    if source == "boxed":
        return _strict_parse(f"$\\boxed{{{answer}}}$")
    has_words = _has_words(answer)
    if has_words:
        answer = space_out_scripts(drop_punctuation_in_math(answer))
        first = _first_number_of_prose(answer)
        if first is not None:
            parsed = _strict_parse(f"${first}$")
            if parsed:
                return parsed
    first, second = (answer, f"${answer}$") if has_words else (f"${answer}$", answer)
    return _strict_parse(first) or _strict_parse(second)


def _has_words(answer: str) -> bool:
    # A phrase such as "5 apples" or "x = 3 and y = 4": LaTeX delimiters would turn words into
    # products of symbols, so prose goes to math-verify's own extraction, formulas in $...$.
    return _WORDS_RE.search(re.sub(r"\\[A-Za-z]+(?:\{[^{}]*\})?", " ", answer)) is not None or bool(_OTHER_SCRIPT_RE.search(answer))


def prose_value(answer: str) -> str | None:
    """The number a worded answer stands for (``5. Total Count`` is 5, ``Réponse: Janeth aura
    encore 220 $ à payer d'ici 12 mois`` is 220: the value follows the answer phrase, where
    math-verify's own rule would take the last number of the sentence), else ``None``. The
    worker parses this number as the answer; the caller compares it on the fast path first."""
    if not _has_words(answer):
        return None
    return _first_number_of_prose(space_out_scripts(drop_punctuation_in_math(answer)))


def _first_number_of_prose(answer: str) -> str | None:
    """The first number of an answer phrase that is prose with plain numbers only (no math
    delimiters, commands or equations), or the number a whole phrase writes in words; else ``None``."""
    if answer.count("$") > 1 or any(c in answer for c in "\\=^_{}"):  # one "$" is a currency sign
        return None
    m = _PROSE_NUMBER_RE.search(answer)
    if m:
        return m.group(0).replace(" ", "")
    return number_from_words(answer)  # "three", "negative twenty-five": the whole phrase is the number


class MathVerifier:
    """Grades a math answer against a gold answer; see the module docstring for the stages.

    Options: ``timeout`` (seconds per item in a worker), ``fallback`` (when no final answer is
    marked and the response is not a short formula, let math-verify pick the last expression of
    the answer text, as math-verify and the Qwen2.5-Math harness do; ``False`` makes such
    responses ``no_answer``), ``guard_restatement`` (with a ``question=`` passed to
    :meth:`verify`, an answer that only repeats an expression of the question is ``incorrect``
    with reason ``restates_question``), ``float_rounding``, ``numeric_precision`` and ``strict``
    (passed to math-verify's ``verify``), and ``max_answer_chars`` (longer extracted answers are
    graded incorrect without parsing).
    """

    name = "math"
    version = "2.0"
    #: ``verify`` takes ``question=`` (the rewards adapter passes its question column).
    accepts_question = True

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: bool = True,
        guard_restatement: bool = True,
        float_rounding: int = 6,
        numeric_precision: int = 15,
        strict: bool = True,
        max_answer_chars: int = 1000,
    ):
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not isinstance(max_answer_chars, int) or max_answer_chars < 1:
            raise ValueError(f"max_answer_chars must be a positive integer, got {max_answer_chars!r}")
        self.timeout = float(timeout)
        self.fallback = bool(fallback)
        self.guard_restatement = bool(guard_restatement)
        self.float_rounding = int(float_rounding)
        self.numeric_precision = int(numeric_precision)
        self.strict = bool(strict)
        self.max_answer_chars = max_answer_chars
        self._identity = (self.name, self.version, self.fallback, self.float_rounding, self.numeric_precision, self.strict)

    def __repr__(self) -> str:
        return f"MathVerifier(timeout={self.timeout:g}, fallback={self.fallback}, strict={self.strict})"

    # -- public ---------------------------------------------------------------------------------

    def verify(
        self, gold: Any, response: Any, *, truncated: bool = False, timeout: float | None = None, question: str | None = None
    ) -> Verdict:
        """Grade one response. Settled in-process when the fast path can, else in the worker pool
        (with a hard deadline), so this is safe from any thread. Never raises on bad input.
        ``question``: the problem text, for the restatement guard (see the class docstring)."""
        kw: dict[str, Any] = {"truncated": truncated}
        if question is not None:
            kw["question"] = question
        return verify_isolated(self, gold, response, timeout=timeout or self.timeout, **kw)

    # -- stage 1: in the caller -----------------------------------------------------------------

    def presettle(self, gold: Any, response: Any, *, truncated: bool = False, question: Any = None) -> Verdict | Deferred:
        try:
            return self._presettle(gold, response, truncated, question)
        except (Exception, RecursionError) as exc:  # noqa: BLE001 - an answer that breaks a text rule is wrong
            return Verdict(Status.INCORRECT, 0.0, None, f"the answer breaks the checker: {type(exc).__name__}: {str(exc)[:120]}",
                           {"path": "guard", "raised": type(exc).__name__})

    def _presettle(self, gold: Any, response: Any, truncated: bool, question: Any) -> Verdict | Deferred:
        gold_str = gold_text(gold)
        if gold_str is None:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"no usable gold answer in {_describe(gold)}")
        problem = gold_problem(gold_str)
        if problem is not None:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, problem)
        gold_str = prenormalize(gold_str) or gold_str
        parsed = parse_response(response, truncated=truncated)
        if parsed.status is not None:
            return Verdict(parsed.status, 0.0, None, parsed.reason)
        answer, source = extract_with_source(parsed.answer_text)
        if answer is None:
            text = parsed.answer_text or ""
            if "\\boxed" in text or "\\fbox" in text:
                # The model boxed its answer but the box is empty or unclosed: no final answer.
                return Verdict(Status.NO_ANSWER, 0.0, None, "the last \\boxed{} is empty or unclosed")
            if not self.fallback:
                return Verdict(Status.NO_ANSWER, 0.0, None, "no boxed, tagged or stated final answer")
            answer, source = space_out_scripts(drop_punctuation_in_math(text[-_FALLBACK_TAIL_CHARS:])), "text"
        elif len(answer) > self.max_answer_chars and len(answer) > 4 * len(gold_str):
            return Verdict(
                Status.INCORRECT, 0.0, answer[:200] + "...",
                f"extracted answer is {len(answer)} characters long (limit {self.max_answer_chars})",
                {"path": "guard", "source": source},
            )
        if source != "text":
            answer = prenormalize(answer) or answer
            huge = too_big_to_evaluate(answer)
            if huge and not too_big_to_evaluate(gold_str):
                # An answer the checker cannot build is a wrong answer, never a skipped item.
                return Verdict(
                    Status.INCORRECT, 0.0, answer[:200], f"not evaluated: {huge}", {"path": "guard", "limit": "size", "source": source}
                )
            if question is not None and self.guard_restatement:
                restated = restates_question(answer, gold_str, to_text(question) or "")
                if restated is not None:
                    return Verdict(
                        Status.INCORRECT, 0.0, answer,
                        f"restates_question: the answer repeats the question's {restated[:60]!r} with no reduction",
                        {"path": "guard", "guard": "restates_question", "source": source},
                    )
        if any(bar in text for bar in ("overline", "bar", "dot") for text in (answer, gold_str)):  # after the guard: see repeating_decimal_as_fraction
            answer, gold_str = repeating_decimal_as_fraction(answer), repeating_decimal_as_fraction(gold_str)
        key = (self._identity, gold_str, answer, source)
        cached = _VERDICTS.get(key)
        if cached is not None:
            return cached
        if source != "text" and len(answer) <= MAX_FAST_CHARS:
            same = fast_compare(gold_str, answer)
            if same is None:
                number = prose_value(answer)  # what the worker would parse the phrase to
                same = fast_compare(gold_str, number) if number is not None else None
            if same is not None:
                verdict = Verdict(
                    Status.CORRECT if same else Status.INCORRECT,
                    1.0 if same else 0.0,
                    answer,
                    "equal after normalisation" if same else "different numbers",
                    {"path": "fast", "source": source},
                )
                _VERDICTS.put(key, verdict)
                return verdict
        if source == "text":
            verdict = _settle_unmarked(gold_str, answer, load=False)
            if verdict is not None:
                _VERDICTS.put(key, verdict)
                return verdict
        extracted = answer if source != "text" else None
        return Deferred("grade", (gold_str, answer, source), {}, extracted)

    def remember(self, job: Deferred, verdict: Verdict) -> None:
        """Cache a worker's verdict in this process (timeouts and errors are not cached)."""
        if job.method == "grade" and (verdict.status.graded or verdict.status is Status.UNPARSABLE_GOLD):
            gold_str, answer, source = job.args
            _VERDICTS.put((self._identity, gold_str, answer, source), verdict)

    # -- stage 2: in a worker -------------------------------------------------------------------

    def grade(self, gold_str: str, answer: str, source: str) -> Verdict:
        """math-verify's parse and verify, gold first, no signal timeouts. May be slow: run it in
        a pool worker (``verify``/``verify_batch`` do)."""
        key = (self._identity, gold_str, answer, source)
        cached = _VERDICTS.get(key)
        if cached is not None:
            return cached
        try:
            from math_verify import verify
            from sympy.core.cache import clear_cache as clear_sympy_cache
        except ImportError as exc:  # pragma: no cover - a broken install, not the answer's fault
            return setup_error(f"math-verify cannot be imported: {exc}")
        if source == "text":
            verdict = _settle_unmarked(gold_str, answer, load=True)
            if verdict is not None:
                _VERDICTS.put(key, verdict)
                return verdict
        # SymPy caches expressions with their assumptions across calls, and some verdicts used to
        # flip with what had been graded before; a cold cache makes every verdict order-free.
        clear_sympy_cache()
        try:
            gold_parsed = _parse_gold(gold_str)
        except Exception as exc:  # noqa: BLE001 - a gold the checker chokes on is ungradable
            gold_parsed, why = [], f"{type(exc).__name__}"
        else:
            why = "no value"
        if not gold_parsed:
            verdict = Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"math-verify cannot parse the gold answer {gold_str[:80]!r} ({why})")
            _VERDICTS.put(key, verdict)
            return verdict
        details: dict[str, Any] = {"path": "math_verify", "source": source}
        try:
            verdict = self._judge(gold_parsed, gold_str, answer, source, details, verify)
        except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001
            # The answer broke the checker (a power tower's OverflowError, a RecursionError, a
            # MemoryError under the worker's cap, a SymPy bug): a wrong answer, never a skip.
            verdict = Verdict(
                Status.INCORRECT, 0.0, answer if source != "text" else None,
                f"the answer breaks the checker: {type(exc).__name__}: {str(exc)[:120]}", {**details, "raised": type(exc).__name__},
            )
        _VERDICTS.put(key, verdict)
        return verdict

    def _judge(self, gold_parsed: list, gold_str: str, answer: str, source: str, details: dict, verify) -> Verdict:
        pred = _parse_answer(answer, source)
        if not pred:
            if source == "text":
                return Verdict(Status.NO_ANSWER, 0.0, None, "no final answer found in the response", details)
            return Verdict(Status.INCORRECT, 0.0, answer, "the extracted answer does not parse whole", {**details, "parse_failed": True})
        extracted = answer if source != "text" else str(pred[0])[:200]
        as_set = inequality_as_set(gold_parsed, pred)
        if as_set is not None:  # "x > 3" for "(3, \infty)": the set the inequality describes
            pred, details = [as_set, answer], {**details, "inequality_as_set": str(as_set)[:200]}
        else:
            gold_set = inequality_as_set(pred, gold_parsed)  # and "(3, \infty)" for a gold "x > 3"
            if gold_set is not None:
                gold_parsed, details = [gold_set, gold_str], {**details, "inequality_as_set": str(gold_set)[:200]}
        if "%" not in gold_str and "%" not in answer and numeric_differs(gold_parsed, pred):
            return Verdict(Status.INCORRECT, 0.0, extracted, "numerically different", {**details, "path": "numeric"})
        if source == "text" and working_line(gold_parsed, pred):
            return Verdict(Status.INCORRECT, 0.0, extracted, "the last expression is a line of working (a sum = a value), not an answer", details)
        if equation_sides_differ(gold_parsed, pred):
            return Verdict(Status.INCORRECT, 0.0, extracted, "equations with different left-hand sides", details)
        ok = verify(
            gold_parsed,
            pred,
            float_rounding=self.float_rounding,
            numeric_precision=self.numeric_precision,
            strict=self.strict,
            timeout_seconds=None,
        )
        return Verdict(
            Status.CORRECT if ok else Status.INCORRECT,
            1.0 if ok else 0.0,
            extracted,
            "equivalent (math-verify)" if ok else "not equivalent (math-verify)",
            details,
        )


def _settle_unmarked(gold_str: str, text: str, *, load: bool) -> Verdict | None:
    """The verdict on an unmarked response whose first extracted answer is plain (see
    :mod:`cotforge.verifiers.math_unmarked`), by the fast normaliser; ``None`` to parse it."""
    candidate = unmarked_candidate(text, load=load)
    same = fast_compare(gold_str, candidate) if candidate is not None else None
    if same is None:
        return None
    return Verdict(
        Status.CORRECT if same else Status.INCORRECT,
        1.0 if same else 0.0,
        candidate,
        "the last plain answer of the response equals the gold" if same else "the last plain answer of the response is a different number",
        {"path": "fast", "source": "text"},
    )


def _describe(obj: object) -> str:
    if obj is None:
        return "None"
    r = repr(obj)
    return f"{type(obj).__name__} {r[:60]}{'...' if len(r) > 60 else ''}"


def clear_cache() -> None:
    """Forget every cached math verdict in this process (benchmarks and tests)."""
    _VERDICTS.clear()
    _parse_gold.cache_clear()
