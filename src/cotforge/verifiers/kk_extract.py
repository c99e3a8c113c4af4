"""Reading a K&K response: claims per person ("A is a knight", "A and B are knaves", "A: knave"),
hedges (conditionals, disjunctions, quotations), the answer block, and the final assignment.
See :mod:`cotforge.verifiers.kk` for the rules these implement."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from cotforge.verifiers.kk_gold import ROLE_PAIRS, KKGold, _plural

# --------------------------------------------------------------------------------------------
# Claims in a response


@dataclass(frozen=True)
class _Claim:
    start: int
    end: int
    people: tuple[int, ...]  # indices into gold.names
    roles: frozenset[bool]  # claimed roles (more than one -> this claim is ambiguous by itself)
    hedged: bool


@dataclass(frozen=True)
class Assignment:
    """What a response asserts: per person the set of claimed roles (empty = not assigned)."""

    source: str  # "answer_tag", "conclusion", "final_assignment" or "none"
    claimed: tuple[frozenset[bool], ...]
    unknown: tuple[str, ...] = ()  # items naming someone ("name 'Dave'") or a role ("role 'hero'") not in the puzzle
    text: str = ""

    @property
    def any(self) -> bool:
        return any(self.claimed)

    @property
    def complete(self) -> bool:
        return all(len(c) == 1 for c in self.claimed)


_ADVERBS = r"(?:(?:also|definitely|certainly|indeed|actually|clearly|thus|therefore|truly|really|necessarily|surely)\s+)"
_ARTICLE = r"(?:(?:a|an|the)\s+)"
_VERB = r"(?:\s+(?:is|was|must\s+be|has\s+to\s+be|turns\s+out\s+to\s+be)\s+|\s*[:=]\s*|\s+[-\u2013\u2014]+\s+|\s*(?:->|=>|\u2192|\u21d2)\s*)"
_GROUP_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)"
_ALT_SEP = r"(?:\s*[/,]\s*|\s+)(?:(?:or|and|but|nor)\s+)?"


class _Patterns:
    """Regexes built for one puzzle's names and role words (cached: puzzles repeat across samples)."""

    def __init__(self, names: tuple[str, ...], roles: tuple[str, str]):
        self.index = {n.lower(): i for i, n in enumerate(names)}
        forms: dict[str, bool] = {}
        for truthful, word in ((True, roles[0]), (False, roles[1])):
            forms[word] = truthful
            forms[_plural(word)] = truthful
            forms[word + "s"] = truthful
        self.forms = forms
        role_alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        name_alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        name = rf"(?<![\w'])(?:{name_alt})(?![\w'])"
        role = rf"(?:{role_alt})(?![\w])"
        alt = rf"(?:{_ALT_SEP}(?:not\s+)?{_ARTICLE}?{role})*"
        single = (
            rf"(?P<sname>{name})(?:\s+(?:is|was)(?P<sneg0>n't)\s+|{_VERB})"
            rf"{_ADVERBS}?(?P<sneg>not\s+)?{_ARTICLE}?(?P<srole>{role})(?P<salt>{alt})"
        )
        group = (
            rf"(?P<gnames>{name}(?:{_GROUP_SEP}{name})+)\s+(?:are|were|must\s+be)(?P<gneg0>n't)?\s+"
            rf"(?:(?:both|all|also|each)\s+)?(?P<gneg>not\s+)?(?P<grole>{role})(?P<galt>{alt})"
        )
        self.claim = re.compile(rf"{group}|{single}", re.IGNORECASE)
        self.name = re.compile(name, re.IGNORECASE)
        self.role = re.compile(rf"(?<![\w])(?P<neg>not\s+)?{_ARTICLE}?(?P<role>{role})", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _patterns(names: tuple[str, ...], roles: tuple[str, str]) -> _Patterns:
    return _Patterns(names, roles)


# Conditional / modal words: a claim in the same comma-delimited clause is not asserted.
_CLAUSE_HEDGE = re.compile(
    r"\b(?:if|unless|assume|assumes|assumed|assuming|suppose|supposed|supposing|would|could|might|may|maybe|"
    r"perhaps|possibly|probably|likely|hypothetically|"
    # reported speech: a restated statement is not the speaker's (or the model's) assertion
    r"said|says|say|saying|claim|claims|claimed|claiming|states|stated|told|tells|tell|mentioned|mentions|"
    r"declared|declares|asserted|asserts|insists|insisted|according|heard)\b",
    re.IGNORECASE,
)
# Disjunction: every claim in the sentence is a hedge.
_SENTENCE_HEDGE = re.compile(r"\b(?:or|either|neither|nor|whether)\b", re.IGNORECASE)
# A sentence that opens hypothetically hedges all of its claims ("If A is a knight, B is a knave.").
_SENTENCE_OPENER = re.compile(
    r"^[\s\W\d]*(?:(?:so|and|but|now|then|next|first|second|third|finally|also|again)[\s,]+)*"
    r"(?:if|assume|assuming|suppose|supposing|hypothetically|imagine|consider|when|case|"
    r"let'?s\s+(?:assume|suppose|say|consider|test|try|check)|let\s+us\s+(?:assume|suppose|say|consider|test|try|check))\b",
    re.IGNORECASE,
)
_QUOTES = re.compile(r"\"[^\"\n]*\"|\u201c[^\u201d\n]*\u201d|(?<![\w])'[^'\n]*'(?![\w])")
_SENTENCE_END = re.compile(r"\n|[.!?;](?=\s|$)|(?=\(\d+\))")
_CLAUSE_END = re.compile(r"\n|[.!?;,](?=\s|$)|(?=\(\d+\))")
_MARKUP = re.compile(r"\\text(?:bf|it|rm|sf|tt)?\{([^{}]*)\}|[*`]|(?<!\w)_{1,2}|_{1,2}(?!\w)")
# What may sit between two items of one assignment list (after numbering markers are removed).
_NUMBERING = re.compile(r"\(\d+\)|(?<![\w.])\d+[.)]")
_GLUE = re.compile(
    r"^[\s,;:.\-\u2013\u2014*\u2022\u00b7|()\[\]]*(?:(?:and|also|while|whereas|but)\b[\s,;:.\-\u2013\u2014*\u2022\u00b7|()\[\]]*)*$",
    re.IGNORECASE,
)
_GLUE_MAX = 80


def _is_glue(gap: str) -> bool:
    return len(gap) <= _GLUE_MAX and bool(_GLUE.match(_NUMBERING.sub(" ", gap)))


# Assignment-shaped items, for the "unknown name or role" rule (warm-up -1; never correct in any
# preset). An item is a whole list entry - one line, one numbered "(k) ..." entry, or one comma/"and"
# separated piece of a prose sentence - that reads "<Name> is [not] [a] <word>" (or "<Name>: <word>");
# anchoring on the whole entry keeps sentences such as "This is because ..." out of it.
_ITEM = re.compile(
    r"^[\s\-*\u2022]*(?:(?:\(\d+\)|\d+[.)])\s*)?(?P<name>[A-Za-z][\w'\-]*)"
    r"(?:\s+(?:is|was|are|were|must\s+be)\s+|\s*[:=]\s*)"
    r"(?:(?:both|all|also|definitely|clearly)\s+)?(?:not\s+)?(?:an?\s+)?"
    r"(?P<role>[A-Za-z][A-Za-z\-]*)\s*[.;,!]?\s*$",
    re.IGNORECASE,
)
# A bare name: the earlier members of a group item ("Alice, Dave and Bob are knights").
_BARE_NAME = re.compile(r"^[\s\-*\u2022]*(?P<name>[A-Za-z][\w'\-]*)\s*$")
# Where one list entry ends: a line break, a numbered entry, a sentence end or a semicolon.
_ENTRY_SPLIT = re.compile(r"\n|(?=\(\d+\))|[.!?;](?=\s|$)")
# Where a prose entry splits into items: commas and "and" ("A is a knight, B is a knave, and C ...").
# Whitespace around the separators is left on the pieces (the item patterns allow it): a pattern
# starting with ``\s*`` would rescan every run of blanks from each of its positions (quadratic).
_PIECE_SPLIT = re.compile(r",(?:\s*and(?=\s))?|(?<!\S)and(?=\s)|&", re.IGNORECASE)
# Subjects that are prose, not people ("That is all.", "It is a knight's statement.").
_NOT_NAMES = frozenset(
    "this that these those it its there here which what who he she they we you i so thus hence "
    "therefore answer solution result conclusion".split()
)

# Every role word a model may use for a K&K person, in any puzzle (plural forms included).
_ROLE_VOCAB = frozenset(
    [w for pair in ROLE_PAIRS for r in pair for w in (r, r + "s", _plural(r))]
    + ["truth-teller", "truth-tellers", "truthteller", "truthtellers", "liar", "liars"]
)


def _entry_items(entry: str) -> tuple[list[tuple[str, str]], bool]:
    """The ``(name, role word)`` items of one list entry, and whether the entry is nothing else
    (every comma/"and" piece an item or a group member), i.e. part of an answer list."""
    items: list[tuple[str, str]] = []
    pure = bool(entry.strip())
    pending: list[str] = []  # bare names waiting for their group's "are <role>"
    for piece in _PIECE_SPLIT.split(entry):
        m = _ITEM.match(piece)
        if m is not None:
            items.extend((name, m.group("role")) for name in (*pending, m.group("name")))
            pending = []
            continue
        b = _BARE_NAME.match(piece)
        if b is not None:
            pending.append(b.group("name"))
        else:
            pending = []
            pure = pure and not piece.strip()
    return items, pure and not pending and bool(items)


def _unknown_items(block: str, pats: _Patterns) -> tuple[str, ...]:
    """Items naming someone who is not a person of the puzzle, or using a role word that is not
    one of the puzzle's two (the warm-up reward's -1 case). Lines, numbered entries and prose lists
    ("A is a knight, B is a knave, and Dave is a knave.") are read the same way."""
    bad: list[str] = []
    for entry in _ENTRY_SPLIT.split(block):
        for name, role in _entry_items(entry)[0]:
            key = name.lower()
            if key in pats.index:
                if role.lower() not in pats.forms:
                    bad.append(f"role {role!r}")
            elif key not in _NOT_NAMES and role.lower() in _ROLE_VOCAB:
                # Only a role-shaped claim makes an unknown word a person: "Dave is a knave" is an
                # extra person, "Everything is consistent" is prose.
                bad.append(f"name {name!r}")
    return tuple(dict.fromkeys(bad))


def _list_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` (a final assignment found in free text) to the whole answer list
    around it: the entries it touches plus neighbouring entries that are nothing but items, so a
    "(4) Dave is a knave" line or a ", and Dave is a knave" tail is read with the list."""
    cuts = sorted({0, len(text), *(m.end() for m in _ENTRY_SPLIT.finditer(text))})
    spans = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    inside = [k for k, (a, b) in enumerate(spans) if a < end and b > start]
    if not inside:
        return start, end
    i, j = inside[0], inside[-1]

    def listy(k: int) -> bool:
        entry = text[spans[k][0] : spans[k][1]]
        return not entry.strip() or _entry_items(entry)[1]

    while i > 0 and listy(i - 1):
        i -= 1
    while j + 1 < len(spans) and listy(j + 1):
        j += 1
    return spans[i][0], spans[j][1]


def _normalise(text: str) -> str:
    """Drop emphasis markup and LaTeX ``\\text{}`` so claims read the same with or without it."""
    text = text.replace("\u2019", "'").replace("\u00a0", " ")
    return _MARKUP.sub(lambda m: m.group(1) if m.group(1) is not None else "", text)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _boundaries(pattern: re.Pattern[str], text: str) -> list[int]:
    return [m.end() if m.end() > m.start() else m.start() for m in pattern.finditer(text)]


def _segment(bounds: list[int], pos: int) -> tuple[int, int]:
    """(start, end) of the segment of ``text`` holding ``pos``, given sorted segment boundaries."""
    k = bisect.bisect_right(bounds, pos)
    start = bounds[k - 1] if k > 0 else 0
    end = bounds[k] if k < len(bounds) else None
    return start, (end if end is not None else 1 << 60)


def _roles_in(alt: str, pats: _Patterns) -> set[bool]:
    out: set[bool] = set()
    for m in pats.role.finditer(alt):
        truthful = pats.forms[m.group("role").lower()]
        out.add(truthful != bool(m.group("neg")))
    return out


def _claims(text: str, pats: _Patterns) -> list[_Claim]:
    """Every claim about a named person in ``text`` (already normalised), flagged when hedged."""
    quoted = [m.span() for m in _QUOTES.finditer(text)]
    hedge_text = _blank(text, quoted)
    # Names are never hedge words ("May is a knight", "Will is a knave").
    hedge_text = _blank(hedge_text, [m.span() for m in pats.name.finditer(hedge_text)])
    sent_bounds = _boundaries(_SENTENCE_END, text)
    clause_bounds = _boundaries(_CLAUSE_END, text)
    out: list[_Claim] = []
    sentence_hedged: dict[tuple[int, int], bool] = {}
    clause_hedged: dict[tuple[int, int], bool] = {}
    quoted_starts = [a for a, _ in quoted]
    for m in pats.claim.finditer(text):
        k = bisect.bisect_right(quoted_starts, m.start()) - 1
        if k >= 0 and m.start() < quoted[k][1]:  # inside a quotation: a statement, not a claim
            continue
        if m.group("gnames") is not None:
            people = tuple(pats.index[n.group(0).lower()] for n in pats.name.finditer(m.group("gnames")))
            neg = bool(m.group("gneg")) != bool(m.group("gneg0"))
            role, alt = m.group("grole"), m.group("galt")
        else:
            people = (pats.index[m.group("sname").lower()],)
            neg = bool(m.group("sneg")) != bool(m.group("sneg0"))
            role, alt = m.group("srole"), m.group("salt")
        roles = {pats.forms[role.lower()] != neg} | _roles_in(alt or "", pats)
        # The clause and sentence around the whole claim (a claim may span a comma: "A, B and C are").
        s0, s1 = _segment(sent_bounds, m.start())[0], _segment(sent_bounds, m.end() - 1)[1]
        c0, c1 = _segment(clause_bounds, m.start())[0], _segment(clause_bounds, m.end() - 1)[1]
        if (s0, s1) not in sentence_hedged:  # one scan per sentence, however many claims it holds
            sentence = hedge_text[s0 : min(s1, len(text))]
            sentence_hedged[(s0, s1)] = bool(_SENTENCE_HEDGE.search(sentence) or _SENTENCE_OPENER.search(sentence))
        if (c0, c1) not in clause_hedged:
            clause_hedged[(c0, c1)] = bool(_CLAUSE_HEDGE.search(hedge_text[c0 : min(c1, len(text))]))
        hedged = sentence_hedged[(s0, s1)] or clause_hedged[(c0, c1)]
        out.append(_Claim(m.start(), m.end(), people, frozenset(roles), hedged))
    return out


def _aggregate(claims: list[_Claim], n: int) -> tuple[frozenset[bool], ...]:
    sets: list[set[bool]] = [set() for _ in range(n)]
    for c in claims:
        if c.hedged:
            continue
        for p in c.people:
            sets[p] |= c.roles
    return tuple(frozenset(s) for s in sets)


def _final_window(text: str, claims: list[_Claim], n: int) -> tuple[list[_Claim], int] | None:
    """The last run of unhedged claims naming every person exactly once, joined only by glue."""
    live = [c for c in claims if not c.hedged]
    for j in range(len(live) - 1, -1, -1):
        seen: set[int] = set()
        i = j
        while i >= 0:
            c = live[i]
            if seen & set(c.people) or len(set(c.people)) != len(c.people):
                break
            if i < j and not _is_glue(text[c.end : live[i + 1].start]):
                break
            seen |= set(c.people)
            if len(seen) == n:
                return live[i : j + 1], j
            i -= 1
    return None


_CONCLUSION_RE = re.compile(r"\bconclusion\s*[:\uff1a]", re.IGNORECASE)
_ANSWER_TAG_RE = re.compile(r"<(/?)answer>", re.IGNORECASE)


def _answer_block(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>``, or after a final unclosed ``<answer>``
    (samplers that stop at ``</answer>`` drop it). One linear scan: no backtracking regex."""
    pending = -1  # end of the latest <answer> not yet closed
    block: tuple[int, int] | None = None
    for m in _ANSWER_TAG_RE.finditer(text):
        if not m.group(1):
            pending = m.end()
        elif pending >= 0:
            block, pending = (pending, m.start()), -1
    if pending >= 0:
        return text[pending:]
    return text[block[0] : block[1]] if block else None


def extract_assignment(gold: KKGold, answer_text: str, *, tags_only: bool = False) -> Assignment:
    """Find the final answer in ``answer_text`` (the response after any reasoning) and read it.

    ``tags_only`` restricts the search to ``<answer>`` tags (the Logic-RL and warm-up presets,
    whose format rules require them).
    """
    pats = _patterns(gold.names, gold.roles)
    n = len(gold.names)
    empty = tuple(frozenset() for _ in range(n))
    block = _answer_block(answer_text)
    source = "answer_tag"
    if block is None and not tags_only:
        m = None
        for m in _CONCLUSION_RE.finditer(answer_text):
            pass
        if m is not None:
            block, source = answer_text[m.end() :], "conclusion"
    if block is not None:
        norm = _normalise(block)
        claims = _claims(norm, pats)
        return Assignment(source, _aggregate(claims, n), _unknown_items(norm, pats), block.strip())
    if tags_only:
        return Assignment("none", empty)
    norm = _normalise(answer_text)
    claims = _claims(norm, pats)
    found = _final_window(norm, claims, n)
    if found is None:
        return Assignment("none", empty)
    window, j = found
    sets = [set(s) for s in _aggregate(window, n)]
    for c in claims:  # an unhedged claim after the window that disagrees makes that person ambiguous
        if not c.hedged and c.start >= window[-1].end:
            for p in c.people:
                sets[p] |= c.roles
    lo, hi = _list_span(norm, window[0].start, window[-1].end)
    return Assignment(
        "final_assignment",
        tuple(frozenset(s) for s in sets),
        _unknown_items(norm[lo:hi], pats),
        norm[window[0].start : window[-1].end],
    )
