"""What a resumed source is told about the rows already written: the kept shards, read lazily.

A source's ``rows(start, done)`` gets one object per kept shard. A source that declares
``resume_columns`` (a tuple of column names) gets real ``pyarrow.Table`` objects holding just
those columns. Otherwise each object is a :class:`KeptShard`: ``num_rows`` and ``column_names``
come from the Parquet footer, ``column(name)`` reads that one column, and any other ``Table``
attribute loads the whole shard. Either way a source that needs only its key column (the ``kk``
logic keys, say) reads only that column, not every prompt and completion of the kept shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence


class KeptShard:
    """A finished shard standing in for its ``pyarrow.Table`` until more than one column is needed."""

    def __init__(self, path: Path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        self._table = None

    @property
    def num_rows(self) -> int:
        return self._file.metadata.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self._file.schema_arrow.names)

    @property
    def schema(self):
        return self._file.schema_arrow

    def column(self, name: str | int):
        if self._table is not None:
            return self._table.column(name)
        if isinstance(name, int):
            name = self.column_names[name]
        return self._file.read(columns=[name]).column(name)

    def select(self, names: Sequence[str]):
        return self._file.read(columns=list(names))

    def to_table(self):
        if self._table is None:
            self._table = self._file.read()
        return self._table

    def __len__(self) -> int:
        return self.num_rows

    def __getattr__(self, name: str) -> Any:  # anything else a Table offers: load it whole
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.to_table(), name)


def kept_tables(root: Path, paths: Sequence[str], columns: Sequence[str] | None) -> Iterator[Any]:
    """The ``done`` argument for a source: one lazily read object per kept shard."""
    import pyarrow.parquet as pq

    for rel in paths:
        if columns is not None:
            yield pq.read_table(root / rel, columns=list(columns))
        else:
            yield KeptShard(root / rel)
