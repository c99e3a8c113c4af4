"""K&K gold answers in every shape the public data and cotforge rows use, read into one
:class:`KKGold`: the ``solution_text_format`` string, the ``solution_text`` sentence, a dict with
``names`` and ``solution`` (True = the truthful role), or a whole row (which may carry the role
words in ``knight_knave``, as perturbed puzzles do)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

#: Role-word pairs of the K&K dataset and its language-level perturbations: (truthful, liar).
ROLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("knight", "knave"),
    ("pioneer", "laggard"),
    ("saint", "sinner"),
    ("hero", "villain"),
    ("angel", "devil"),
    ("altruist", "egoist"),
    ("sage", "fool"),
)



# --------------------------------------------------------------------------------------------
# Gold


@dataclass(frozen=True)
class KKGold:
    """A puzzle's solution: people in order, True for the truthful role, and the two role words."""

    names: tuple[str, ...]
    solution: tuple[bool, ...]
    roles: tuple[str, str] = ("knight", "knave")

    def role_of(self, truthful: bool) -> str:
        return self.roles[0] if truthful else self.roles[1]

    def text(self) -> str:
        """The ``solution_text_format`` rendering."""
        return "\n".join(
            f"({i}) {n} is {_article(self.role_of(s))} {self.role_of(s)}"
            for i, (n, s) in enumerate(zip(self.names, self.solution), 1)
        )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _plural(word: str) -> str:
    return word + "es" if word.endswith("o") else word + "s"


def _pair_for(words: set[str]) -> tuple[str, str] | None:
    for pair in ROLE_PAIRS:
        if words <= set(pair):
            return pair
    return None


def _roles_option(roles: Any) -> tuple[str, str] | None:
    """Normalise a ``roles`` option: a (truthful, liar) pair or a ``knight_knave`` mapping."""
    if roles is None:
        return None
    if isinstance(roles, Mapping):
        t, f = roles.get("knight"), roles.get("knave")
        if isinstance(t, str) and isinstance(f, str) and t.strip() and f.strip():
            return (t.strip().lower(), f.strip().lower())
        raise ValueError(f"role mapping needs 'knight' and 'knave' words, got {dict(roles)!r}")
    if isinstance(roles, str):
        parts = [p for p in re.split(r"[\s,/]+", roles.strip()) if p]
        roles = parts
    if isinstance(roles, Sequence) and len(roles) == 2 and all(isinstance(r, str) and r.strip() for r in roles):
        t, f = (r.strip().lower() for r in roles)
        if t == f:
            raise ValueError(f"the two role words must differ, got {roles!r}")
        return (t, f)
    raise ValueError(f"roles must be a (truthful, liar) pair of words, got {roles!r}")


_GOLD_ITEM_RE = re.compile(
    r"^\s*(?:\(\d+\)|\d+[.)])?\s*(?P<name>.+?)\s+is\s+(?:an?\s+)?(?P<role>[A-Za-z]+)\s*[.;]?\s*$",
    re.IGNORECASE,
)


def _parse_gold_text(text: str, roles: tuple[str, str] | None) -> KKGold:
    text = text.strip()
    if not text:
        raise ValueError("empty gold answer")
    if "\n" in text.strip():
        items = [ln for ln in text.splitlines() if ln.strip()]
    else:
        # "A is a knight, B is a knave, and C is a knight." / "(1) A is a knight (2) B is ..."
        body = text.rstrip(". ")
        if re.search(r"\(\d+\)", body):
            items = [p for p in re.split(r"\s*(?=\(\d+\))", body) if p.strip()]
        else:
            items = [p for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", body) if p.strip()]
    names: list[str] = []
    words: list[str] = []
    for item in items:
        m = _GOLD_ITEM_RE.match(item)
        if not m:
            raise ValueError(f"cannot read gold item {item.strip()!r}")
        names.append(m.group("name").strip().strip("*").strip())
        words.append(m.group("role").lower())
    if len({n.lower() for n in names}) != len(names):
        raise ValueError(f"gold names a person twice: {names}")
    pair = roles
    if pair is None:
        pair = _pair_for(set(words))
        if pair is None:
            raise ValueError(f"gold role words {sorted(set(words))} are not a known role pair; pass roles=(truthful, liar)")
    bad = sorted(set(words) - set(pair))
    if bad:
        raise ValueError(f"gold uses role words {bad} outside the role pair {pair}")
    return KKGold(tuple(names), tuple(w == pair[0] for w in words), pair)


def _as_bool_list(solution: Any) -> list[bool]:
    if isinstance(solution, str):
        try:
            solution = ast.literal_eval(solution)
        except (ValueError, SyntaxError):
            raise ValueError(f"solution {solution!r} is not a list of booleans") from None
    if hasattr(solution, "tolist"):  # numpy arrays from pandas / datasets
        solution = solution.tolist()
    if not isinstance(solution, (list, tuple)) or not all(isinstance(s, bool) for s in solution):
        raise ValueError(f"solution must be a list of booleans, got {solution!r}")
    return list(solution)


def parse_gold(gold: Any, roles: Any = None) -> KKGold:
    """Read a gold answer in any supported shape; raise ``ValueError`` saying what is wrong.

    ``roles`` (a pair or a ``knight_knave`` mapping) overrides the role words; otherwise they come
    from the row's ``knight_knave`` field or are recognised from the gold text (knight/knave by
    default for ``names`` + ``solution``).
    """
    if isinstance(gold, KKGold):
        return gold if roles is None else KKGold(gold.names, gold.solution, _roles_option(roles))
    pair = _roles_option(roles)
    if isinstance(gold, Mapping):
        if pair is None and gold.get("knight_knave") is not None:
            pair = _roles_option(gold["knight_knave"])
        if pair is None and gold.get("roles") is not None:
            pair = _roles_option(gold["roles"])
        names, solution = gold.get("names"), gold.get("solution")
        if names is not None and solution is not None:
            if hasattr(names, "tolist"):
                names = names.tolist()
            if isinstance(names, str):
                try:
                    names = ast.literal_eval(names)
                except (ValueError, SyntaxError):
                    raise ValueError(f"names {names!r} is not a list of strings") from None
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
                raise ValueError(f"names must be a list of non-empty strings, got {names!r}")
            sol = _as_bool_list(solution)
            if len(sol) != len(names):
                raise ValueError(f"{len(names)} names but {len(sol)} solution entries")
            if len({n.strip().lower() for n in names}) != len(names):
                raise ValueError(f"names repeat a person: {names}")
            return KKGold(tuple(n.strip() for n in names), tuple(sol), pair or ROLE_PAIRS[0])
        for key in ("solution_text_format", "answer", "solution_text"):
            value = gold.get(key)
            if isinstance(value, str) and value.strip():
                return _parse_gold_text(value, pair)
        rm = gold.get("reward_model")  # Logic-RL parquet rows
        if isinstance(rm, Mapping) and isinstance(rm.get("ground_truth"), Mapping):
            return parse_gold(rm["ground_truth"], pair)
        raise ValueError(
            "gold mapping has neither names + solution nor a solution_text_format / answer / solution_text string"
        )
    if isinstance(gold, str):
        return _parse_gold_text(gold, pair)
    raise ValueError(f"unsupported gold type {type(gold).__name__}")
