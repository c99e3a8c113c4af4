"""Value-preserving LaTeX clean-up shared by the fast normaliser's number rules
(:mod:`cotforge.verifiers.normalize`) and its structural parser
(:mod:`cotforge.verifiers.normalize_structural`). Pure regex work, linear in the input."""

from __future__ import annotations

import re

__all__ = ["clean_latex", "prepare"]

# Cosmetic LaTeX that never changes a value.
_SPACING_RE = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\\displaystyle|\\textstyle")
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?=[\s()\[\]|.{}\\])")
_FRAC_VARIANTS_RE = re.compile(r"\\[dt]frac\b")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b|\\textdegree\b")
_TEXT_UNIT_RE = re.compile(r"\\(?:text|mbox|mathrm|textbf|textnormal)\s*\{\s*([^{}]*)\}(?:\^\{?[23]\}?)?\s*$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_DOLLAR_RE = re.compile(r"\\\$")  # \$78: math-verify drops the currency sign
_UNIT_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z .^{}0-9/\\-]{0,30}$")


def clean_latex(s: str) -> str:
    """Remove value-preserving decoration: math delimiters, spacing macros, ``\\left``/``\\right``,
    ``\\dfrac``/``\\tfrac`` (-> ``\\frac``), degree marks and all whitespace."""
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    s = _SPACING_RE.sub("", s)
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _FRAC_VARIANTS_RE.sub(r"\\frac", s)
    s = _DEGREE_RE.sub("", s)
    s = s.rstrip(".").strip()
    return "".join(s.split())


_PREP_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad|~|\\displaystyle|\\textstyle")  # not the \\\\ row break
_TIMES_RE = re.compile(r"\\(?:cdot|times)(?![A-Za-z])")


def prepare(s: str) -> str:
    """Value-preserving clean-up for the structural parser; unlike :func:`clean_latex` it keeps
    whitespace (``\\cos x`` is not ``\\cosx``, ``2 3`` is not ``23``)."""
    s = _DOLLAR_RE.sub("", s.strip())
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    s = _PREP_SPACING_RE.sub(" ", s)
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _FRAC_VARIANTS_RE.sub(r"\\frac", s)
    s = _DEGREE_RE.sub("", s)
    s = _TIMES_RE.sub("*", s)
    s = s.strip().rstrip(".").strip()
    um = _TEXT_UNIT_RE.search(s)
    if um and um.start() > 0 and _UNIT_WORD_RE.match(um.group(1).strip() or "x"):
        s = s[: um.start()].strip()
    return s
