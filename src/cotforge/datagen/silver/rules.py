"""Rule-based answer extraction and the question / answer rules that drop a row."""

from __future__ import annotations

import re

from cotforge.datagen.silver.config import (
    _COPULA_RE, _LATEX_CMD_RE, _LEADING_RE, _LETTER_RE, _MATHY_RE, _OPTIONS_RE, _PART_MARKERS, _PROOF_RE, _WORD_RE,
    SilverConfig,
)


def last_line_answer(solution: str) -> str | None:
    """The last non-empty line as an answer, when it looks like one: leading "Therefore," etc.
    removed, only the right-hand side of an equation ("x = 5" -> "5") or of "is" ("the area is
    12 cm^2" -> "12 cm^2"), and only a line with mathematical content (a digit, ``$`` or a LaTeX
    command). A prose sentence ("It is
    Paris.") is not taken: from a last line, free text is more often commentary than the answer."""
    from cotforge.verifiers.response import clean_answer

    lines = [ln.strip() for ln in solution.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    line = _LEADING_RE.sub("", lines[-1])
    if "=" in line and not line.rstrip(" .").endswith("="):
        return clean_answer(line.rsplit("=", 1)[1])
    if not _MATHY_RE.search(line):
        return None
    parts = _COPULA_RE.split(line)  # "the area is 12 cm^2" -> "12 cm^2"
    return clean_answer(parts[-1] if len(parts) > 1 and _MATHY_RE.search(parts[-1]) else line)


#: A number followed by one or two plain words ("77 dollars", "12 apples each"): the words are units.
_NUMBER_WITH_UNIT_RE = re.compile(r"^(\$?[-+]?\d[\d,]*(?:\.\d+)?)\s+[A-Za-z]+(?:\s+[A-Za-z]+)?\.?$")


def strip_unit_words(answer: str) -> str:
    """``"77 dollars"`` -> ``"77"``: a gold answer with its unit word rejects the bare number a
    model puts in ``\\boxed{}``. Units written in maths (``12 cm^2``, ``\\text{m}``) are left alone."""
    m = _NUMBER_WITH_UNIT_RE.match(answer.strip())
    return m.group(1).lstrip("$") if m else answer


def extract_answer(solution: str) -> tuple[str | None, str]:
    """(answer, source): the rule-based extraction of step 1."""
    from cotforge.verifiers.response import clean_answer, extract_with_source

    ans, source = extract_with_source(solution)
    # a "bare" answer (a response that is one word or formula) is the verifier's reading of a model
    # response; a web solution's last line goes through the stricter last-line rule below instead
    if ans is not None and source != "bare":
        return strip_unit_words(clean_answer(ans) or ans), source
    ans = last_line_answer(solution)
    return (strip_unit_words(ans), "last_line") if ans else (None, "none")


def question_problem(question: str) -> tuple[str, str] | None:
    """(code, reason) when the question itself rules the row out."""
    if _PROOF_RE.search(question):
        return "proof", f"asks for a proof or explanation ({_PROOF_RE.search(question).group(0)!r})"
    hits = [bool(p.search(question)) for p in _PART_MARKERS]
    if any(hits[k] and hits[k + 1] for k in range(0, len(hits), 2)):
        return "multi_part", "has enumerated parts (a)/(b) or similar"
    return None


def has_options(question: str) -> bool:
    """True when the question lists at least two lettered options (A and B at least)."""
    letters = {m.group(1).upper() for m in _OPTIONS_RE.finditer(question)}
    return {"A", "B"} <= letters


def answer_problem(answer: str, question: str, cfg: SilverConfig) -> tuple[str, str] | None:
    """(code, reason) when the extracted answer is not a short verifiable answer."""
    if re.search(r"(?:^|\s)\(?(?:a|i)\)\s*\S.*\(?(?:b|ii)\)", answer) or answer.count(";") >= 1:
        return "multi_answer", f"several answers in {answer[:60]!r}"
    if len(answer) > cfg.max_answer_chars:
        return "long_answer", f"{len(answer)} characters > {cfg.max_answer_chars}"
    words = _WORD_RE.findall(_LATEX_CMD_RE.sub(" ", answer))
    if len(words) > cfg.max_answer_words:
        return "long_answer", f"{len(words)} words of free text > {cfg.max_answer_words}"
    if _LETTER_RE.match(answer.strip()) and not has_options(question):
        return "choice_without_options", f"answer {answer!r} is an option letter; the question lists none"
    return None


def domain_of(answer: str, question: str) -> str:
    return "choice" if _LETTER_RE.match(answer.strip()) and has_options(question) else "math"


def _normal_question(q: str) -> str:
    return " ".join(q.lower().split())
