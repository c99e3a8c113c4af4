r"""The answer math-verify would read from a response with no marked answer, when it is plain.

A response with no box, tag or answer phrase is graded by math-verify's own extraction over the
response's tail (:mod:`cotforge.verifiers.math`, source ``text``): its regexes, grouped by
priority, are matched over the text, the rightmost match of the first group that has one is
parsed, and only when that parse fails is the next match tried. Parsing goes through ANTLR and
costs ~20 ms a response, which is most of what such a response costs.

:func:`unmarked_candidate` runs the same regexes (math-verify's own compiled patterns, not a
copy) in the same order, but stops at the first match, and returns its text only when that text
is plain enough that its parse cannot fail and cannot differ from the parse of the same text in a
``\boxed{}``: an integer or a decimal (math-verify's number extraction: separators dropped,
leading zeros stripped), a single Latin letter other than the constant letters, or
``\frac{n}{m}`` of integers. The caller then compares it with the gold by the fast normaliser, as
it would a boxed answer; anything else (a percent, an equation, a list, an expression) returns
``None`` and math-verify decides. ``tests/verifiers/test_math_unmarked.py`` checks the verdicts
against math-verify's on truncated published responses.

math-verify is imported only where it is already loaded or asked for (``load=True``): importing
it costs about 0.6 s of SymPy, more than the responses it would save in a small batch.
"""

from __future__ import annotations

import re
import string
import sys
from itertools import groupby

from cotforge.verifiers.math_sympy_rules import CONSTANT_LETTERS

__all__ = ["unmarked_candidate"]

# A single Latin letter, except those that may parse as a constant (Euler's number, the imaginary unit).
_LETTERS = "".join(c for c in string.ascii_letters if c not in CONSTANT_LETTERS)
_PLAIN_LATEX_RE = re.compile(rf"-?\d+|-?\d+\.\d+|[{_LETTERS}]|-?\\frac\{{\d+\}}\{{\d+\}}")
_NO_SEPARATORS = str.maketrans("", "", ", ")
_patterns: list | None = None


def _priority_groups() -> list:
    """math-verify's default extraction patterns (LaTeX, then plain expressions), grouped by
    priority as its ``extract_target_from_pred`` groups them."""
    global _patterns
    if _patterns is None:
        from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig, get_extraction_regexes

        targets = get_extraction_regexes([LatexExtractionConfig(), ExprExtractionConfig()])
        flat = sorted(((pattern, target, priority) for patterns, target in targets for pattern, priority in patterns), key=lambda x: x[2])
        _patterns = [[(pattern, target) for pattern, target, _ in group] for _, group in groupby(flat, key=lambda x: x[2])]
    return _patterns


def unmarked_candidate(text: str, *, load: bool = False) -> str | None:
    """The plain answer math-verify's extraction reads first from ``text``, or ``None`` when that
    answer is not plain, when nothing matches, or when math-verify is not loaded and ``load`` is
    false (then math-verify decides in a worker)."""
    if not load and "math_verify.parser" not in sys.modules:
        return None
    from math_verify.parser import ExprExtractionConfig

    for group in _priority_groups():
        best = None
        for pattern, target in group:
            for match in pattern.finditer(text):
                # math-verify tries the match that ends last first, and of those the one that starts first
                key = (match.end(), -match.start())
                if best is None or key > best[0]:
                    best = (key, match, target)
        if best is None:
            continue
        _, match, target = best
        groups = {name: value for name, value in match.groupdict().items() if value}
        if isinstance(target, ExprExtractionConfig):
            return _plain_number(groups)
        return _plain_latex(groups)
    return None


def _plain_number(groups: dict) -> str | None:
    if "percent" in groups or "expr" in groups:
        return None  # a percent is scaled, an expression goes to SymPy's parser (which may fail)
    integer = next((v for k, v in groups.items() if k.startswith("integer")), "")
    decimal = next((v for k, v in groups.items() if k.startswith("decimal")), "")
    if not (integer or decimal):
        return None
    # As math-verify builds the number: "1,234" and "1 234" are 1234, "023" is 23, "3,5" is 3.5.
    return (integer.translate(_NO_SEPARATORS).lstrip("0") or "0") + decimal.replace(",", ".")


def _plain_latex(groups: dict) -> str | None:
    latex = [value for name, value in groups.items() if "_latex" in name]
    if len(latex) != 1 or any(name.endswith("percent") for name in groups):
        return None  # several expressions become a set; a percent is scaled
    value = latex[0].strip()
    return value if _PLAIN_LATEX_RE.fullmatch(value) else None
