"""Response handling shared by every verifier: where the answer is, and how to pull it out.

Two separate steps, as in Math-Verify (extraction is not comparison):

1. :func:`parse_response` splits a raw completion into the reasoning (``<think>...</think>``) and
   the part that may hold the answer, and decides the cases where there is no answer at all:
   nothing generated, an unclosed ``<think>`` (the model never stopped thinking, so anything in
   there is a draft, not an answer), or a completion cut at the token limit.
2. :func:`extract_final_answer` finds the final answer inside that part, in a fixed priority:
   ``\\boxed{}`` / ``\\fbox{}`` > ``<answer>`` tags > "the answer is" > ``Answer:`` > bold ``**x**``
   > a short response that is only a formula (``t^2-4t+4``, ``\\dfrac{2}{5}``, ``\\text{even}``).
   Several boxes that end the response joined only by "and" or commas (``$\\boxed{3}$ and
   $\\boxed{-4}$``) are one answer, the set of their contents; an explicit "the final answer is X"
   stated after the last box wins over it. The answer phrases are also read in the common
   languages other than English (:data:`ANSWER_IS_ANCHORS`, :data:`ANSWER_LABELS`).

Everything here is pure string work (no regex with nested quantifiers over the whole text, no
SymPy), never raises, and is linear in the length of the response, so it can run in the caller's
process before any answer is sent to the isolated worker pool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cotforge.verifiers.base import Status

__all__ = [
    "ANSWER_IS_ANCHORS",
    "ANSWER_LABELS",
    "ParsedResponse",
    "answer_tag",
    "clean_answer",
    "extract_final_answer",
    "extract_with_source",
    "last_boxed",
    "parse_response",
    "to_text",
]

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ParsedResponse:
    """A completion split into reasoning and the answer-bearing rest.

    ``status`` is ``None`` when an answer may be present (``answer_text`` is then a non-empty
    string), otherwise :attr:`Status.NO_ANSWER` or :attr:`Status.TRUNCATED` and ``reason`` says why.
    """

    answer_text: str | None
    reasoning: str | None
    status: Status | None
    reason: str = ""


def to_text(response: object) -> str | None:
    """Best-effort conversion of whatever a caller passes as a completion into text.

    Accepts ``str``; ``bytes`` (decoded as UTF-8, bad bytes replaced); TRL's conversational
    completions (a list of ``{"role", "content"}`` messages: the last assistant message, or the
    last message); a single message dict; and falls back to ``str()`` for numbers. ``None`` and
    anything unrecognisable give ``None``. Never raises.
    """
    try:
        if response is None:
            return None
        if isinstance(response, str):
            return response
        if isinstance(response, (bytes, bytearray, memoryview)):
            return bytes(response).decode("utf-8", errors="replace")
        if isinstance(response, dict):
            content = response.get("content")
            return to_text(content) if content is not None else None
        if isinstance(response, (list, tuple)):
            messages = [m for m in response if isinstance(m, dict)]
            if messages and len(messages) == len(response):
                assistant = [m for m in messages if m.get("role") == "assistant"] or messages
                return to_text(assistant[-1])
            if len(response) == 1:  # e.g. the Qwen harness's ``code`` list with one completion
                return to_text(response[0])
            return None
        if isinstance(response, (int, float)) and not isinstance(response, bool):
            return repr(response) if isinstance(response, float) else str(response)
        return None
    except Exception:  # pragma: no cover - defensive: junk objects with odd __eq__/__getitem__
        return None


def parse_response(response: object, *, truncated: bool = False) -> ParsedResponse:
    """Split ``response`` into reasoning and answer-bearing text; decide "no answer" early.

    - ``<think>R</think>A`` -> reasoning ``R``, answer text ``A``. A missing opening tag is
      fine (R1-style prompts end with ``<think>``, so completions start inside it); the *last*
      ``</think>`` closes the reasoning.
    - ``<think>`` without ``</think>`` -> no answer ("unclosed <think>").
    - nothing after ``</think>``, empty or whitespace-only text, ``None``, junk -> no answer.
    - ``truncated=True`` (the generator stopped at its token limit, ``finish_reason == "length"``)
      -> :attr:`Status.TRUNCATED`; ``answer_text`` is still filled when present so callers that
      want to can inspect it, but verifiers do not grade it.
    """
    try:
        text = to_text(response)
        if text is None:
            return ParsedResponse(None, None, Status.NO_ANSWER, f"no text in response of type {type(response).__name__}")
        if "\x00" in text:  # NULs are never part of an answer and upset downstream C parsers
            text = text.replace("\x00", "")
        reasoning: str | None = None
        close = text.rfind(_THINK_CLOSE)
        if close >= 0:
            before = text[:close]
            opened = before.find(_THINK_OPEN)
            reasoning = before[opened + len(_THINK_OPEN):] if opened >= 0 else before
            answer = text[close + len(_THINK_CLOSE):]
        else:
            opened = text.find(_THINK_OPEN)
            if opened >= 0:
                reasoning = text[opened + len(_THINK_OPEN):]
                if truncated:
                    return ParsedResponse(None, reasoning, Status.TRUNCATED, "cut at the token limit inside <think>")
                return ParsedResponse(None, reasoning, Status.NO_ANSWER, "unclosed <think>: the reasoning never ended")
            answer = text
        answer = answer.strip()
        if truncated:
            return ParsedResponse(answer or None, reasoning, Status.TRUNCATED, "cut at the token limit")
        if not answer:
            why = "nothing after </think>" if close >= 0 else "empty response"
            return ParsedResponse(None, reasoning, Status.NO_ANSWER, why)
        return ParsedResponse(answer, reasoning, None, "")
    except Exception as exc:  # pragma: no cover - parse_response must never raise
        return ParsedResponse(None, None, Status.NO_ANSWER, f"could not read response: {type(exc).__name__}")


# --------------------------------------------------------------------------------------------
# \boxed{...}

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")


def _box_content(text: str, start: int) -> tuple[str | None, int]:
    """Content of the box whose command ends at ``start``, and the index just after it.

    Handles ``\\boxed{...}`` with nested braces (escaped ``\\{`` and ``\\}`` do not count) and the
    brace-less ``\\boxed 5`` form that some models emit. ``(None, start)`` when unbalanced.
    """
    n = len(text)
    i = start
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "{":
        depth = 0
        j = i
        while j < n:
            c = text[j]
            if c == "\\":
                j += 2  # skip the escaped character (\{, \}, \\)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j], j + 1
            j += 1
        return None, start
    if i > start:  # "\boxed 5": up to the next space, '$' or end of line
        j = i
        while j < n and text[j] not in " \t\n$":
            j += 1
        return (text[i:j] or None), j
    return None, start


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``text``; never concatenates.

    Nested braces are matched. When several boxes are present, only the last one counts (two
    ``\\boxed{840}`` are ``840``, not ``840840``). A final box whose braces never close (the text
    was cut off) is ignored rather than guessed at, and an earlier complete box is not promoted in
    its place: the model's last word was unfinished, so there is no final answer.
    """
    if not isinstance(text, str) or "\\" not in text:
        return None
    last = None
    for m in _BOX_RE.finditer(text):
        last = m
    if last is None:
        return None
    content, _ = _box_content(text, last.end())
    if content is None:
        return None
    content = content.strip()
    return content or None


# Text allowed between boxes that together form one final answer: math delimiters, spaces,
# commas, "and"/"or", \quad, and a short "x =" naming the next value.
_BOX_JOIN_RE = re.compile(
    r"^(?:[\s$,;]|\\[(),;:! ]|\\q?quad|\\text\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b|[A-Za-z](?:_\{?\w+\}?)?\s*=)*$"
)
# Or a few plain words around an "and"/"or"/comma that label the parts ("\text{ for part (a) and }",
# "papers and"), as long as none of them carries the working on ("so", "gives", "then", "=").
_BOX_LABEL_JOIN_RE = re.compile(r"^(?:[\s$,;()]|\\text\s*\{[^{}]*\}|\\q?quad|[A-Za-z]++)*$")
_BOX_JOIN_CONJ_RE = re.compile(r",|\b(?:and|or)\b")
_BOX_JOIN_STOP_RE = re.compile(
    r"\b(?:so|thus|hence|therefore|then|gives?|get|gets|got|yields?|is|are|was|were|be|becomes?|equals?|means?|"
    r"check|checking|verify|final|answer|but|not|step|since|because|which|if|when)\b",
    re.IGNORECASE,
)


def _joins_boxes(between: str) -> bool:
    """Whether the text between two boxes leaves them parts of one answer."""
    if len(between) > 40:
        return False
    if _BOX_JOIN_RE.match(between):
        return True
    return bool(_BOX_LABEL_JOIN_RE.match(between) and _BOX_JOIN_CONJ_RE.search(between) and not _BOX_JOIN_STOP_RE.search(between))


def final_boxes(text: str) -> list[str]:
    """Contents of the boxes that together end ``text`` (see :func:`last_boxed` for one box): the
    last box, and the boxes before it joined to it by nothing but delimiters, commas, "and"/"or"
    or a short ``x =``. Repeats collapse (``\\boxed{840}`` twice is one answer); ``[]`` when the
    last box is empty or unclosed."""
    if not isinstance(text, str) or "\\" not in text:
        return []
    # Box contents are read from the last box backwards and only while boxes join: reading every
    # box was quadratic on degenerate outputs (thousands of unclosed "\boxed{" each scanned to the end).
    commands = [(m.start(), m.end()) for m in _BOX_RE.finditer(text)]

    def span(k: int) -> tuple[int, int, str | None]:
        content, end = _box_content(text, commands[k][1])
        return commands[k][0], end, content.strip() if content is not None else None

    if not commands:
        return []
    group = [span(len(commands) - 1)]
    if not group[0][2]:
        return []
    for k in range(len(commands) - 2, -1, -1):
        prev = span(k)
        between = text[prev[1] : group[0][0]]
        if not prev[2] or not _joins_boxes(between):
            break
        group.insert(0, prev)
    out: list[str] = []
    for _, _, content in group:
        if content not in out:
            out.append(content)
    return out


# --------------------------------------------------------------------------------------------
# <answer>...</answer>

_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


def answer_tag(text: str) -> str | None:
    """Content of the last complete ``<answer>...</answer>`` in ``text`` (stripped), else ``None``."""
    if not isinstance(text, str) or "<" not in text:
        return None
    last = None
    for m in _ANSWER_TAG_RE.finditer(text):
        last = m
    if last is None:
        return None
    content = last.group(1).strip()
    return content or None


# --------------------------------------------------------------------------------------------
# Phrases

# "the answer is X", "the final answer is: X", "The correct answer is X." - X runs to the end of
# the sentence: a period followed by whitespace or the end (so 3.5 and \frac{1}{2}. both work),
# or a line break.
#: "The answer is" in other common languages (Spanish, French, German, Portuguese, Italian,
#: Russian, Chinese, Japanese, Korean, Vietnamese, Turkish, Indonesian, Dutch, Polish), as regex
#: alternatives; the answer follows them. Shared with the choice verifier.
ANSWER_IS_ANCHORS = (
    r"(?:la\s+)?respuesta(?:\s+(?:final|correcta))?\s+es",
    r"(?:la\s+)?r[ée]ponse(?:\s+(?:finale|correcte))?\s+est",
    r"(?:die\s+)?(?:endg[üu]ltige\s+|richtige\s+)?antwort\s+(?:ist|lautet)",
    r"(?:a\s+)?resposta(?:\s+(?:final|correta))?\s+[ée]",
    r"(?:la\s+)?risposta(?:\s+(?:finale|corretta))?\s+[èe]",
    r"(?:правильный\s+|окончательный\s+)?ответ(?:\s*[-—]|\s+это|\s+будет)",
    r"(?:最终|正确|最後|最后)?答案(?:是|为|為|应该是|應該是)",
    r"答えは",
    r"(?:최종\s*)?(?:정답|답)은",
    r"(?:đáp\s+án|câu\s+trả\s+lời)(?:\s+đúng)?\s+là",
    r"jawaban(?:nya)?(?:\s+yang\s+benar)?\s+adalah",
    r"(?:het\s+)?antwoord\s+is",
    r"odpowied[źz]\s+to",
)
#: Line labels meaning "Answer:" in those languages (the answer follows a colon).
ANSWER_LABELS = (
    r"respuesta(?:\s+final)?", r"r[ée]ponse(?:\s+finale)?", r"(?:endg[üu]ltige\s+)?antwort", r"resposta(?:\s+final)?",
    r"risposta(?:\s+finale)?", r"(?:окончательный\s+)?ответ", r"(?:最终|最終)?答案", r"答え", r"解答", r"答", r"(?:최종\s*)?(?:정답|답)",
    r"đáp\s+án", r"cevap", r"jawaban", r"antwoord", r"odpowied[źz]",
)
_ANSWER_IS_TAIL = r"\s*(?:[:：]\s*)?(.+?)(?=\.\s|\.$|。|です|である|\n|$)"
_ANSWER_IS_RE = re.compile(
    r"(?:\b(?:the\s+)?(?:final\s+|correct\s+)?answer\s+(?:is|would\s+be|will\s+be)|(?<![A-Za-z])(?:" + "|".join(ANSWER_IS_ANCHORS) + r"))"
    + _ANSWER_IS_TAIL,
    re.IGNORECASE,
)
# The same without the other languages' anchors: their case-insensitive alternation costs several
# times the English pattern on every response, so it runs only where one of them can match.
_ANSWER_IS_EN_RE = re.compile(r"\b(?:the\s+)?(?:final\s+|correct\s+)?answer\s+(?:is|would\s+be|will\s+be)" + _ANSWER_IS_TAIL, re.IGNORECASE)
#: In ASCII text, a word that every ASCII-writable anchor of ANSWER_IS_ANCHORS holds (the other
#: anchors hold a letter beyond ASCII: "ответ", "答案", "정답", "đáp án").
_ASCII_ANCHOR_WORDS = ("respuesta", "ponse", "antwort", "resposta", "risposta", "jawaban", "antwoord", "odpowied")


#: A word that every other anchor of ANSWER_IS_ANCHORS holds, in a script beyond ASCII.
_SCRIPT_ANCHOR_WORDS = ("ответ", "答案", "答え", "답은", "đáp", "trả")
# Characters a case-insensitive pattern matches to a letter of those words (or of ASCII) although
# lowercasing gives another character: dotted and dotless I, the long s, Cyrillic letter variants.
# (tests/verifiers/test_response.py enumerates every code point to keep this list whole.)
_ODD_CASE_FOLDS_RE = re.compile("[\u0130\u0131\u017f\u1c80\u1c82\u1c84\u1c85]")


def word_search_is_exact(text: str) -> bool:
    """Whether searching ``text.lower()`` for a lowercase word finds every place a case-insensitive
    pattern can match that word in ``text``, at the same positions (always true of ASCII text)."""
    if text.isascii():
        return True
    return _ODD_CASE_FOLDS_RE.search(text) is None and len(text.lower()) == len(text)


def may_hold_other_languages_anchor(text: str) -> bool:
    """Whether an anchor of :data:`ANSWER_IS_ANCHORS` can match ``text`` at all (a cheap test that
    lets the callers use their English-only patterns on the rest, with the same matches)."""
    if not word_search_is_exact(text):
        return True
    lower = text.lower()
    return any(w in lower for w in _ASCII_ANCHOR_WORDS) or (not text.isascii() and any(w in lower for w in _SCRIPT_ANCHOR_WORDS))


# "the final answer is" (or its "Final Answer:" label): stated after the boxes, it wins over them.
_FINAL_STATED_RE = re.compile(r"\bfinal\s+answer\s*(?:is\b|[:：])|最终答案|最終答案|respuesta\s+final|r[ée]ponse\s+finale", re.IGNORECASE)
# "Answer: X", "**Final Answer:** X", "Final answer - X" at the start of a line.
_ANSWER_COLON_RE = re.compile(
    r"^[ \t>#*_]*(?:(?:final\s+)?answer|" + "|".join(ANSWER_LABELS) + r")[ \t*_]*[:：][ \t*_]*(.*?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,80}?)\*\*")
_BOLD_MAX_LINES_FROM_END = 3
# Bold that is a heading or a label, not a result: "**Step 2: simplify**", "**Solution**".
_BOLD_LABEL_RE = re.compile(r":|^(?:step|case|part|note|solution|answer|final answer|conclusion|summary|verification|check)\b", re.I)


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for m in pattern.finditer(text):
        last = m
    return last


_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("`", "`"), ("__", "__"))


_EMPHASIS = ("**", "__")


def _drop_unpaired_emphasis(s: str) -> str:
    """Remove a bold marker left at either end without its partner. The ``Answer:`` rule splits
    ``**Final Answer: 73**`` or ``Answer: **73**.`` inside the markup, so the capture can start or
    end with half of a ``**...**`` pair; an odd count of markers means the end one is such a half."""
    for mark in _EMPHASIS:
        while s.count(mark) % 2 == 1 and (s.startswith(mark) or s.endswith(mark)):
            s = (s[len(mark) :] if s.startswith(mark) else s[: -len(mark)]).strip()
    return s


def clean_answer(ans: str | None) -> str | None:
    """Strip decoration around an extracted answer: whitespace, ``$...$``, ``\\(...\\)``, bold
    (also an unpaired ``**`` left at either end), backticks and trailing sentence punctuation
    (``.``, ``,``, ``;``, ``:``), also inside the delimiters (``$(3,4),$``). Inner content is left
    as is. ``None`` when nothing remains."""
    if ans is None:
        return None
    s = ans.strip()
    for _ in range(4):
        before = s
        s = _drop_unpaired_emphasis(s.strip().rstrip(".,;:").strip())
        for left, right in _WRAPPERS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : len(s) - len(right)].strip()
        if s == before:
            break
    return s or None


def extract_with_source(text: str) -> tuple[str | None, str]:
    """:func:`extract_final_answer` plus which rule found it: ``boxed``, ``answer_tag``,
    ``answer_is``, ``answer_colon``, ``bold``, ``bare`` or ``none``."""
    if not isinstance(text, str) or not text.strip():
        return None, "none"
    boxes = final_boxes(text)
    if boxes:
        stated = _stated_after_boxes(text)
        if stated is not None:
            return stated
        return (boxes[0] if len(boxes) == 1 else ", ".join(boxes)), "boxed"
    if _BOX_RE.search(text):
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed, "boxed"
    tagged = answer_tag(text)
    if tagged is not None:
        return clean_answer(tagged), "answer_tag"
    m = _last_match(_ANSWER_IS_RE if may_hold_other_languages_anchor(text) else _ANSWER_IS_EN_RE, text)
    if m is not None:
        ans = clean_answer(_leading_math(m.group(1)))
        if ans:
            return ans, "answer_is"
    m = _last_match(_ANSWER_COLON_RE, text)
    if m is not None:
        ans = clean_answer(_leading_math(m.group(1)))
        if ans:
            return ans, "answer_colon"
    # Bold: only near the end, where models put the result ("So there are **73** ways."); a
    # bold heading earlier in a long derivation is not an answer.
    tail_lines = [ln for ln in text.rstrip().splitlines() if ln.strip()][-_BOLD_MAX_LINES_FROM_END:]
    tail = "\n".join(tail_lines)
    bold = [
        m for m in _BOLD_RE.finditer(tail)
        # "**Conclusion**: ...", "**结论**：..." - a bold word before a colon labels what follows
        if not _BOLD_LABEL_RE.search(m.group(1).strip()) and not re.match(r"\s*[:：]", tail[m.end():])
    ]
    if bold:
        ans = clean_answer(bold[-1].group(1))
        if ans:
            return ans, "bold"
    bare = bare_formula(text)
    if bare is not None:
        return bare, "bare"
    return None, "none"


_LEADING_MATH_RE = re.compile(r"^\s*(\$[^$]+\$|\\\([^$]*?\\\))\s*[,;:]?\s+([^$\\]*)$")


def _leading_math(capture: str) -> str:
    """The math segment that opens a phrase's capture when only prose follows it:
    "$x^2+1,$ as required" -> "$x^2+1,$" (several segments, "$5$ or $6$", are left whole)."""
    m = _LEADING_MATH_RE.match(capture)
    if m and re.search(r"[A-Za-z]", m.group(2)) and not re.search(r"\d", m.group(2)):
        return m.group(1)
    return capture


def _stated_after_boxes(text: str) -> tuple[str, str] | None:
    """An explicit "the final answer is X" / "Final Answer: X" after the last box, when X holds
    a value (a digit, a letter-free formula or math markup), as ``(X, rule)``."""
    last_box = None
    for m in _BOX_RE.finditer(text):
        last_box = m
    if last_box is None:
        return None
    _, box_end = _box_content(text, last_box.end())
    tail = text[box_end:]
    if not _FINAL_STATED_RE.search(tail):
        return None
    for pattern, rule in ((_ANSWER_IS_RE, "answer_is"), (_ANSWER_COLON_RE, "answer_colon")):
        m = _last_match(pattern, tail)
        if m is not None and _FINAL_STATED_RE.search(tail[max(0, m.start() - 20) : m.start(1)]):
            ans = clean_answer(m.group(1))
            if ans and (re.search(r"[\d\\^=+]", ans) or len(ans) <= 3):
                return ans, rule
    return None


# A short response that is only a formula: no sentence, at most a few "words" that are LaTeX
# commands, \text{} content or single letters.
_BARE_MAX_CHARS = 80
_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_ONE_WORD_RE = re.compile(r"[A-Za-z]{1,20}")
# Letters of other scripts (accented Latin, Cyrillic, kana, CJK, Hangul): words of a sentence.
_NON_LATIN_PROSE_RE = re.compile(r"[\u00c0-\u024f\u0400-\u04ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_FUNCTION_WORDS = frozenset("sin cos tan cot sec csc log ln exp lim max min gcd lcm mod det arcsin arccos arctan sinh cosh tanh".split())


def bare_formula(text: str) -> str | None:
    """``text`` itself when it is a short formula-only response (``t^2-4t+4``, ``$\\dfrac{2}{5}$``,
    ``\\text{even}``, ``x = 3``, a single word such as ``even``), else ``None``: one line of at most
    80 characters, with no prose word outside ``\\text{}`` (LaTeX commands and function names such
    as ``sin`` are not prose)."""
    s = text.strip()
    if not s or len(s) > _BARE_MAX_CHARS or "\n" in s or _BOX_RE.search(s):
        return None
    cleaned = clean_answer(s)
    if not cleaned:
        return None
    outside_text = re.sub(r"\\(?:text|textbf|mathrm|mbox|operatorname|mathbf|textit)\s*\{[^{}]*\}", " ", cleaned)
    outside_text = re.sub(r"\\(?:begin|end)\s*\{[A-Za-z*]+\}", " ", outside_text)  # \begin{pmatrix}
    outside_text = re.sub(r"\\[A-Za-z]+", " ", outside_text)
    if _NON_LATIN_PROSE_RE.search(outside_text):  # "计划的比例为13/28" is a sentence, not a formula
        return None
    words = [w for w in _PROSE_WORD_RE.findall(outside_text) if w.lower() not in _FUNCTION_WORDS]
    if words and not _ONE_WORD_RE.fullmatch(cleaned):  # a one-word response ("even") is its answer
        return None
    if not re.search(r"[0-9A-Za-z]", outside_text) and "\\text" not in cleaned and "\\" not in cleaned:
        return None
    return cleaned


def extract_final_answer(text: str) -> str | None:
    """The final answer in ``text``, by priority: the last ``\\boxed{}``/``\\fbox{}`` > the last
    ``<answer>`` tag > the last "the answer is X" > the last ``Answer: X`` line > a bold ``**X**``
    in the last lines. Surrounding ``$``, bold and a trailing period are stripped. ``None`` when
    no rule applies (the caller decides whether to fall back to anything looser)."""
    return extract_with_source(text)[0]
