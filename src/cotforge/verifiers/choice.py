"""Multiple-choice answers: one letter among A-J (MMLU-Pro has up to 10 options, GPQA 4).

The letter is taken from explicit markers only, in this order (the last occurrence of each):

1. ``\\boxed{X}``, ``\\boxed{\\text{X}}``, ``\\boxed{(X)}``, ``\\boxed{X. text}``;
2. ``<answer>X</answer>``;
3. phrases: "the answer is (X)", "the correct answer is: X", "The answer: X", "the answer is for
   sure X" (words of certainty between), "I think it's X", "the best option is X", "the closest
   is (X)", "Answer: X" at the start of a line (bold and ``$`` allowed around the letter), the
   same anchors in the common languages other than English ("La respuesta es B", "答案是B",
   "Die Antwort ist B", "Ответ: B", from :mod:`cotforge.verifiers.response`), a
   conclusion that ends its sentence ("so (X).", "Therefore, **X**."), a verdict ("(X) is
   correct", "X is the right answer"); the phrase stated last wins, and a reason may follow the
   letter ("the answer is A because ...");
4. a final line that is only the letter: ``X``, ``(X)``, ``**X**``, ``X.``, ``X) option text``
   (not a line that goes on to name other options: "(A) is wrong, (B) is wrong").

Several letters as the final answer ("The answer is: A, B, C, D", "Answer: A or B",
``\\boxed{A, C}``) are no answer: crediting the first would pay a model for listing every option.

Never from prose: a bare ``A`` or ``I`` followed by a lowercase word is the article or the pronoun,
not an option ("The answer is I think B" gives B), and no rule ever takes "the last capital letter
in the text" (which is how harnesses end up grading every GPQA answer "D" from an echoed option
list, or MMLU-Pro's "I" from "I believe"). When unsure the verdict is ``no_answer``, never a guess.
A letter beyond ``n_options`` is a real but invalid answer: ``incorrect``.

Pure string work, so every item is settled in the caller's process.
"""

from __future__ import annotations

import re
from typing import Any

from cotforge.errors import UsageError
from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.response import (
    ANSWER_IS_ANCHORS, ANSWER_LABELS, answer_tag, last_boxed, may_hold_other_languages_anchor, parse_response, to_text, word_search_is_exact,
)

__all__ = ["ChoiceVerifier", "LETTERS", "extract_choice", "gold_letter"]

LETTERS = "ABCDEFGHIJ"
_MAX_OPTIONS = len(LETTERS)

# A letter with optional decoration: (B), **B**, $B$, \text{B}, \textbf{(B)}.
_DECO_L = r"[\s*_`$]*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?[\[(]?"
_DECO_R = r"[\])]?\}?"
_LETTER = r"(?-i:([A-J]))"  # capitals only, even inside case-insensitive patterns
# After a bare letter: end, punctuation, or whitespace not followed by a lowercase word (which
# would make "A" an article and "I" a pronoun) - except a word that opens a reason ("the answer is
# A because ..."): neither the article nor the pronoun is ever followed by one of these.
_REASON_WORDS = (
    r"(?:because|since|as|given|due|which|hence|thus|so|therefore|but|though|although|while|whereas|"
    r"not|non|nicht|pas|no|nein|nie|porque|parce|weil|perch[ée])\b"
)
# (or a CJK character: "答えはBです", "选B因为")
_AFTER = r"(?=[\s*_`$]*(?:[.,:;!?)\]}。，：；！？）、\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]|$|\n|\s+(?![a-z])|\s+" + _REASON_WORDS + "))"
# Words of certainty or hedging between the verb and the letter: "the answer is for sure D",
# "the answer is most likely (B)", "the answer is, I think, C".
_HEDGE = (
    r"(?:(?:I\s+think|I\s+believe|I\s+guess|probably|likely|most\s+likely|most\s+probably|clearly|definitely|"
    r"certainly|surely|for\s+sure|obviously|indeed|actually|undoubtedly|without\s+(?:a\s+)?doubt|in\s+fact|"
    r"therefore|thus|so|still|then)\s*,?\s*)*"
)
# "I think it's B", "I'm fairly sure it is (C)", "my answer is D" (the letter follows).
_BELIEF = (
    r"\b(?:I\s+think|I\s+believe|I\s+guess|I\s+would\s+say|I['’]d\s+say|I\s+am\s+(?:fairly\s+|pretty\s+|quite\s+)?(?:sure|confident)|"
    r"I['’]m\s+(?:fairly\s+|pretty\s+|quite\s+)?(?:sure|confident))\s*,?\s*(?:that\s+)?(?:it['’]?s|it\s+is|it\s+must\s+be|it\s+would\s+be)"
)
# An article or the word "option" in the anchor's language before the letter ("es la B", "选项B").
_OPTION_WORD = r"(?:(?:la|el|le|die|der|a|o|il|l['’])\s*)?(?:opci[óo]n|option|op[çc][ãa]o|opzione|вариант|选项|選項)?\s*"

# Optional lead-ins ("the final", "the correct") need not be matched: the letter follows the verb.
_PHRASE_HEADS = (
    r"\b(?:answer|option|choice)(?:\s+choice)?\s+(?:is|would\s+be|will\s+be|should\s+be)"
    r"|\banswer(?=\s*[:：])"  # "The answer: D" anywhere in a line
    r"|\bclosest(?:\s+(?:one|answer|option|choice))?(?:,?\s*which)?\s+is"
    r"|\b(?:choose|select|pick)"
    r"|" + _BELIEF
)
_PHRASE_TAIL = r")\s*[:：]?\s*" + _HEDGE + _OPTION_WORD + _DECO_L + r"\s*(?:option\s+|choice\s+)?" + _LETTER + _DECO_R + _AFTER
_PHRASE_RE = re.compile(
    r"(?:" + _PHRASE_HEADS + r"|(?<![A-Za-z])(?:" + "|".join(ANSWER_IS_ANCHORS) + r")" + _PHRASE_TAIL, re.IGNORECASE
)
# The same without the other languages' anchors: a case-insensitive alternation of 13 anchors
# costs 5x the English pattern on every response, so it only runs when one of their words is there.
_PHRASE_EN_RE = re.compile(r"(?:" + _PHRASE_HEADS + _PHRASE_TAIL, re.IGNORECASE)


def _phrase_pattern(text: str) -> re.Pattern[str]:
    return _PHRASE_RE if may_hold_other_languages_anchor(text) else _PHRASE_EN_RE


# A conclusion: "so (C).", "Therefore, **B**." - a marker word right before a letter that ends the
# sentence. The sentence end is required: "so E = 0.22" and "so (F) is incorrect" are not answers.
_CONCLUDE_RE = re.compile(
    r"\b(?:so|thus|therefore|hence)\b\s*,?\s*(?:(?:it\s+is|it's)\s+)?" + _DECO_L + r"\s*(?:option\s+|choice\s+)?"
    + _LETTER + r"(?=[\])]?\}?[\s*_`$]*(?:[.!;](?!\w)|$))",
    re.IGNORECASE,
)
# A letter judged right: "(C) is correct", "B is the correct answer", "**D** is the best choice".
_JUDGED_RE = re.compile(
    r"(?<![\w(\[])[(\[]?" + _LETTER + r"[\])]?[\s*_`$]*\s+is\s+(?:the\s+)?(?:correct|right|best)\b"
    r"(?!(?:\s+(?:answer|option|choice|one))?\s+(?:only|if|when|for|but|in|except)\b)",
    re.IGNORECASE,
)
_COLON_RE = re.compile(
    r"^[ \t>#*_]*(?:(?:final\s+|correct\s+)?answer|" + "|".join(ANSWER_LABELS) + r")[ \t*_]*[:：]" + _OPTION_WORD + _DECO_L + r"\s*"
    + _LETTER + _DECO_R + _AFTER,
    re.IGNORECASE | re.MULTILINE,
)
_BOXED_LETTER_RE = re.compile(
    r"^\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?[\[(]?\s*([A-Ja-j])\s*[\])]?\s*\}?\s*(?:[.:)]\s*.*)?$", re.DOTALL
)
_FINAL_LINE_RE = re.compile(r"^[\s*_`$>#]*[\[(]?\s*([A-J])\s*[\])]?[\s*_`$.]*(?:[.:)]\s+\S.*)?$")


# Right after a stated letter: more letters joined by a comma, slash, "&", "or" or "and".
_LIST_TAIL_RE = re.compile(
    r"[\])]?\}?[\s*_`$]*(?:,|/|&|\b(?:or|and)\b)\s*(?:(?:or|and)\s+)?" + _DECO_L + r"\s*" + _LETTER + _DECO_R + _AFTER,
    re.IGNORECASE,
)
_SEVERAL_RE = re.compile(r"^[\s(\[]*[A-J][\])]?(?:\s*(?:,|/|&|\b(?:or|and)\b)\s*[(\[]?[A-J][\])]?)+[\s.]*$")
_OTHER_OPTION_RE = re.compile(r"[(\[][A-J][)\]]")
_OPTION_LINE_RE = re.compile(r"^[\s*_]*[\[(]?[A-J][\])][\s*_]*\S|^[\s*_]*[A-J][.:][\s*_]+\S")


# A response that opens with the letter and then says why, in a language written without spaces:
# "B。 不是 A", "B不是 A", "C：因为 ...". (In English "D. it can't be A or B" is read as a final line.)
# ("A不是，..." - "A is not ..." - rejects the letter it opens with.)
_OPENING_LETTER_RE = re.compile(
    r"^[\s*_`$>#]*[\[(]?([A-J])[\])]?[\s*_`$]*(?=[。，：；！、\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af])"
    r"(?!\s*(?:不是|不对|不對|错|錯|不正确|不正確)\s*(?:[，。,.!！;；]|$))"
)


def _letter_from_box(content: str) -> str | None:
    m = _BOXED_LETTER_RE.match(content)
    return m.group(1).upper() if m else None


def _last(pattern: re.Pattern[str], text: str, lower: str | None = None) -> re.Match[str] | None:
    """The last match of ``pattern`` in ``text``. ``lower``: ``text.lower()`` when word searches
    in it are exact (:func:`word_search_is_exact`), computed here if not given; ``""`` when not."""
    if lower is None:
        lower = text.lower() if word_search_is_exact(text) else ""
    needs = _NEEDS.get(pattern)
    if needs is not None and lower and not any(w in lower for w in needs):
        return None  # a word every match holds is absent: no match (and no scan)
    starts = _STARTS.get(pattern)
    if starts is not None and lower:
        return _last_from(pattern, text, starts(text, lower))
    last = None
    for m in pattern.finditer(text):
        last = m
    return last


# Where a match of an English pattern can begin. A case-insensitive pattern that opens with
# alternatives gets no literal search from `re`, which tries it at every character; trying it only
# where one of its opening words stands gives the same matches as ``finditer`` (every match begins
# at one of these positions) for a fraction of the cost on long responses.
# The pronoun "I" (a word "I" before a space or apostrophe) is found in the lowercased text: a
# case-sensitive pattern that opens with a literal is searched for that letter by `re` (7x faster
# than scanning ``\bI(?=[\s'’])`` case-insensitively, on MMLU-Pro responses); the word boundary
# before it is checked on the original text.
_LOWER_I_RE = re.compile(r"i(?=[\s'’])")
_WORD_CHAR_RE = re.compile(r"\w")


def _word_starts(lower: str, words: tuple[str, ...]) -> list[int]:
    out = []
    for w in words:
        i = lower.find(w)
        while i != -1:
            out.append(i)
            i = lower.find(w, i + 1)
    return out


def _phrase_starts(text: str, lower: str) -> list[int]:
    starts = _word_starts(lower, ("answer", "option", "choice", "closest", "choose", "select", "pick"))
    for m in _LOWER_I_RE.finditer(lower):
        p = m.start()
        if p == 0 or _WORD_CHAR_RE.match(text, p - 1) is None:
            starts.append(p)
    return starts


def _conclusion_starts(text: str, lower: str) -> list[int]:
    return _word_starts(lower, ("so", "thus", "therefore", "hence"))


_STARTS = {_PHRASE_EN_RE: _phrase_starts, _CONCLUDE_RE: _conclusion_starts}
# Words one of which every match of a pattern holds (as ``_STARTS``, a test checks them against
# ``finditer``): most responses hold none, and the pattern is then not run at all.
_NEEDS = {_JUDGED_RE: ("correct", "right", "best"), _COLON_RE: (":", "：")}


def _last_from(pattern: re.Pattern[str], text: str, starts: list[int]) -> re.Match[str] | None:
    """The last match ``pattern.finditer(text)`` would give, trying only ``starts``: matches do not
    overlap, and each is tried from the end of the one before, as ``finditer`` does."""
    last, floor = None, 0
    for p in sorted(set(starts)):
        if p < floor:
            continue
        m = pattern.match(text, p)
        if m is not None:
            last, floor = m, max(m.end(), p + 1)
    return last


def extract_choice(text: str) -> tuple[str | None, str]:
    """``(letter, rule)`` from the answer part of a response; ``(None, "none")`` when unsure.

    Letters are returned whatever ``n_options`` is (A-J); the verifier checks the range. The
    phrase rules are case-insensitive but only capital letters count (a lowercase "a" is prose).
    """
    if not isinstance(text, str) or not text.strip():
        return None, "none"
    for rule, content in (("boxed", last_boxed(text)), ("answer_tag", answer_tag(text))):
        if content is None:
            continue
        letter = _letter_from_box(content)
        if letter is not None:
            return letter, rule
        if _SEVERAL_RE.match(content):  # \boxed{A, C}: the final answer is several letters
            return None, "several_letters"
    candidates = []
    lower = text.lower() if word_search_is_exact(text) else ""  # once for every pattern below
    for rule, pattern in (
        ("answer_is", _phrase_pattern(text)),
        ("answer_colon", _COLON_RE),
        ("conclusion", _CONCLUDE_RE),
        ("judged_correct", _JUDGED_RE),
    ):
        m = _last(pattern, text, lower)
        if m is not None:
            candidates.append((m.start(1), m.end(1), m.group(1), rule))
    if candidates:  # the one stated last wins
        _, end, letter, rule = max(candidates)
        if _LIST_TAIL_RE.match(text, end):
            # "The answer is: A, B, C, D" / "Answer: A or B": several letters are no answer (and
            # crediting the first would pay a model for listing every option).
            return None, "several_letters"
        return letter, rule
    m = _OPENING_LETTER_RE.match(text)
    if m is not None:
        return m.group(1), "opening_letter"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if lines:
        last = lines[-1].strip()
        m = _FINAL_LINE_RE.match(last)
        if m is not None and not (m.group(1) in "AI" and re.match(r"^\s*[AI]\s+[a-z]", last)):
            # "B) 42 joules" is an answer; the end of an echoed option list is not, and neither is
            # a line that goes on to name other options ("(A) is wrong, (B) is wrong").
            echoed = sum(1 for ln in lines[:-1] if _OPTION_LINE_RE.match(ln)) >= 2
            if not echoed and not _OTHER_OPTION_RE.search(last, m.end(1) + 1):
                return m.group(1), "final_line"
    return None, "none"


def gold_letter(gold: object, n_options: int) -> str | None:
    """The gold as a capital letter: ``"B"``, ``"(b)"``, ``"\\boxed{B}"``, or a 0-based index."""
    if isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return LETTERS[gold] if 0 <= gold < n_options else None
    text = to_text(gold)
    if text is None:
        return None
    text = text.strip()
    boxed = last_boxed(text)
    letter = _letter_from_box(boxed if boxed is not None else text)
    if letter is None:
        letter = _gold_option_letter(text)
    if letter is None or LETTERS.index(letter) >= n_options:
        return None
    return letter


# A gold given as the option itself: "(D) Alina", "C Cecile", "B. 42 joules", or a text that
# states it ("... the answer is\n(C) Cecile").
_GOLD_OPTION_RE = re.compile(r"^[\[(]?([A-J])(?:[\])]|[.:]|(?=\s))\s*\S")


def _gold_option_letter(text: str) -> str | None:
    m = _GOLD_OPTION_RE.match(text)
    if m is not None and not (m.group(1) in "AI" and re.match(r"^[AI]\s+[a-z]", text)):
        return m.group(1)
    letter, rule = extract_choice(text)
    if letter is not None and rule == "answer_is":
        return letter
    m = re.search(r"\banswer\s+is\s*[:：]?\s*\n\s*[\[(]?([A-J])(?:[\])]|[.:]|(?=\s)|$)", text)
    return m.group(1) if m else None


class ChoiceVerifier:
    """Grades a multiple-choice response against the gold letter (or 0-based index).

    ``n_options`` (default 10, A-J) limits the valid letters; pass it per item to ``verify`` when
    questions differ (MMLU-Pro has 3-10 options). ``final_line`` allows rule 4 (a last line that
    is only the letter); turn it off for a stricter grader.
    """

    name = "choice"
    version = "1.0"

    def __init__(self, *, n_options: int = _MAX_OPTIONS, final_line: bool = True):
        _check_n_options(n_options)
        self.n_options = n_options
        self.final_line = bool(final_line)

    def __repr__(self) -> str:
        return f"ChoiceVerifier(n_options={self.n_options}, final_line={self.final_line})"

    def verify(self, gold: Any, response: Any, *, n_options: int | None = None, truncated: bool = False) -> Verdict:
        """Grade one response; never raises on bad input (a bad ``n_options`` is a usage error)."""
        n = self.n_options if n_options is None else n_options
        _check_n_options(n)
        want = gold_letter(gold, n)
        if want is None:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"gold {str(gold)[:40]!r} is not one of the letters {LETTERS[:n]}")
        parsed = parse_response(response, truncated=truncated)
        if parsed.status is not None:
            return Verdict(parsed.status, 0.0, None, parsed.reason)
        letter, rule = extract_choice(parsed.answer_text or "")
        if rule == "final_line" and not self.final_line:
            letter, rule = None, "none"
        if letter is None:
            return Verdict(Status.NO_ANSWER, 0.0, None, "no option letter stated in the answer", {"rule": rule})
        details = {"rule": rule, "gold": want}
        if LETTERS.index(letter) >= n:
            return Verdict(Status.INCORRECT, 0.0, letter, f"{letter} is not an option (only {LETTERS[:n]})", details)
        if letter == want:
            return Verdict(Status.CORRECT, 1.0, letter, f"chose {letter}", details)
        return Verdict(Status.INCORRECT, 0.0, letter, f"chose {letter}, gold {want}", details)

    # Everything is cheap: the pool never needs to see a choice item.
    def presettle(self, gold: Any, response: Any, **kw: Any) -> Verdict:
        return self.verify(gold, response, **kw)


def _check_n_options(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= _MAX_OPTIONS:
        raise UsageError(f"n_options must be an integer from 2 to {_MAX_OPTIONS}, got {n!r}")
