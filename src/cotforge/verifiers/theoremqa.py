"""TheoremQA answers: typed (bool, integer, float, list of integer, list of float, option).

The comparison rules are the benchmark's own (wenhuchen/TheoremQA ``predict_accuracy.py``):

- ``float``: within 4% of the gold, relative (``|p - g| <= 0.04 * |g|``);
- ``integer``: ``round(p) == g``;
- lists: same length, both sorted, compared element by element with the two rules above;
- ``bool`` and ``option`` (``(a)``-``(d)``): equality.

Departures, each because the official grader gets a real answer wrong: the prediction is
extracted with the shared rules (``\\boxed{}``, "the answer is", ...) rather than only from the
last line; LaTeX values (``\\frac{\\sqrt{3}}{2}``, ``2\\pi``, ``e^{-1}``) are evaluated with
math-verify/SymPy in a pool worker instead of Python's ``eval``; and a percentage matches the gold
whether the gold stores it as a percent or as a fraction (``5%`` matches 5 and 0.05).

The gold is the dataset's typed ``Answer``; ``answer_type`` (the dataset's ``Answer_type``) is
optional and inferred from the Python type when absent.
"""

from __future__ import annotations

import math
import re
from typing import Any

from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.pool import DEFAULT_TIMEOUT, Deferred, verify_isolated
from cotforge.verifiers.response import extract_final_answer, parse_response

__all__ = ["ANSWER_TYPES", "TheoremQAVerifier", "infer_answer_type", "parse_number"]

ANSWER_TYPES = ("bool", "integer", "float", "list of integer", "list of float", "option")
_REL_TOL = 0.04
_MAX_PRED_CHARS = 500

_TRUE = {"true", "yes", "correct", "right"}
_FALSE = {"false", "no", "incorrect", "wrong"}
_OPTION_RE = re.compile(r"(?:^|[\s(\[{])\(?([a-dA-D])\)(?![A-Za-z])|^\s*\(?([a-dA-D])\)?\s*[.:]?\s*$")

_NUM = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"^\s*({_NUM})\s*$")
_SCI_RE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×|x|\*)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?\s*$")
_POW10_RE = re.compile(r"^\s*([+-])?\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?\s*$")
_FRAC_RE = re.compile(r"^\s*([+-])?\s*\\[dt]?frac\s*\{\s*([+-]?\d+(?:\.\d+)?)\s*\}\s*\{\s*([+-]?\d+(?:\.\d+)?)\s*\}\s*$")
_SLASH_RE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")
# A number followed by a unit word: "3.5 m/s", "6.2 \\times 10^{3} N". Not "2 pi" or "3 sqrt(2)".
_NUMBER_THEN_UNIT_RE = re.compile(
    rf"^\s*({_NUM})\s*(?:(?:\\times|×|\\cdot)\s*10\s*\^\s*\{{?\s*([+-]?\d+)\s*\}}?)?\s+([A-Za-zΩμ°].*)$"
)
_NOT_A_UNIT_RE = re.compile(r"^(?:(?i:pi|π|sqrt|ln|log|exp|sin|cos|tan|times|or|and|to|plus|minus)|[eijxyn])\b")
_UNIT_TAIL_RE = re.compile(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}|\\,|\\;|\\!|\\ |~|\\%|%|°|\^\s*\{?\\circ\}?")


def infer_answer_type(gold: Any) -> str | None:
    if isinstance(gold, bool):
        return "bool"
    if isinstance(gold, int):
        return "integer"
    if isinstance(gold, float):
        return "float"
    if isinstance(gold, (list, tuple)) and gold and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in gold):
        return "list of integer" if all(isinstance(x, int) for x in gold) else "list of float"
    if isinstance(gold, str):
        s = gold.strip().lower()
        if s in _TRUE or s in _FALSE:
            return "bool"
        if re.fullmatch(r"\(?[a-d]\)?", s):
            return "option"
        if parse_number(s) is not None:
            return "float"
    return None


def _clean(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\(?:left|right|displaystyle)\b", "", s)
    s = s.replace("\\!", "").replace("{,}", ",")
    # "1\,000", "1\ 000 000": a space between digit groups of three is a thousands separator
    s = re.sub(r"(?<=\d)(?:\\,|\\ |\\;|~)(?=\d{3}(?!\d))", "", s)
    # "x = 3.2", "\approx 3.2": the value after the last (approximate) equals sign.
    for sep in ("\\approx", "≈", "="):
        if sep in s:
            s = s.rsplit(sep, 1)[1]
    return s.strip().rstrip(".").strip()


def parse_number(s: str) -> tuple[float, bool] | None:
    """``(value, is_percent)`` for a plain number written in any of the usual ways, without SymPy:
    ``1,000``, ``-3.5e-4``, ``3.0 \\times 10^{8}``, ``10^{-3}``, ``\\frac{1}{2}``, ``1/2``,
    ``45^\\circ``, ``12.5%``, ``3.5 m/s``, ``20 \\text{ kg}``. ``None`` for anything else."""
    if not isinstance(s, str) or len(s) > _MAX_PRED_CHARS:
        return None
    s = _clean(s)
    percent = bool(re.search(r"\\?%|\\percent|percent", s))
    bare = _UNIT_TAIL_RE.sub(" ", s).replace("percent", " ").strip()
    for text in (bare, s):
        m = _NUMBER_RE.match(text)
        if m and re.search(r"\d", m.group(1)):
            return float(m.group(1).replace(",", "")), percent
        m = _SCI_RE.match(text)
        if m:
            return float(m.group(1)) * 10.0 ** int(m.group(2)), percent
        m = _POW10_RE.match(text)
        if m:
            return (-1.0 if m.group(1) == "-" else 1.0) * 10.0 ** int(m.group(2)), percent
        m = _FRAC_RE.match(text)
        if m and float(m.group(3)) != 0:
            return (-1.0 if m.group(1) == "-" else 1.0) * float(m.group(2)) / float(m.group(3)), percent
        m = _SLASH_RE.match(text)
        if m and float(m.group(2)) != 0:
            return float(m.group(1)) / float(m.group(2)), percent
    m = _NUMBER_THEN_UNIT_RE.match(bare)
    if m and re.search(r"\d", m.group(1)) and not _NOT_A_UNIT_RE.match(m.group(3)):
        value = float(m.group(1).replace(",", ""))
        return (value * 10.0 ** int(m.group(2)) if m.group(2) else value), percent
    return None


def _split_list(s: str) -> list[str] | None:
    """Top-level comma-separated items of ``[a, b]``, ``(a, b)``, ``\\{a, b\\}`` or ``a, b``."""
    s = _clean_list(s)
    if not s:
        return None
    items, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ",;" and depth == 0:
            items.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur).strip())
    return items if all(items) else None


def _clean_list(s: str) -> str:
    s = s.strip().strip("$").strip().rstrip(".")
    s = re.sub(r"\\(?:left|right)\b", "", s).replace("\\{", "{").replace("\\}", "}")
    if "=" in s and not re.search(r"[\[(]", s.split("=", 1)[0]):
        s = s.rsplit("=", 1)[1].strip()
    while len(s) >= 2 and s[0] + s[-1] in ("[]", "()", "{}"):
        s = s[1:-1].strip()
    return s


def _within(pred: float, gold: float) -> bool:
    return abs(pred - gold) <= abs(gold) * _REL_TOL


def _number_matches(pred: float, percent: bool, gold: float, integer: bool) -> bool:
    if not math.isfinite(pred):
        return False
    candidates = [pred, pred / 100.0] if percent else [pred]
    for p in candidates:
        if integer:
            try:
                if round(p) == gold:
                    return True
            except (OverflowError, ValueError):
                continue
        elif _within(p, float(gold)):
            return True
    return False


def _parse_bool(s: str) -> bool | None:
    words = set(re.findall(r"[a-z]+", s.lower()))
    t, f = bool(words & _TRUE), bool(words & _FALSE)
    if t == f:
        return None
    return t


def _parse_option(s: str) -> str | None:
    found = {(m.group(1) or m.group(2)).lower() for m in _OPTION_RE.finditer(s.strip())}
    if len(found) == 1:
        return f"({found.pop()})"
    return None


def _gold_value(gold: Any, answer_type: str) -> Any:
    """The gold in its typed form, or ``None`` when it does not fit ``answer_type``."""
    if answer_type == "bool":
        if isinstance(gold, bool):
            return gold
        return _parse_bool(str(gold)) if isinstance(gold, str) else None
    if answer_type == "option":
        return _parse_option(gold) if isinstance(gold, str) else None
    if answer_type in ("integer", "float"):
        if isinstance(gold, bool):
            return None
        if isinstance(gold, (int, float)):
            return gold if math.isfinite(gold) else None
        parsed = parse_number(gold) if isinstance(gold, str) else None
        return parsed[0] if parsed else None
    if answer_type.startswith("list of"):
        if isinstance(gold, str):
            items = _split_list(gold)
            values = [parse_number(x) for x in items] if items else None
            return [v[0] for v in values] if values and all(values) else None
        if isinstance(gold, (list, tuple)) and gold and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in gold):
            return list(gold)
    return None


class TheoremQAVerifier:
    """Grades a TheoremQA response: ``verify(gold, response, answer_type=None)``.

    Plain numbers, booleans, options and lists are settled in the caller; answers that need
    evaluating (``\\frac{\\sqrt{3}}{2}``, ``2\\pi``) go to the worker pool. ``fallback`` allows
    the official last-line rule (the words after the last "is"/"be"/"are"/":" of the last line)
    when no answer is marked.
    """

    name = "theoremqa"
    version = "1.0"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, fallback: bool = True):
        self.timeout = float(timeout)
        self.fallback = bool(fallback)

    def __repr__(self) -> str:
        return f"TheoremQAVerifier(timeout={self.timeout:g}, fallback={self.fallback})"

    def verify(self, gold: Any, response: Any, *, answer_type: str | None = None, truncated: bool = False) -> Verdict:
        return verify_isolated(self, gold, response, answer_type=answer_type, truncated=truncated, timeout=self.timeout)

    def presettle(self, gold: Any, response: Any, *, answer_type: str | None = None, truncated: bool = False) -> Verdict | Deferred:
        if answer_type is not None and answer_type not in ANSWER_TYPES:
            raise UsageError(f"answer_type must be one of {', '.join(ANSWER_TYPES)}; got {answer_type!r}")
        kind = answer_type or infer_answer_type(gold)
        if kind is None:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"cannot tell the answer type of gold {str(gold)[:40]!r}")
        want = _gold_value(gold, kind)
        if want is None:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"gold {str(gold)[:40]!r} is not a valid {kind}")
        parsed = parse_response(response, truncated=truncated)
        if parsed.status is not None:
            return Verdict(parsed.status, 0.0, None, parsed.reason)
        pred = extract_final_answer(parsed.answer_text or "")
        rule = "marked"
        if pred is None and self.fallback:
            pred, rule = _last_line_answer(parsed.answer_text or ""), "last_line"
        if not pred:
            return Verdict(Status.NO_ANSWER, 0.0, None, "no final answer found")
        if len(pred) > _MAX_PRED_CHARS:
            return Verdict(Status.INCORRECT, 0.0, pred[:200] + "...", f"answer is {len(pred)} characters long")
        return self._compare(kind, want, pred, rule, allow_sympy=False)

    def grade(self, kind: str, want: Any, pred: str, rule: str) -> Verdict:
        """The comparison with SymPy evaluation allowed; runs in a pool worker."""
        return self._compare(kind, want, pred, rule, allow_sympy=True)

    def _compare(self, kind: str, want: Any, pred: str, rule: str, *, allow_sympy: bool) -> Verdict | Deferred:
        details = {"answer_type": kind, "rule": rule}
        if kind == "bool":
            got = _parse_bool(pred)
            if got is None:
                return Verdict(Status.NO_ANSWER, 0.0, pred, "answer is not clearly true or false", details)
            return _judge(got == want, pred, details)
        if kind == "option":
            got = _parse_option(pred)
            if got is None:
                return Verdict(Status.NO_ANSWER, 0.0, pred, "answer is not one option (a)-(d)", details)
            return _judge(got == want, pred, details)
        if kind in ("integer", "float"):
            value = _number(pred, allow_sympy)
            if value is _DEFER:
                return Deferred("grade", (kind, want, pred, rule), {}, pred)
            if value is None:
                return Verdict(Status.INCORRECT, 0.0, pred, "answer is not a number", details)
            return _judge(_number_matches(value[0], value[1], want, kind == "integer"), pred, details)
        # lists
        items = _split_list(pred)
        if items is None:
            return Verdict(Status.INCORRECT, 0.0, pred, "answer is not a list", details)
        values = []
        for item in items:
            value = _number(item, allow_sympy)
            if value is _DEFER:
                return Deferred("grade", (kind, want, pred, rule), {}, pred)
            if value is None:
                return Verdict(Status.INCORRECT, 0.0, pred, f"list item {item[:30]!r} is not a number", details)
            values.append(value)
        if len(values) != len(want):
            return _judge(False, pred, {**details, "why": f"{len(values)} items, gold has {len(want)}"})
        integer = kind == "list of integer"
        got = sorted(values, key=lambda v: v[0])
        ok = all(_number_matches(p, pct, g, integer) for (p, pct), g in zip(got, sorted(want)))
        return _judge(ok, pred, details)


_DEFER = object()


def _number(s: str, allow_sympy: bool) -> Any:
    """``(value, percent)``; ``_DEFER`` when SymPy is needed but not allowed here; ``None`` if no number."""
    fast = parse_number(s)
    if fast is not None:
        return fast
    if not re.search(r"\d|\\pi|\\sqrt|\\frac|\\ln|\\log|\\exp|\be\b|π", s):
        return None
    if not allow_sympy:
        return _DEFER
    from math_verify import parse

    from cotforge.verifiers import math as _math  # noqa: F401  (log filter for disabled timeouts)

    cleaned = _clean(s)
    for candidate in (f"${cleaned}$", cleaned):
        for expr in parse(candidate, parsing_timeout=None):
            try:
                if hasattr(expr, "is_number") and expr.is_number:
                    value = complex(expr.evalf(20))
                    return (value.real, "%" in s) if abs(value.imag) < 1e-12 else None
            except (TypeError, ValueError, OverflowError, ArithmeticError):
                continue
    return None


def _judge(ok: bool, pred: str, details: dict[str, Any]) -> Verdict:
    return Verdict(Status.CORRECT if ok else Status.INCORRECT, 1.0 if ok else 0.0, pred, "match" if ok else "no match", details)


def _last_line_answer(text: str) -> str | None:
    """The official TheoremQA rule: the words after the last "is"/"be"/"are"/"...:" on the last line."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    words = []
    for word in reversed(lines[-1].split(" ")):
        if word in ("is", "be", "are") or word.endswith(":"):
            break
        words.append(word)
    pred = " ".join(reversed(words)).strip().strip(".").strip()
    return pred or None
