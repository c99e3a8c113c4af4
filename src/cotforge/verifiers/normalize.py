"""A fast, SymPy-free normaliser for short math answers, and the comparison it can settle alone.

Most graded answers are plain numbers (MATH, AIME, GSM8K) and most comparisons are between two
strings that are either equal numbers after cosmetic clean-up or two different numbers. Settling those
here, in the caller's process, avoids SymPy, the worker pool and its IPC for the bulk of the items
(see ``bench/verify_bench.py``). Everything else is deferred to math-verify.

The rules mirror math-verify 0.9's so that the fast path never disagrees with the slow one:

- exact rationals (integers, decimals, fractions) that are equal are equal (``025`` = 25,
  ``\\dfrac{1}{2}`` = ``0.5`` = ``1/2``);
- two different exact rationals are different, unless one was written as a decimal: an answer
  within a relative 1e-4 of a gold written as a decimal is equal (``3.14159`` = ``3.1416``, ``2`` =
  ``2.0001``, as the Qwen2.5-Math grader's ``isclose``); otherwise, within math-verify's 6-decimal
  rounding we defer;
- a percent sign only matters when values differ (math-verify: ``9\\% == 9``, ``25\\% == 0.25``): a
  value near neither X nor X/100 is different, anything else is deferred;
- trailing units in ``\\text{}`` / ``\\mbox{}`` and degree marks are dropped before comparing.

:func:`fast_compare` returns ``True``/``False`` when settled, ``None`` to defer. Every function is
linear in its input, refuses inputs longer than :data:`MAX_FAST_CHARS`, and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from cotforge.verifiers.normalize_latex import (
    _DOLLAR_RE, _INT_RE, _TEXT_UNIT_RE, _UNIT_WORD_RE, clean_latex, prepare,
)
from cotforge.verifiers.normalize_structural import structural_compare

__all__ = ["MAX_FAST_CHARS", "Normalized", "clean_latex", "fast_compare", "normalize_answer", "structural_compare"]

#: Answers longer than this are never handled by the fast path (they go to the isolated pool).
MAX_FAST_CHARS = 400

_WHOLE_TEXT_RE = re.compile(r"^\\(?:text|mbox|mathrm|textbf|textnormal)\s*\{([^{}]*)\}$")
# "12^{\mathrm{th}}", "3^{rd}", "21st": an ordinal is the number.
_ORDINAL_RE = re.compile(r"(?<=\d)(?:\^\{?\\(?:mathrm|text|textrm)\{(?:st|nd|rd|th)\}\}?|\^\{?(?:st|nd|rd|th)\}?|(?:st|nd|rd|th))$")
_PERCENT_RE = re.compile(r"\s*(?:\\?%|\\percent\b)\s*$")
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?!=)")
# "1,000" and "10{,}080" (a leading "0," is a decimal comma, "0,111" = 0.111, never thousands)
_THOUSANDS_RE = re.compile(r"^[+-]?(?!0(?:,|\{,\}))\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?:\.\d+)?$")
# "1,22", "1000,99", "0,111": two numbers or a decimal comma, unless it is "1,000" (see normalize_answer)
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+,\d+$")
# "32, 349": a comma followed by a space separates list items, it is not a thousands separator
_LIST_COMMA_RE = re.compile(r",\s+\d")
_WORD_ANSWER_RE = re.compile(r"[A-Za-z]{2,40}")
_DEC_RE = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+)$")
_SLASH_RE = re.compile(r"^([+-]?\d+)\s*/\s*([+-]?\d+)$")
_FRAC_RE = re.compile(r"^([+-]?)\\frac\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))$")

# Digits beyond this are not worth exact arithmetic (and Fraction("1"*10**6) is slow).
_MAX_DIGITS = 60


@dataclass(frozen=True)
class Normalized:
    """A normalised answer: ``text`` always; ``value`` when it is an exact rational number."""

    text: str
    value: Fraction | None = None
    is_decimal: bool = False  # written with a decimal point: math-verify compares it after rounding
    percent: bool = False


def _number(s: str) -> tuple[Fraction, bool] | None:
    """``(value, is_decimal)`` when ``s`` is a plain integer, decimal or simple fraction."""
    if len(s) > _MAX_DIGITS:
        return None
    if _THOUSANDS_RE.match(s):
        s = s.replace("{,}", "").replace("\\,", "").replace(",", "")
    if _INT_RE.match(s):
        return Fraction(int(s)), False
    if _DEC_RE.match(s):
        return Fraction(s), True
    m = _SLASH_RE.match(s)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
        return (Fraction(num, den), False) if den != 0 else None
    m = _FRAC_RE.match(s)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        num = int(m.group(2) if m.group(2) is not None else m.group(3))
        den = int(m.group(4) if m.group(4) is not None else m.group(5))
        return (sign * Fraction(num, den), False) if den != 0 else None
    return None


def normalize_answer(answer: object, *, strip_assignment: bool = True) -> Normalized | None:
    """Normalise a short answer string; ``None`` when it is not a string or is too long.

    ``strip_assignment`` turns ``x=5`` into ``5`` (right for an answer compared with a gold that
    is a bare value; wrong for a gold that is itself an equation)."""
    if not isinstance(answer, str) or len(answer) > MAX_FAST_CHARS:
        return None
    if _LIST_COMMA_RE.search(answer):
        return Normalized(text=clean_latex(answer))  # a list: the structural rules or math-verify decide
    if _DECIMAL_COMMA_RE.match(answer.strip()) and not _THOUSANDS_RE.match(answer.strip()):
        # "1,2", "12,5", "-2,1": in a formula (a gold, a boxed answer) math-verify reads a set of two
        # numbers ({1, 2}, "Enter all the roots, separated by commas"), and "0,111" as 0.111; only in
        # prose does it read a decimal comma (the unmarked-answer reader converts those itself).
        # No value here: the structural rules or math-verify decide.
        return Normalized(text=clean_latex(answer))
    try:
        s = _DOLLAR_RE.sub("", answer.strip())
        m = _WHOLE_TEXT_RE.match(s)
        if m:  # \text{Evelyn} -> Evelyn
            s = m.group(1)
        s = clean_latex(s)
        percent = False
        pm = _PERCENT_RE.search(s)
        if pm:
            percent = True
            s = s[: pm.start()]
        # "x=5" -> "5": math-verify compares the right-hand side of a single assignment.
        am = _ASSIGNMENT_RE.match(s) if strip_assignment else None
        if am and "=" not in s[am.end():]:
            s = s[am.end():]
        parsed = _number(s)
        if parsed is None:
            # A trailing unit: "10\text{cm}", "5\text{ inches}", "10 cm" (whitespace is gone by now).
            um = _TEXT_UNIT_RE.search(s)
            if um and um.start() > 0 and _UNIT_WORD_RE.match(um.group(1).strip() or "x"):
                s_unitless = s[: um.start()]
                parsed = _number(_ORDINAL_RE.sub("", s_unitless))
            elif _ORDINAL_RE.search(s):
                parsed = _number(_ORDINAL_RE.sub("", s))
        if parsed is not None:
            value, is_decimal = parsed
            return Normalized(text=s, value=value, is_decimal=is_decimal, percent=percent)
        return Normalized(text=s + ("%" if percent else ""), percent=percent)
    except Exception:  # pragma: no cover - never raise on odd input
        return None


# math-verify rounds floats to 6 decimals; a gap wider than this is a difference whatever the rounding.
_FLOAT_GAP = Fraction(2, 10**6)
# A decimal within this relative distance of the other value is that value written to another
# precision (the Qwen2.5-Math and SkyThought graders' ``isclose(rel_tol=1e-4)``).
_RELATIVE_TOLERANCE = Fraction(1, 10**4)


def fast_compare(gold: object, answer: object) -> bool | None:
    """``True``/``False`` when the normaliser settles (gold, answer) alone; ``None`` to defer."""
    g = normalize_answer(gold, strip_assignment=False)
    if g is None:
        return None
    a = normalize_answer(answer, strip_assignment="=" not in g.text)
    if a is None or not g.text or not a.text:
        return None
    if g.value is not None and a.value is not None:
        if g.value == a.value:
            return True  # 9% == 9 as well, as in math-verify
        if g.percent != a.percent:
            # 50% against 0.5 or 50: math-verify reads X% as X/100 or, between integers, as X;
            # a value far from both is different, anything near either is left to its rules.
            p, q = (g.value, a.value) if g.percent else (a.value, g.value)
            near = any(abs(q - c) <= max(_FLOAT_GAP, _RELATIVE_TOLERANCE * abs(c)) for c in (p, p / 100))
            return None if near else False
        if g.is_decimal or a.is_decimal:
            if g.is_decimal and g.value != 0 and abs(g.value - a.value) <= _RELATIVE_TOLERANCE * abs(g.value):
                # 3.14159 for 3.1416, 2 for 2.0001: the gold is itself a rounded decimal. (An exact
                # gold is not: 9999.857 is not 10{,}000, nor 0.3333 1/3.)
                return True
            return False if abs(g.value - a.value) > _FLOAT_GAP else None
        return False
    same = structural_compare(prepare(gold), prepare(answer))
    if same is None and g.text == a.text:
        # Identical text is not enough: a gold the fast grammar cannot read may not parse whole
        # (``3 +``, ``\\frac{1}{2}}``), and such a gold must be ``unparsable_gold`` in math-verify,
        # never paid to a response that copies it. A word (``\\text{Evelyn}`` and ``Evelyn``) is
        # read by math-verify as one symbol on both sides.
        return True if _WORD_ANSWER_RE.fullmatch(g.text) else None
    return same


