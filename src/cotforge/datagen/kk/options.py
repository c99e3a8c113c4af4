"""Options of a K&K split, the shortage error, and the exact-count entry point."""

from __future__ import annotations

from dataclasses import dataclass

from cotforge.errors import UsageError

from cotforge.datagen.kk.render import NAME_POOLS, ROLE_PAIRS, name_pool, role_pair
from cotforge.datagen.kk.style import STYLES
from cotforge.datagen.kk.solver import MAX_PEOPLE


@dataclass(frozen=True)
class KKOptions:
    """How puzzles are drawn and worded. Invalid values raise :class:`UsageError` naming the option.

    depth, width: the grammar's constraints (RECIPES.md section 4); the defaults (2, 2) are the
        public K&K/Logic-RL distribution.
    filter_degenerate: reject drafts in which a statement is a tautology or a contradiction.
    role_pair: the role words for the whole split, e.g. "knight/knave", "hero/villain"; the
        reversed spelling ("knave/knight") flips them (truth-tellers are called knaves).
    name_pool: "common" or "uncommon" first names.
    style: "cotforge" (its own attribution templates and name pools) or "public" (exactly the 18
        templates and the 51 common / 50 uncommon names of the public generator, :mod:`.style`).
    """

    depth: int = 2
    width: int = 2
    filter_degenerate: bool = False
    role_pair: str = "knight/knave"
    name_pool: str = "common"
    style: str = "cotforge"

    def __post_init__(self):
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise UsageError(f"option 'depth' must be an integer >= 1, got {self.depth!r}")
        if self.depth > 6:
            raise UsageError(f"option 'depth' must be at most 6 (statements beyond that are unreadable), got {self.depth}")
        if not isinstance(self.width, int) or isinstance(self.width, bool) or self.width < 2:
            raise UsageError(f"option 'width' must be an integer >= 2, got {self.width!r}")
        if self.width > 8:
            raise UsageError(f"option 'width' must be at most 8, got {self.width}")
        if not isinstance(self.filter_degenerate, bool):
            raise UsageError(f"option 'filter_degenerate' must be true or false, got {self.filter_degenerate!r}")
        role_pair(self.role_pair, option="role_pair")  # raises naming the option and the known pairs
        if self.name_pool not in NAME_POOLS:
            raise UsageError(f"option 'name_pool' must be one of {', '.join(NAME_POOLS)}, got {self.name_pool!r}")
        if self.style not in STYLES:
            raise UsageError(f"option 'style' must be one of {', '.join(STYLES)}, got {self.style!r}")


class KKShortage(UsageError):
    """A size cannot supply the number of distinct puzzles asked for.

    ``available``: the exact number that exist (when enumerable), or how many were found before
    the stall guard tripped.
    """

    def __init__(self, message: str, available: int | None):
        self.available = available
        super().__init__(message)


class KKPerturbationError(UsageError):
    """A row admits no perturbation of the kind asked (e.g. no single-leaf change keeps a unique but
    different solution: exhaustive for ``leaf``, after bounded tries for ``statement``). Callers
    building perturbed splits catch this to skip the row."""

    def __init__(self, message: str, row_id: str | None, kind: str):
        self.row_id, self.kind = row_id, kind
        super().__init__(message)


def check_people(n_people: int, options: KKOptions) -> None:
    if not isinstance(n_people, int) or isinstance(n_people, bool) or not 2 <= n_people <= MAX_PEOPLE:
        raise UsageError(f"option 'n_people' must be an integer from 2 to {MAX_PEOPLE}, got {n_people!r}")
    pool = name_pool(options.style, options.name_pool)
    if n_people > len(pool):
        raise UsageError(
            f"option 'n_people' is {n_people} but the {options.style} '{options.name_pool}' name pool has {len(pool)} names"
        )


def describe(n_people: int, options: KKOptions) -> str:
    extra = ", no degenerate statements" if options.filter_degenerate else ""
    return f"{n_people}-person puzzles (depth {options.depth}, width {options.width}{extra})"


def count_distinct(n_people: int, options: KKOptions) -> int | None:
    """Exact number of distinct unique-solution puzzle identities, or None when too many to enumerate.

    Depth 1 (leaves only) admits no puzzle at all: every statement is then "p is a knight/knave", so
    each constraint equates two roles or their opposites, and flipping everyone's role preserves
    all of them - a solution never comes alone.
    """
    from cotforge.datagen.kk.count import count_distinct_exact

    check_people(n_people, options)
    if options.depth == 1:
        return 0
    return count_distinct_exact(n_people, options.depth, options.width, options.filter_degenerate)


__all__ = ["KKOptions", "KKPerturbationError", "KKShortage", "ROLE_PAIRS", "count_distinct", "check_people", "describe"]
