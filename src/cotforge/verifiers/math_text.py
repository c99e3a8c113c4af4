"""Text-level rules of the math verifier, all SymPy-free: what a gold answer must hold to be graded
against, the clean-up applied to a gold or an answer before it is compared, the refusal of values
too big to build, and the guard against an answer that only restates the question.

Each rule here is a row family in ``tests/verifiers/test_math_cases.py``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = [
    "MAX_DIGITS",
    "drop_punctuation_in_math",
    "gold_problem",
    "prenormalize",
    "restates_question",
    "space_out_scripts",
    "too_big_to_evaluate",
]

# -- the gold --------------------------------------------------------------------------------------

_NULL_WORDS = {"n/a", "null", "nan", "none", "nil", "undefined", "unknown", "not applicable", "no answer", "tbd", "-"}
_NEEDS_ARGUMENT = re.compile(r"\\(?:sqrt|[dt]?frac|text|mathrm|mathbf|boxed|left|right|overline|hat|vec|binom)\s*$")
# Commands that take two brace groups: one group only (\frac{1}) is a broken gold.
_TWO_ARGS_RE = re.compile(r"\\(?:[dt]?frac|[dt]?binom)(?![A-Za-z])")
_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname|textnormal)\s*\{([^{}]*)\}")
# Empty argument of a command that needs one: \frac{}{2}, \sqrt{}, \mathbf{}.
_EMPTY_ARG_RE = re.compile(r"\\(?:[dt]?frac|[dt]?binom|sqrt|text\w*|math\w+|mbox|boxed|operatorname|overline|hat|vec)\s*(?:\[[^\]]*\])?\s*\{\s*\}")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+|\\.")
# Commands that are values by themselves (\infty, \pi, \emptyset, Greek letters).
_VALUE_COMMAND_RE = re.compile(
    r"\\(?:infty|emptyset|varnothing|pi|alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|"
    r"lambda|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Phi|Psi|"
    r"Omega|aleph|ell|hbar)(?![A-Za-z])"
)
_ZERO_DENOMINATOR_RE = re.compile(r"(?:/\s*\{?\s*0+(?:\.0*)?\s*\}?|\\[dt]?frac\s*\{[^{}]*\}\s*\{\s*0+(?:\.0*)?\s*\})\s*$")


def _brace_groups(text: str, start: int) -> int:
    """How many ``{...}`` groups (or single-character arguments) follow ``start``."""
    n, i, groups = len(text), start, 0
    while groups < 2:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth = 0
            while i < n:
                if text[i] == "\\":
                    i += 2
                    continue
                depth += (text[i] == "{") - (text[i] == "}")
                i += 1
                if depth == 0:
                    break
            groups += 1
        elif text[i].isalnum():  # \frac12
            i += 1
            groups += 1
        elif text[i] == "\\":  # \frac\pi2
            m = _COMMAND_RE.match(text, i)
            i = m.end() if m else i + 1
            groups += 1
        else:
            break
    return groups


def gold_problem(gold: str) -> str | None:
    """Why a gold answer string cannot be graded against, or ``None`` when it looks like an answer.

    Catches what math-verify would parse into nothing, into a bare string (which it then compares
    by equality, so a response copying the broken gold would be paid) or into something arbitrary:
    null markers (also inside ``\\text{}``), no mathematical content at all (``\\quad``,
    ``\\cdot``, ``\\mathbf{}``, ``???``), unbalanced braces, a dangling command, a command missing
    an argument (``\\frac{1}``, ``\\frac{}{}``) and a division by zero (``1/0``).
    """
    stripped = gold.strip()
    inner = _TEXT_WRAP_RE.sub(lambda m: m.group(1), stripped).strip().strip("$").strip()
    if stripped.lower() in _NULL_WORDS or inner.lower() in _NULL_WORDS:
        return f"the gold answer {stripped[:40]!r} is a null marker"
    unescaped = re.sub(r"\\[{}]", "", stripped)
    if unescaped.count("{") != unescaped.count("}"):
        return "the gold answer has unbalanced braces"
    if len(re.findall(r"\\left\b", stripped)) != len(re.findall(r"\\right\b", stripped)):
        return "the gold answer has an unmatched \\left or \\right"
    if _NEEDS_ARGUMENT.search(stripped):
        return "the gold answer ends in a command that needs an argument"
    if _EMPTY_ARG_RE.search(stripped):
        return "the gold answer has a command with an empty argument"
    for m in _TWO_ARGS_RE.finditer(stripped):
        if _brace_groups(stripped, m.end()) < 2:
            return f"the gold answer's {m.group(0)} lacks an argument"
    if _ZERO_DENOMINATOR_RE.search(stripped):
        return "the gold answer divides by zero"
    content = _COMMAND_RE.sub("", _VALUE_COMMAND_RE.sub("v", stripped))
    if not re.search(r"[0-9A-Za-z]", content) and "\\{" not in stripped:  # \{\} is the empty set
        return "the gold answer holds no number, letter or value"
    return None


# -- clean-up before comparing ---------------------------------------------------------------------

# Upright constants: \mathrm{e}, {\rm e}, \textrm{i}, \operatorname{e} are e and i (math-verify
# would drop \mathrm{e} as a unit, turning 2\mathrm{e} into 2 and 1-\frac{1}{\mathrm{e}} into 1).
_UPRIGHT_RE = re.compile(r"\\(?:mathrm|textrm|text|operatorname|mathit|mathup|textup|rm)\s*\{\s*([ei])\s*\}|\{\s*\\rm\s+([ei])\s*\}|\\rm\s+([ei])(?![A-Za-z])")
# Sentence punctuation at the end of an answer, inside or outside the math delimiters.
_TRAILING_PUNCT_RE = re.compile(r"(?:\s*(?:[.,;:?]|\\[.,;:]|。|，|；)\s*)+$")
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# A mixed number: 3 2/5, -3 2/5, 3\frac{2}{5}, 3 \tfrac25. Only a proper fraction makes one
# (11 7/6 is not a mixed number; math-verify's own tests say so).
_MIXED_RE = re.compile(
    r"^([+-]?)\s*(\d{1,9})(?:\s+(\d{1,9})\s*/\s*(\d{1,9})|\s*\\[dt]?frac\s*(?:\{\s*(\d{1,9})\s*\}|(\d))\s*(?:\{\s*(\d{1,9})\s*\}|(\d)))(\s+\S.*)?$"
)
# A number followed by plain words: "12 days", "5 apples", "3.5 hours" (not "2 pi", "3 x", "2 e").
_WORD_UNIT_RE = re.compile(r"^(\\?\$?\s*[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s+([A-Za-z][A-Za-z'-]+(?:\s+[A-Za-z][A-Za-z'-]+){0,2})\s*$")
# "5cm", "12.5km^2": a number glued to a unit abbreviation of two or more letters is that number (a
# single letter glued on, "4t", "3m", may be a variable and is left as it is)
_GLUED_UNIT_RE = re.compile(
    r"^([+-]?(?:\d+(?:\.\d+)?|\.\d+))\s*(?:cm|mm|km|nm|kg|mg|ml|mL|ft|yd|mi|lbs?|oz|mph|kph|hrs?|mins?|secs?)"
    r"(?:\^\{?[23]\}?)?$"
)
# "1\,000", "1\ 000 000", "12~345": a thin or normal space (or a tie) between digit groups of three
# is a thousands separator; math-verify reads "1\,000" as 1 times 000
_SPACED_THOUSANDS_RE = re.compile(r"^([+-]?\d{1,3})((?:(?:\\,|\\ |\\;|~)\d{3})+)(\.\d+)?$")
_NOT_UNIT_WORDS = frozenset(
    "pi sqrt sin cos tan cot sec csc log ln exp and or times plus minus over divided mod i e x y z n k".split()
)


def _strip_delims(s: str) -> str:
    for left, right in _DELIMS:
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


_PUNCT_BEFORE_CLOSE_RE = re.compile(r"\$([^$]+?)\s*[.,;:?]+\s*\$|\\\((.+?)\s*[.,;:?]+\s*\\\)")


def drop_punctuation_in_math(text: str) -> str:
    """Sentence punctuation just inside a closing math delimiter, in running text:
    ``is $\\frac{2}{7}.$`` -> ``is $\\frac{2}{7}$`` (math-verify would not parse the segment)."""
    if "$" not in text and "\\)" not in text:
        return text
    return _PUNCT_BEFORE_CLOSE_RE.sub(lambda m: f"${m.group(1)}$" if m.group(1) is not None else f"\\({m.group(2)}\\)", text)


# Letters of scripts written without spaces around numbers (kana, CJK, Hangul) and full-width
# punctuation: "比例为13/28" hides the number from math-verify's word-bounded number rule.
_NO_SPACE_SCRIPT = r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]"
_SCRIPT_NEXT_TO_MATH_RE = re.compile(r"(?<=" + _NO_SPACE_SCRIPT + r")(?=[-+\d$\\(])|(?<=[\d$)}])(?=" + _NO_SPACE_SCRIPT + ")")


def space_out_scripts(text: str) -> str:
    """A space between a CJK/kana/Hangul character and an adjacent number or formula."""
    if text.isascii():
        return text
    return _SCRIPT_NEXT_TO_MATH_RE.sub(" ", text)


# 6.02e23, 1e-3, 2.5E+4: scientific notation as a whole answer (math-verify reads "e" as Euler's number).
_E_NOTATION_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))[eE]([+-]?\d{1,4})$")
# Unicode radicals: math-verify reads "√2" as nothing it can parse; the argument is a number, one
# letter, a braced or a parenthesised group.
_UNICODE_ROOT_RE = re.compile(r"([√∛∜])\s*(\d+(?:\.\d+)?|[A-Za-z]|\{[^{}]*\}|\([^()]*\))")
_ROOT_INDEX = {"√": "", "∛": "[3]", "∜": "[4]"}
# math-verify makes the "i" of "4 i" a different symbol from the "i" of "4i" (they never compare
# equal), so a space between a coefficient and i goes.
_SPACED_I_RE = re.compile(r"(?<=[\d}])\s+(?=i(?![A-Za-z]))")


def _unicode_root(m: re.Match) -> str:
    arg = m.group(2)
    if arg[0] in "{(":
        arg = arg[1:-1]
    return f"\\sqrt{_ROOT_INDEX[m.group(1)]}{{{arg}}}"


# A repeating decimal: 0.\overline{3}, 0.1\overline{6}, 2.\overline{142857}, 0.\bar{3}, 0.1\dot{6}
# (neither SymPy nor the fast path reads the bar or the dot). Bounded digit runs keep the exact
# fraction small.
_REPEATING_RE = re.compile(r"^([+-]?)(\d{0,30})\.(\d{0,30})\\(?:overline|bar|dot)\s*(?:\{\s*(\d{1,30})\s*\}|(\d))$")


def repeating_decimal_as_fraction(text: str) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}`` (exact); any other text unchanged.

    Applied only after the restatement guard, so "express 0.\\overline{3} as a fraction" answered with
    ``0.\\overline{3}`` is still a restatement."""
    m = _REPEATING_RE.match(text.strip())
    if m is None:
        return text
    sign, whole, fixed, period, digit = m.groups()
    period = period or digit
    value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    if sign == "-":
        value = -value
    if value.denominator == 1:
        return str(value.numerator)
    return f"{'-' if value < 0 else ''}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def prenormalize(text: str) -> str:
    """Value-preserving clean-up of a gold or an answer before any comparison.

    - math delimiters around the whole answer go, with sentence punctuation inside or outside
      them (``$\\frac{2}{7}.$``, ``$(3,4),$``);
    - upright constants become the letters math-verify reads as constants (``\\mathrm{e}`` -> ``e``);
    - a mixed number with a proper fraction becomes the improper fraction (``3 2/5`` -> ``\\frac{17}{5}``);
    - plain words after a number are a unit and go (``12 days`` -> ``12``);
    - a number glued to a unit abbreviation of two or more letters is the number (``5cm`` -> ``5``);
    - spaces between digit groups of three are thousands separators (``1\\,000`` -> ``1000``);
    - ``\\varnothing`` is ``\\emptyset``;
    - a number in scientific notation is a power of ten (``6.02e23`` -> ``6.02\\times 10^{23}``);
    - unicode radicals become ``\\sqrt`` (``√2`` -> ``\\sqrt{2}``, ``∛x`` -> ``\\sqrt[3]{x}``);
    - a space between a coefficient and ``i`` goes (``4 i`` -> ``4i``: math-verify reads them as two
      different symbols).
    """
    s = text.strip()
    for _ in range(3):
        before = s
        s = _TRAILING_PUNCT_RE.sub("", _strip_delims(s)).strip()
        if s == before:
            break
    if "rm" in s or "text" in s or "operatorname" in s or "math" in s:
        s = _UPRIGHT_RE.sub(lambda m: m.group(1) or m.group(2) or m.group(3), s)
    m = _MIXED_RE.match(s)
    if m:
        sign, whole = m.group(1), int(m.group(2))
        num = int(m.group(3) or m.group(5) or m.group(6))
        den = int(m.group(4) or m.group(7) or m.group(8))
        tail = m.group(9) or ""
        if 0 < num < den and (not tail or _WORD_UNIT_RE.match("1" + tail)):
            s = f"{sign}\\frac{{{whole * den + num}}}{{{den}}}"
    m = _WORD_UNIT_RE.match(s)
    if m and not any(w.lower() in _NOT_UNIT_WORDS for w in m.group(2).split()):
        s = m.group(1).strip()
    m = _GLUED_UNIT_RE.match(s)
    if m:
        s = m.group(1)
    m = _SPACED_THOUSANDS_RE.match(s)
    if m:
        s = m.group(1) + re.sub(r"\D", "", m.group(2)) + (m.group(3) or "")
    if "varnothing" in s:  # the same empty set as \emptyset, which math-verify reads
        s = s.replace("\\varnothing", "\\emptyset")
    m = _E_NOTATION_RE.match(s)
    if m:
        s = f"{m.group(1)}\\times 10^{{{int(m.group(2))}}}"
    if "√" in s or "∛" in s or "∜" in s:
        s = _UNICODE_ROOT_RE.sub(_unicode_root, s)
    if " i" in s:
        s = _SPACED_I_RE.sub("", s)
    return s


# -- values too big to build -----------------------------------------------------------------------

# Answers whose value SymPy would try to build and cannot: integer power chains such as
# 9^{9^{9^{9}}} or 2^{10000000000}, and factorials of huge numbers. Caught textually, before any
# parsing, by estimating the number of digits of the value.
_POWER_CHAIN_RE = re.compile(r"(?:\d+|\))(?:\s*(?:\^|\*\*)\s*\{?\s*\(?\s*[+-]?\s*\d+)+")
_FACTORIAL_RE = re.compile(r"(\d+)\s*!|\\(?:factorial|Gamma)\s*[({]\s*(\d+)")
#: Values with more digits than this are not built (2^{332192} has 100,000 digits).
MAX_DIGITS = 100_000


def _chain_digits(chain: str) -> float:
    """Decimal digits of the value of an integer power chain ``a^{b^{c}}`` (right-associative);
    ``inf`` when it has more than :data:`MAX_DIGITS`. A leading ``)`` counts as base 2."""
    tokens = re.findall(r"[+-]?\s*\d+|\)", chain)
    nums = [2 if t == ")" else abs(int(t.replace(" ", ""))) for t in tokens]
    exponent = nums[-1]
    for base in reversed(nums[:-1]):
        if base <= 1:
            exponent = base
            continue
        if exponent > 10 * MAX_DIGITS:  # base >= 2: more digits than the limit, whatever the base
            return math.inf
        digits = exponent * math.log10(base)
        if digits > MAX_DIGITS:
            return math.inf
        exponent = base**exponent
    # 2^{2^{2^{2^{2}}}} = 2^65536 is fine to build; log10 of an int works at any size
    return math.log10(exponent) if exponent > 1 else 1.0


def too_big_to_evaluate(answer: str) -> str | None:
    """Why ``answer`` must not reach SymPy (a value with more than :data:`MAX_DIGITS` digits),
    else ``None``. Cheap and textual: only integer power chains and factorials are estimated."""
    if "^" in answer or "**" in answer:
        for m in _POWER_CHAIN_RE.finditer(answer):
            if _chain_digits(m.group(0)) > MAX_DIGITS:
                return f"power with more than {MAX_DIGITS} digits ({m.group(0)[:30]})"
    if "!" in answer or "factorial" in answer or "Gamma" in answer:
        for m in _FACTORIAL_RE.finditer(answer):
            n = int(m.group(1) or m.group(2))
            if n > 1000 and math.lgamma(n + 1) / math.log(10) > MAX_DIGITS:
                return f"factorial with more than {MAX_DIGITS} digits ({m.group(0)[:30]})"
    return None


# -- restating the question ------------------------------------------------------------------------

_MATH_SEGMENT_RE = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_SPLIT_RE = re.compile(r"(?<![<>!\\])=|\\(?:approx|equiv)(?![A-Za-z])|,|\\text\{[^{}]*\}|\\quad|\\qquad|\?")
_PLAIN_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$")
_NOISE_RE = re.compile(r"\\[,;:! ]|\\(?:left|right|big|Big|bigg|Bigg|displaystyle|textstyle)(?![A-Za-z])|\s+|\{\}")


def _canon(s: str) -> str:
    s = _NOISE_RE.sub("", _strip_delims(s.strip()))
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\dbinom|\\tbinom", r"\\binom", s)
    return s.rstrip(".").strip()


def question_expressions(question: str) -> set[str]:
    """The canonical forms of the math in ``question``: each ``$...$`` / ``\\(...\\)`` / ``\\[...\\]``
    segment, and each side of it split at ``=``, ``\\approx``, commas, ``?`` and ``\\text{}``."""
    out: set[str] = set()
    for m in _MATH_SEGMENT_RE.finditer(question):
        seg = next(g for g in m.groups() if g is not None)
        out.add(_canon(seg))
        for part in _SPLIT_RE.split(seg):
            if part and part.strip():
                out.add(_canon(part))
    out.discard("")
    return out


def restates_question(answer: str, gold: str, question: str) -> str | None:
    """The question's expression that ``answer`` repeats with no reduction, else ``None``.

    An answer is a restatement when its canonical text is one of :func:`question_expressions`,
    it is not a plain number (a number is already reduced), and it is not the gold's own text (a
    problem may ask to choose an expression it shows). Equal values are not enough: the guard is
    for "Compute $\\dbinom{8}{4}$" answered ``\\dbinom{8}{4}``, where math-verify pays the
    unevaluated problem.
    """
    if not question or not answer:
        return None
    a = _canon(prenormalize(answer))
    if not a or _PLAIN_NUMBER_RE.match(a) or len(a) < 2:
        return None
    if a == _canon(prenormalize(gold)):
        return None
    exprs = question_expressions(question)
    return a if a in exprs else None


# -- numbers written in words ----------------------------------------------------------------------

_UNITS_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS_WORDS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_SCALE_WORDS = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_NUMBER_WORD_RE = re.compile(r"[a-z]+")
# words after a number that change its value ("twelve dozen", "seventy hundred", "five percent")
_NOT_A_COUNTED_WORD = frozenset(
    "hundred hundreds thousand thousands million millions billion billions dozen dozens score half halves "
    "quarter quarters third thirds percent times and point over".split()
)


def number_from_words(text: str) -> str | None:
    """The integer an answer phrase writes in English words, as digits (``three`` -> ``3``,
    ``negative twenty-five`` -> ``-25``, ``one hundred and five apples`` -> ``105``), else None.

    The whole phrase must be the number, with at most two plain words after it (a unit or the
    things counted): a number word inside a sentence ("the one with ...", "three of the five
    ...") is no answer here, and the caller keeps its own reading.
    """
    words = _NUMBER_WORD_RE.findall(text.lower().replace("-", " "))
    if not words or re.search(r"[\d\\$=^_{}]", text) or len(words) > 12:
        return None
    sign = 1
    if words[0] in ("negative", "minus"):
        sign, words = -1, words[1:]
    total = current = 0
    seen = used = 0
    for k, w in enumerate(words):
        if w in _UNITS_WORDS and (current % 10 == 0 or current == 0) and not (current and current < 20 and current % 100):
            current += _UNITS_WORDS[w]
        elif w in _TENS_WORDS and current % 100 == 0:
            current += _TENS_WORDS[w]
        elif w == "hundred" and 0 < current < 10:
            current *= 100
        elif w in _SCALE_WORDS and 0 < current < 1000 and total % _SCALE_WORDS[w] == 0:
            total, current = total + current * _SCALE_WORDS[w], 0
        elif w == "and" and seen and current >= 100 and k + 1 < len(words) and words[k + 1] in {**_UNITS_WORDS, **_TENS_WORDS}:
            pass
        else:
            break
        seen, used = seen + (w != "and"), k + 1
    rest = words[used:]
    if not seen or len(rest) > 2 or any(w in _NOT_A_COUNTED_WORD or w in _UNITS_WORDS or w in _TENS_WORDS for w in rest):
        return None
    return str(sign * (total + current))
