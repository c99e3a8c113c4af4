"""Natural-language rendering of puzzles: role words, names, attribution phrasings, statements.

The preamble, the inhabitant list and the question follow the public K&K text ("A very special
island is inhabited only by knights and knaves. ...", "So who is a knight and who is a knave?"), so
existing consumers and reward parsers keep working. Fixed against the public generators' slips:

* plurals and articles come from a table, not from appending "s" ("heroes", "an altruist");
* indirect speech ("A said that ...") starts the statement in lower case ("... that if B is ...");
  direct quotes start with a capital ("A said, \\"If B is ...\\"");
* any compound statement nested inside another is parenthesised (the public renderer only handled
  depth 2), and a negated compound reads "it is not the case that (...)";
* two inhabitants are listed as "A and B" (no serial comma).

A rendered quiz can be parsed back into its :class:`Layout` (which phrasing each person got and in
which order the sentences come) by :func:`parse_layout`; perturbations use that to change one
thing while keeping the rest of the text identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from cotforge.errors import UsageError

from cotforge.datagen.kk.statements import AND, IFF, IMPLIES, LIE, NOT, OR, TRUTH, Statement, is_leaf
from cotforge.datagen.kk.style import PUBLIC_COMMON_NAMES, PUBLIC_TEMPLATES, PUBLIC_UNCOMMON_NAMES, STYLES


@dataclass(frozen=True)
class RolePair:
    """Role words with their grammar: singular, plural, and with the indefinite article."""

    knight: str
    knave: str
    knights: str
    knaves: str
    a_knight: str
    a_knave: str

    @property
    def spec(self) -> str:
        return f"{self.knight}/{self.knave}"

    def flipped(self) -> "RolePair":
        return RolePair(self.knave, self.knight, self.knaves, self.knights, self.a_knave, self.a_knight)

    def words(self) -> dict[str, str]:
        """The public ``knight_knave`` field."""
        return {
            "Knave": self.knave.capitalize(),
            "Knight": self.knight.capitalize(),
            "a_knave": self.a_knave,
            "a_knight": self.a_knight,
            "knave": self.knave,
            "knight": self.knight,
        }


def _pair(knight: str, knave: str, knights: str, knaves: str, art_knight: str = "a", art_knave: str = "a") -> RolePair:
    return RolePair(knight, knave, knights, knaves, f"{art_knight} {knight}", f"{art_knave} {knave}")


#: The public role pairs (the knight/knave original and the six of the language perturbations).
ROLE_PAIRS: dict[str, RolePair] = {
    p.spec: p
    for p in (
        _pair("knight", "knave", "knights", "knaves"),
        _pair("pioneer", "laggard", "pioneers", "laggards"),
        _pair("saint", "sinner", "saints", "sinners"),
        _pair("hero", "villain", "heroes", "villains"),
        _pair("angel", "devil", "angels", "devils", "an"),
        _pair("altruist", "egoist", "altruists", "egoists", "an", "an"),
        _pair("sage", "fool", "sages", "fools"),
    )
}


def role_pair(spec: str, option: str = "role_pair") -> RolePair:
    """A role pair by name; the reversed name gives the flipped pair ("knave/knight")."""
    if isinstance(spec, str):
        if spec in ROLE_PAIRS:
            return ROLE_PAIRS[spec]
        first, _, second = spec.partition("/")
        flipped = f"{second}/{first}"
        if flipped in ROLE_PAIRS:
            return ROLE_PAIRS[flipped].flipped()
    raise UsageError(
        f"option '{option}' must be one of {', '.join(ROLE_PAIRS)} (or one of them reversed, to flip the roles), got {spec!r}"
    )


def role_pair_from_words(words: Mapping[str, str]) -> RolePair:
    """The role pair of a row's ``knight_knave`` field (known pairs keep their irregular plurals)."""
    knight, knave = words["knight"], words["knave"]
    spec = f"{knight}/{knave}"
    for name, pair in ROLE_PAIRS.items():
        if name == spec:
            return pair
        if pair.flipped().spec == spec:
            return pair.flipped()
    return RolePair(knight, knave, _plural(knight), _plural(knave), words["a_knight"], words["a_knave"])


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


COMMON_NAMES = (
    "Alice", "Amelia", "Andrew", "Anna", "Ava", "Benjamin", "Charlotte", "Chloe", "Daniel", "David",
    "Eleanor", "Elijah", "Ella", "Emily", "Emma", "Ethan", "Evelyn", "Gabriel", "Hannah", "Harper",
    "Henry", "Isaac", "Isabella", "Jack", "Jacob", "James", "Julia", "Laura", "Leah", "Liam",
    "Lily", "Lucas", "Lucy", "Mason", "Matthew", "Mia", "Michael", "Nathan", "Noah", "Oliver",
    "Olivia", "Owen", "Paul", "Peter", "Rachel", "Ryan", "Samuel", "Sarah", "Sofia", "Sophia",
    "Thomas", "Victoria", "William", "Zoe",
)  # fmt: skip

UNCOMMON_NAMES = (
    "Aldous", "Anselm", "Aurelio", "Balthazar", "Bertrand", "Caspian", "Cassius", "Cordelia", "Delphine",
    "Dorian", "Elowen", "Ephraim", "Eulalia", "Evander", "Fenella", "Florian", "Gideon", "Gwendolyn",
    "Hyacinth", "Ignatius", "Isolde", "Jessamy", "Leocadia", "Lysander", "Marisol", "Meriwether",
    "Nerissa", "Oberon", "Octavia", "Ottoline", "Peregrine", "Perpetua", "Quillon", "Rosalind",
    "Saoirse", "Seraphina", "Solveig", "Tamsin", "Thaddeus", "Theodora", "Ulrich", "Valentina",
    "Wilhelmina", "Xanthe", "Ysolde", "Zebedee", "Zenobia", "Zephyr", "Araminta", "Barnaby",
    "Clementine", "Eustace",
)  # fmt: skip

NAME_POOLS: dict[str, tuple[str, ...]] = {"common": COMMON_NAMES, "uncommon": UNCOMMON_NAMES}
#: Name pools per wording style (see :mod:`.style`).
STYLE_NAME_POOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "cotforge": NAME_POOLS,
    "public": {"common": PUBLIC_COMMON_NAMES, "uncommon": PUBLIC_UNCOMMON_NAMES},
}

#: Attribution phrasings. ``{content}``: the statement in indirect speech (lower-case start);
#: ``{Content}``: in a direct quote (capitalised).
TEMPLATES: tuple[str, ...] = (
    "{name} said that {content}.",
    "{name} told you that {content}.",
    "{name} claimed that {content}.",
    "{name} insisted that {content}.",
    "{name} mentioned that {content}.",
    '{name} said, "{Content}."',
    '{name} stated, "{Content}."',
    '{name} remarked, "{Content}."',
    '{name} declared, "{Content}."',
    '{name} commented, "{Content}."',
    '{name} noted, "{Content}."',
    'According to {name}, "{Content}."',
    "In {name}'s words: \"{Content}.\"",
    'As {name} put it, "{Content}."',
    '{name} was heard saying, "{Content}."',
    '"{Content}," {name} declared.',
    '"{Content}," {name} claimed.',
    '"{Content}," said {name}.',
    'In a statement by {name}: "{Content}."',
)
#: Attribution phrasings per wording style.
STYLE_TEMPLATES: dict[str, tuple[str, ...]] = {"cotforge": TEMPLATES, "public": PUBLIC_TEMPLATES}


def name_pool(style: str, pool: str) -> tuple[str, ...]:
    return STYLE_NAME_POOLS[style][pool]


@dataclass(frozen=True)
class Layout:
    """Everything about a quiz's wording that is not logic."""

    names: tuple[str, ...]
    roles: RolePair
    templates: tuple[int, ...]  # index into the style's templates, per person
    order: tuple[int, ...]  # people in the order their sentences appear
    style: str = "cotforge"  # whose templates: "cotforge" (TEMPLATES) or "public" (PUBLIC_TEMPLATES)


def _atom(names: Sequence[str], roles: RolePair, leaf: Statement, negated: bool = False) -> str:
    role = roles.a_knight if leaf[0] == TRUTH else roles.a_knave
    return f"{names[leaf[1]]} is not {role}" if negated else f"{names[leaf[1]]} is {role}"


def _is_atomic(stmt: Statement) -> bool:
    """Reads as one clause: a leaf, or a negated leaf ("A is not a knight")."""
    return is_leaf(stmt) or (stmt[0] == NOT and is_leaf(stmt[1]))


def render_statement(stmt: Statement, names: Sequence[str], roles: RolePair) -> str:
    """The statement as a clause, lower-case start (for indirect speech)."""
    return render_statements((stmt,), names, roles)[0]


def render_statements(statements: Sequence[Statement], names: Sequence[str], roles: RolePair) -> list[str]:
    """:func:`render_statement` for each statement (the format arguments are built once)."""
    if len(names) > _MAX_SLOTS:
        raise ValueError(f"at most {_MAX_SLOTS} people can be rendered, got {len(names)}")
    args = (*names, *_BLANKS[len(names) :], roles.a_knight, roles.a_knave)
    out = []
    for stmt in statements:
        template = _TEMPLATE_CACHE.get(stmt)
        if template is None:
            if len(_TEMPLATE_CACHE) >= 1 << 18:
                _TEMPLATE_CACHE.clear()
            template = _TEMPLATE_CACHE[stmt] = _render(stmt, _SLOTS, _ROLE_SLOTS)
        out.append(template.format(*args))
    return out


# Statements recur across a dataset, so each is rendered once into a format string with a slot per
# person and two for the role words ("{2} is {64} or {0} is {65}") and filled per puzzle.
_MAX_SLOTS = 64
_TEMPLATE_CACHE: dict = {}
_SLOTS = tuple("{%d}" % i for i in range(_MAX_SLOTS))
_BLANKS = ("",) * _MAX_SLOTS
_ROLE_SLOTS = RolePair("{64}", "{65}", "", "", "{64}", "{65}")


def _render(stmt: Statement, names: Sequence[str], roles: RolePair) -> str:
    op = stmt[0]
    if op == TRUTH or op == LIE:
        return _atom(names, roles, stmt)
    if op == NOT:
        child = stmt[1]
        if is_leaf(child):
            return _atom(names, roles, child, negated=True)
        return f"it is not the case that {_wrap(child, names, roles)}"
    if op == AND or op == OR:
        return f" {op} ".join(_wrap(c, names, roles) for c in stmt[1:])
    if op == IMPLIES:
        return f"if {_wrap(stmt[1], names, roles)} then {_wrap(stmt[2], names, roles)}"
    if op == IFF:
        return f"{_wrap(stmt[1], names, roles)} if and only if {_wrap(stmt[2], names, roles)}"
    raise ValueError(f"unknown operator {op!r}")


def _wrap(stmt: Statement, names: Sequence[str], roles: RolePair) -> str:
    text = _render(stmt, names, roles)
    if _is_atomic(stmt):
        return text
    return f"({text})"


def capitalise(text: str) -> str:
    if not text or text[0].isupper():
        return text
    if text[0].isalpha():
        return text[0].upper() + text[1:]
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def sentence(template: int, name: str, content: str, style: str = "cotforge") -> str:
    text = _POSITIONAL[style][template]
    # only the quoted phrasings start with the statement ("{2}"): capitalise just for those
    return text.format(name, content, capitalise(content) if _CAPITAL[style][template] else "")


_POSITIONAL = {
    style: tuple(t.replace("{name}", "{0}").replace("{content}", "{1}").replace("{Content}", "{2}") for t in templates)
    for style, templates in STYLE_TEMPLATES.items()
}


_CAPITAL = {style: tuple("{2}" in t for t in templates) for style, templates in _POSITIONAL.items()}


def join_names(items: Sequence[str]) -> str:
    """"A", "A and B", "A, B, and C"."""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]


def preamble(roles: RolePair, names: Sequence[str]) -> str:
    return (
        f"A very special island is inhabited only by {roles.knights} and {roles.knaves}. "
        f"{roles.knights.capitalize()} always tell the truth, and {roles.knaves} always lie. "
        f"You meet {len(names)} inhabitants: {join_names(names)}."
    )


def question(roles: RolePair) -> str:
    return f"So who is {roles.a_knight} and who is {roles.a_knave}?"


def render_quiz(layout: Layout, contents: Sequence[str]) -> str:
    """The quiz text; ``contents[p]`` is person p's rendered statement."""
    names, templates, roles = layout.names, layout.templates, layout.roles
    positional, capital = _POSITIONAL[layout.style], _CAPITAL[layout.style]
    parts = [preamble(roles, names)]
    for p in layout.order:
        t, content = templates[p], contents[p]
        parts.append(positional[t].format(names[p], content, capitalise(content) if capital[t] else ""))
    parts.append(question(roles))
    return " ".join(parts)


def solution_text(names: Sequence[str], roles: RolePair, solution: Sequence[bool]) -> str:
    """"A is a knight, B is a knave, and C is a knight." """
    parts = [f"{name} is {roles.a_knight if s else roles.a_knave}" for name, s in zip(names, solution)]
    return join_names(parts) + "."


def solution_text_format(names: Sequence[str], roles: RolePair, solution: Sequence[bool]) -> str:
    """"(1) A is a knight\\n(2) B is a knave" - the public answer format."""
    return "\n".join(
        f"({i + 1}) {name} is {roles.a_knight if s else roles.a_knave}" for i, (name, s) in enumerate(zip(names, solution))
    )


def parse_layout(
    quiz: str, names: Sequence[str], roles: RolePair, contents: Sequence[str], styles: Sequence[str] = STYLES
) -> Layout | None:
    """Recover which phrasing each person got, the sentence order and the style, or None if ``quiz``
    was not rendered by this module with these names, roles and statements. ``styles`` are tried
    in order (several templates are common to both styles, so the first that fits wins)."""
    for style in styles:
        found = _parse_layout(quiz, names, roles, contents, style)
        if found is not None:
            return found
    return None


def _parse_layout(quiz: str, names: Sequence[str], roles: RolePair, contents: Sequence[str], style: str) -> Layout | None:
    templates_of_style = STYLE_TEMPLATES[style]
    head, tail = preamble(roles, names) + " ", " " + question(roles)
    if not (quiz.startswith(head) and quiz.endswith(tail)):
        return None
    body = quiz[len(head) : len(quiz) - len(tail)]
    n = len(names)
    templates: list[int | None] = [None] * n
    order: list[int] = []
    pos = 0
    while len(order) < n:
        found = None
        for p in range(n):
            if templates[p] is not None:
                continue
            for t in range(len(templates_of_style)):
                text = sentence(t, names[p], contents[p], style)
                if body.startswith(text, pos) and (pos + len(text) == len(body) or body[pos + len(text)] == " "):
                    found = (p, t, len(text))
                    break
            if found:
                break
        if found is None:
            return None
        p, t, length = found
        templates[p] = t
        order.append(p)
        pos += length + 1
    if pos - 1 != len(body):
        return None
    return Layout(tuple(names), roles, tuple(templates), tuple(order), style)  # type: ignore[arg-type]
