"""The card's split statistics counted while the rows are written, instead of read back.

Reading a split's shards back for :func:`cotforge.datagen.kk.stats.split_counts` and
:func:`~cotforge.datagen.kk.stats.split_shape` costs about 40 us a row at 8 people (Parquet
decoding, then the counting), a seventh of a whole build. :class:`CountingSource` wraps a split
source and counts the same figures over the rows as they pass to the store, a few string counts a
row. The counts are used only when one pass yielded the whole split from row 0 and the split
holds exactly that many rows; a resumed, repaired or reused split is read back as before, so
every build's card holds the same figures (``tests/datagen/test_kk_stats.py`` checks both paths
against each other).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from cotforge.datagen.kk.stats import OPERATORS, SHAPE_ROWS

__all__ = ["CountingSource", "RowCounter"]

_KEY_RE = re.compile(r"(.*?)([0-9a-f]{32})")


class RowCounter:
    """:func:`~cotforge.datagen.kk.stats.split_counts`' figures and the shape sample, row by row."""

    def __init__(self) -> None:
        self.rows = self.people = self.degenerate = self.knights = self.cells = self.spaces = 0
        self.ops = dict.fromkeys(OPERATORS, 0)
        self._tokens = list(OPERATORS.items())
        self._digests = bytearray()
        self._prefix: str | None = None
        self.packable = True
        self.texts: list[str] = []  # the first SHAPE_ROWS statements, as split_shape reads them

    def add(self, row: dict[str, Any]) -> None:
        self.rows += 1
        self.people += row["n_people"]
        self.degenerate += row["n_degenerate"]
        solution = row["solution"]
        self.knights += sum(solution)
        self.cells += len(solution)
        statements = row["statements"]
        ops = self.ops
        for name, token in self._tokens:
            ops[name] += statements.count(token)
        self.spaces += row["cot"].count(" ")
        if len(self.texts) < SHAPE_ROWS:
            self.texts.append(statements)
        if self.packable:
            key = row["logic_key"]
            m = _KEY_RE.fullmatch(key) if isinstance(key, str) else None
            if m is None or (self._prefix is not None and m.group(1) != self._prefix) or not m.group(1):
                self.packable = False  # not cotforge's key form: the read-back path counts the strings
                return
            self._prefix = m.group(1)
            self._digests += bytes.fromhex(m.group(2))

    def counts(self) -> dict[str, Any] | None:
        """The figures as ``split_counts`` gives them, or None when the keys cannot be packed."""
        if not self.packable:
            return None
        import numpy as np

        keys = np.frombuffer(bytes(self._digests), dtype="V16")
        return {"people": self.people, "degenerate": self.degenerate, "knights": self.knights, "cells": self.cells,
                "ops": dict(self.ops), "spaces": self.spaces, "distinct": len(np.unique(keys)) if len(keys) else 0}


class CountingSource:
    """A split source whose rows are counted as the store takes them (see the module docstring)."""

    def __init__(self, source: Any):
        self.source = source
        self.schema = source.schema
        self.resume_columns = getattr(source, "resume_columns", None)
        self.counter: RowCounter | None = None  # set only by a pass that yielded every row from 0

    def rows(self, start: int = 0, done: Iterable = ()) -> Iterator[dict]:
        self.counter = None
        counter = RowCounter() if start == 0 else None
        for row in self.source.rows(start, done):
            if counter is not None:
                counter.add(row)
            yield row
        self.counter = counter  # reached only when the pass ran to its end (not closed early)

    def __len__(self) -> int:
        return len(self.source)
