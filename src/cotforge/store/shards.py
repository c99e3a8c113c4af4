"""Streaming, size-bounded, deterministic Parquet shards for one (config, split).

Shards are cut by row count and by the in-memory size of the rows written so far, both of which
depend only on the rows, so the same rows always give the same shard boundaries and (with the same
pyarrow) byte-identical files. Rows stream through in row groups, so memory stays bounded however
many rows a split has. Each finished shard is written to a temporary name and renamed into place:
a half-written shard is never visible under its final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.store.atomic import sha256_file

#: Rows per Parquet row group (and per conversion batch from Python dicts).
ROW_GROUP_ROWS = 1_000


@dataclass(frozen=True)
class ShardLimits:
    """When to start a new shard. Hub-friendly defaults: a few hundred MB per file."""

    max_rows: int = 1_000_000
    max_bytes: int = 256 * 1024 * 1024  # uncompressed (Arrow in-memory) bytes

    def __post_init__(self):
        if self.max_rows < 1 or self.max_bytes < 1:
            raise ValueError("shard limits must be positive")


@dataclass(frozen=True)
class ShardInfo:
    """One finished shard: where it lies (relative to the dataset root), its rows and its hash."""

    path: str
    rows: int
    sha256: str
    bytes: int

    def to_dict(self) -> dict:
        return {"path": self.path, "rows": self.rows, "sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, d: dict) -> "ShardInfo":
        return cls(path=d["path"], rows=int(d["rows"]), sha256=d["sha256"], bytes=int(d["bytes"]))


def write_shards(
    rows: Iterable[dict],
    schema: pa.Schema,
    *,
    root: Path,
    staging_name: Callable[[int], str],
    first_shard: int,
    limits: ShardLimits,
    on_shard: Callable[[ShardInfo], None],
    on_rows: Callable[[int], None] | None = None,
    footer: Callable[[int], dict[bytes, bytes]] | None = None,
) -> None:
    """Write ``rows`` as shards numbered from ``first_shard``; call ``on_shard`` after each is in place.

    ``staging_name(k)`` gives shard k's path relative to ``root``. ``on_shard`` is where the caller
    records progress (the journal), so an interruption loses at most the shard being written.
    ``footer(k)``, when given, is key-value metadata stored in shard k's Parquet footer (the store
    writes the build identity there, so shards can vouch for themselves if the manifest is lost).
    Pages carry CRC checksums, so damage inside a shard is detectable without its recorded hash.
    """
    shard = first_shard
    writer: pq.ParquetWriter | None = None
    tmp_path: Path | None = None
    shard_rows = shard_bytes = 0

    def open_shard():
        nonlocal writer, tmp_path, shard_rows, shard_bytes
        final = root / staging_name(shard)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = final.with_name(f".{final.name}.writing")
        shard_schema = schema.with_metadata({**(schema.metadata or {}), **footer(shard)}) if footer else schema
        writer = pq.ParquetWriter(
            tmp_path, shard_schema, compression="zstd", compression_level=3, write_statistics=True,
            write_page_checksum=True,
        )
        shard_rows = shard_bytes = 0

    def close_shard():
        nonlocal writer, tmp_path, shard, shard_rows, shard_bytes
        assert writer is not None and tmp_path is not None
        writer.close()
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        rel = staging_name(shard)
        final = root / rel
        os.replace(tmp_path, final)
        on_shard(ShardInfo(rel, shard_rows, sha256_file(final), final.stat().st_size))
        writer, tmp_path = None, None
        shard += 1
        shard_rows = shard_bytes = 0

    def flush(buf: list[dict]) -> None:
        nonlocal shard_rows, shard_bytes
        if writer is None:
            open_shard()
        table = pa.Table.from_pylist(buf, schema=writer.schema)
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        shard_rows += table.num_rows
        shard_bytes += table.nbytes
        if on_rows:
            on_rows(table.num_rows)
        if shard_rows >= limits.max_rows or shard_bytes >= limits.max_bytes:
            close_shard()

    try:
        buf: list[dict] = []
        for row in rows:
            buf.append(row)
            # A batch never crosses a shard boundary, so a full shard is committed as soon as its
            # last row arrives (a crash then loses at most the rows of the shard being written).
            if len(buf) >= min(ROW_GROUP_ROWS, limits.max_rows - shard_rows):
                flush(buf)
                buf = []
        if buf:
            flush(buf)
        if writer is not None:
            close_shard()
    except OSError as exc:
        if exc.filename is None and tmp_path is not None:  # pyarrow names no file (a full disk): name the shard
            raise OSError(exc.errno, " ".join(str(exc.strerror or exc).split()), str(tmp_path)) from exc
        raise
    finally:
        if writer is not None:  # interrupted mid-shard: drop the partial file, it was never visible
            writer.close()
            if tmp_path is not None and tmp_path.exists():
                tmp_path.unlink()
