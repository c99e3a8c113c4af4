"""Rows of one (n_people, split): deterministic, deduplicated, resumable.

Item ``i`` of a split is the first draft of its own random stream - keyed by (seed, split,
n_people, i), see :mod:`rng`, whose first 2n draws pick the names and phrasings - that has a
unique solution, passes the degenerate filter if on, whose dedup key is not taken yet (by an
earlier item of the split or by ``exclude_keys``, the keys of other splits) and whose logic key is
not in ``exclude_logic`` (the logic of other datasets, ``--exclude``). So item ``i`` is a pure
function of the configuration, the excluded keys and the items before it: a split that excludes
another split's keys (train excludes test) changes where a draft hits one of them, and every later
item can shift with it. Restoring the taken keys from already-written rows resumes with
byte-identical output.

Dedup ``"logic"`` (the default) keys a puzzle by its canonical logical identity
(:func:`logic_key`): no two puzzles of a split are the same up to renaming the people. Dedup
``"text"`` keys it by its statements (the public tuple string), as the public generator does:
renamed copies of one logic are allowed, which keeps the grammar's distribution where logic dedup
exhausts a small size.

Different seeds use unrelated streams, so they share no text or ids; at small sizes they do share
logic (3 people have only 2,430 distinct puzzles), which ``exclude_logic`` removes.

A size that cannot supply ``count`` distinct puzzles fails fast with :class:`KKShortage`: at
construction when the exact number is known (:func:`count_distinct`, logic dedup), otherwise when
one item's stream goes ``stall_limit`` drafts in a row without a new key.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import pyarrow as pa

from cotforge.errors import UsageError
from cotforge.records import KK_SCHEMA

from cotforge.datagen.kk.identity import logic_key
from cotforge.datagen.kk.keyset import KeySet
from cotforge.datagen.kk.options import KKOptions, KKShortage, check_people, count_distinct, describe
from cotforge.datagen.kk.render import STYLE_TEMPLATES, Layout, name_pool, role_pair
from cotforge.datagen.kk.rng import sample_distinct, stream, uniform_below
from cotforge.datagen.kk.rows import build_row
from cotforge.datagen.kk.sampler import Draft, StatementSampler
from cotforge.datagen.kk.statements import format_statements

DEDUPS = ("logic", "text")

#: Drafts (valid or not) one item may use without finding a new identity before the split is
#: declared exhausted. Generous: at 2 people the rarest of the 41 identities comes up about 7 times
#: in 10,000 drafts, so all 41 are found (and at 3 people usually all 2,430); tripping the guard
#: costs seconds, never an endless loop.
STALL_LIMIT = 200_000


class KKSplitSource:
    """Rows of one (n_people, split) for the store."""

    schema = KK_SCHEMA

    def __init__(
        self,
        n_people: int,
        split: str,
        count: int,
        seed: int,
        options: KKOptions,
        exclude_keys: frozenset[str] = frozenset(),
        stall_limit: int = STALL_LIMIT,
        *,
        dedup: str = "logic",
        exclude_logic: frozenset[str] = frozenset(),
    ):
        if not isinstance(options, KKOptions):
            raise UsageError(f"options must be a KKOptions, got {type(options).__name__}")
        check_people(n_people, options)
        if not isinstance(split, str) or not split:
            raise UsageError(f"option 'split' must be a non-empty string, got {split!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise UsageError(f"option 'count' must be an integer >= 0, got {count!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise UsageError(f"option 'seed' must be an integer, got {seed!r}")
        if dedup not in DEDUPS:
            raise UsageError(f"option 'dedup' must be one of {', '.join(DEDUPS)}, got {dedup!r}")
        self.n_people, self.split, self.count, self.seed, self.options = n_people, split, count, seed, options
        self.dedup = dedup
        self.exclude_keys = frozenset(exclude_keys)
        self.exclude_logic = frozenset(exclude_logic)
        # with logic dedup the external logic keys simply join the taken keys
        self._external = KeySet(self.exclude_logic) if dedup == "text" and self.exclude_logic else None
        self.stall_limit = stall_limit
        self.roles = role_pair(options.role_pair)
        self.names = list(name_pool(options.style, options.name_pool))
        self.templates = STYLE_TEMPLATES[options.style]
        self.sampler = StatementSampler(n_people, options.depth, options.width)
        self.available = self._check_available()

    # ------------------------------------------------------------------------------------------
    def _check_available(self) -> int | None:
        """How many identities this split can still take (None if unknown); raises if too few.

        Exact unless there is room to spare: then excluded keys are assumed to be ours, which can
        only undercount, and the (slower) key enumeration is skipped.
        """
        total = count_distinct(self.n_people, self.options)
        if total == 0:
            raise KKShortage(
                f"only 0 distinct {describe(self.n_people, self.options)} exist (none has a unique solution); "
                f"split '{self.split}' asks for {self.count}",
                available=0,
            )
        if total is None or self.dedup == "text":  # text dedup: more puzzles than identities, number unknown
            return None
        prefix = f"kk{self.n_people}-"
        excluded = {k for k in self.exclude_keys | self.exclude_logic if k.startswith(prefix)}
        if self.count + len(excluded) <= total:
            return total - len(excluded)
        available, assumed = total, ""
        if excluded:
            from cotforge.datagen.kk.count import identity_keys

            o = self.options
            keys = identity_keys(self.n_people, o.depth, o.width, o.filter_degenerate)
            if keys is None:  # too many to list: assume the excluded keys are of this configuration
                available, assumed = total - len(excluded), " (assuming all excluded keys are of this configuration)"
            else:
                available = total - len(excluded & keys)
        if self.count > available:
            taken = f" and {total - available} of them are taken by other splits{assumed}" if available != total else ""
            raise KKShortage(
                f"only {total} distinct {describe(self.n_people, self.options)} exist{taken}; "
                f"split '{self.split}' asks for {self.count}",
                available=available,
            )
        return available

    # ------------------------------------------------------------------------------------------
    def _draft(self, index: int, taken: KeySet) -> tuple[Draft, str, Layout]:
        rng = stream("kk", self.seed, self.split, self.n_people, index)
        layout = self._layout(rng)
        sampler, filt, n = self.sampler, self.options.filter_degenerate, self.n_people
        for _ in range(self.stall_limit):
            d = sampler.draft(rng, filt)
            if d is None:
                continue
            compact = None if d.ids is None else [sampler.catalogue.compact(j) for j in d.ids]
            key = logic_key(d.statements, n, d.assignment, compact)
            if self.dedup == "logic":
                if key not in taken:
                    return d, key, layout
                continue
            if self._external is not None and key in self._external:
                continue
            if self.dedup_key(d.statements, key) not in taken:
                return d, key, layout
        found = index
        known = "; more exist, but the remaining ones are too rare to reach by sampling" if self.available else ""
        raise KKShortage(
            f"split '{self.split}' stalled at item {index}: {self.stall_limit} consecutive drafts of "
            f"{describe(n, self.options)} produced no new puzzle ({found} found in this split"
            f"{', ' + str(len(self.exclude_keys)) + ' keys excluded' if self.exclude_keys else ''}{known}); ask for fewer",
            available=found,
        )

    def _layout(self, rng) -> Layout:
        """Names and phrasings: the first 2n draws of the item's stream, always exactly 2n, so the
        wording does not depend on how many drafts the puzzle took, and the language options (name
        pool, role words) change no puzzle."""
        names = tuple(sample_distinct(rng, self.names, self.n_people))
        templates = tuple(uniform_below(rng, len(self.templates)) for _ in range(self.n_people))
        return Layout(names, self.roles, templates, tuple(range(self.n_people)), self.options.style)

    def layout(self, index: int) -> Layout:
        """The wording of item ``index``."""
        return self._layout(stream("kk", self.seed, self.split, self.n_people, index))

    def dedup_key(self, statements: tuple, key: str) -> str:
        """The key two puzzles of a split must not share: the logic key, or (text dedup) the statements."""
        return key if self.dedup == "logic" else text_key(format_statements(statements), self.n_people)

    def _items(self, start: int, taken: KeySet) -> Iterator[tuple[int, Draft, str, Layout]]:
        for index in range(start, self.count):
            d, key, layout = self._draft(index, taken)
            taken.add(self.dedup_key(d.statements, key))
            yield index, d, key, layout

    def _taken(self, start: int, done: Iterable[pa.Table]) -> KeySet:
        external = self.exclude_logic if self.dedup == "logic" else frozenset()
        taken = KeySet(self.exclude_keys | external, capacity=len(self.exclude_keys) + len(external) + self.count)
        column = "logic_key" if self.dedup == "logic" else "statements"
        rows = 0
        for table in done:
            if column not in table.column_names:
                raise UsageError(f"done: the already-written rows must include the '{column}' column")
            keys = table.column(column).to_pylist()
            rows += len(keys)
            taken.update(keys if self.dedup == "logic" else (text_key(k, self.n_people) for k in keys))
        if rows != start:
            raise UsageError(f"done: holds {rows} rows but start is {start}; pass exactly the rows 0..start-1")
        return taken

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        """Yield rows index start..count-1. ``done`` holds the already-written rows 0..start-1 (tables
        with at least the logic_key column) so dedup state is restored on resume; the output is
        identical to an uninterrupted run."""
        if not isinstance(start, int) or start < 0 or start > self.count:
            raise UsageError(f"start must be between 0 and {self.count}, got {start!r}")
        taken = self._taken(start, done)
        o = self.options
        for index, d, key, layout in self._items(start, taken):
            yield build_row(
                d.statements, d.tables, d.assignment, layout,
                index=index, depth=o.depth, width=o.width, logic_key=key,
            )  # fmt: skip

    def keys(self) -> list[str]:
        """The dedup keys this split takes, in item order (no rendering): exclude them from train."""
        return [self.dedup_key(d.statements, key) for _, d, key, _ in self._items(0, self._taken(0, ()))]

    def puzzles(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[tuple[int, Draft, str]]:
        """Engine only: (index, draft, logic_key) without rendering (benchmarks, analyses)."""
        return ((i, d, k) for i, d, k, _ in self._items(start, self._taken(start, done)))

    def __len__(self) -> int:
        return self.count


def text_key(statements: str, n_people: int) -> str:
    """The text-dedup key of a puzzle with these statements (public tuple string)."""
    return f"t{n_people}:{statements}"
