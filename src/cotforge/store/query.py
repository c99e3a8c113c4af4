"""``cotforge query``: DuckDB over a dataset folder, unable to change anything.

Views: one per config/split, named ``<config>_<split>`` (characters other than letters, digits
and ``_`` become ``_``; quote names that start with a digit: ``"4ppl_test"``), and ``data`` over
everything with two extra columns, ``config`` and ``split``.

Read-only at the engine level, whatever the SQL says: DuckDB is given no file at all. The shards
are opened by pyarrow (a read-only ``pyarrow.dataset`` over exactly the files the manifest lists)
and handed to an in-memory DuckDB as Arrow objects; then external access is switched off with no
allowed path or directory, spilling to disk and extension auto-loading are disabled, and the
configuration is locked. ``COPY ... TO``, ``EXPORT DATABASE``, ``ATTACH``, ``INSTALL``/``LOAD``,
``read_csv``/``read_text``/``glob`` of any path and every ``SET``/``RESET``/``PRAGMA`` that would
undo this are refused by DuckDB itself (the SQL text is not inspected). DuckDB's ``allowed_paths``
is deliberately not used: a path allowed there can be written as well as read.

Damaged data is an error, never different values: a listed shard that is missing or not of the
manifest's size is refused before the query runs, and every page read is checked against the CRC
cotforge writes into it (a flipped bit names the split and the command that repairs the folder).
Shards are not hashed whole: a query reads only the pages it needs.

Without a manifest (a build still running or interrupted) the finished shards found under
``data/`` are queried and the command warns that the data may be incomplete; files under ``data/``
that the manifest does not list are never queried.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.store import layout

FORMATS = ("table", "csv", "json")

#: Set before the configuration is locked. No ``allowed_paths``/``allowed_directories``: DuckDB
#: reaches no file; the shards arrive as Arrow datasets.
_LOCKDOWN = (
    "SET temp_directory=''",  # never spill to disk
    "SET autoinstall_known_extensions=false",
    "SET autoload_known_extensions=false",
    "SET allow_community_extensions=false",
    "SET enable_external_access=false",
    "SET lock_configuration=true",
)


def view_name(config: str, split: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{config}_{split}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def discover_splits(root: Path) -> dict[tuple[str, str], list[Path]]:
    """Shard files per (config, split), from the finished ``data/`` tree (names ``<split>-NNNNN-of-NNNNN``)."""
    found: dict[tuple[str, str], list[Path]] = {}
    for path in sorted((Path(root) / "data").glob("*/*.parquet")):
        match = re.match(r"^(?P<split>.+?)-\d{5}-of-\d{5}\.parquet$", path.name)
        if match:
            found.setdefault((path.parent.name, match["split"]), []).append(path)
    return found


def listed_splits(root: Path) -> dict[tuple[str, str], list[Path]]:
    """The shards to query: those the manifest lists, or (no manifest yet) the finished ones in ``data/``.

    A listed shard that is missing or not of the size the manifest records is refused here, naming
    it (a stat per file; the bytes themselves are checked page by page as they are read, see
    :func:`connect`, so a query never hashes a whole dataset)."""
    from cotforge.store.manifest import manifest_shards, read_manifest

    root = Path(root)
    if not (root / layout.MANIFEST).exists():
        return discover_splits(root)
    manifest = read_manifest(root)
    out: dict[tuple[str, str], list[Path]] = {}
    for key, shards in manifest_shards(manifest).items():
        for s in shards:
            path = root / s.path
            size = path.stat().st_size if path.is_file() else None
            problem = "missing" if size is None else (
                f"damaged ({size:,} bytes, manifest.json lists {s.bytes:,})" if size != s.bytes else None)
            if problem:
                raise UsageError(f"DIR {root}: {s.path} is listed in {layout.MANIFEST} but {problem}; "
                                 f"rerun the build command to repair the folder{_rerun(manifest)}")
        if shards:
            out[layout.parse_split_key(key)] = [root / s.path for s in shards]
    return out


def _rerun(manifest: dict[str, Any]) -> str:
    return f": {manifest['command']}" if manifest.get("command") else ""


def _rerun_of(root: str | Path) -> str:
    from cotforge.store.manifest import read_manifest

    try:
        return _rerun(read_manifest(Path(root)))
    except Exception:  # noqa: BLE001 - no readable manifest: the message goes without the command
        return ""


def _shard_format():
    """Parquet reading that checks every page's CRC as it is read: a flipped bit in a shard is an
    error naming its split, never a silently different value (cotforge writes page checksums)."""
    import pyarrow.dataset as pads

    return pads.ParquetFileFormat(
        default_fragment_scan_options=pads.ParquetFragmentScanOptions(page_checksum_verification=True))


def connect(root: str | Path):
    """An in-memory DuckDB connection with one view per config/split and ``data`` over all of them.

    The connection can read the listed shards (through Arrow) and nothing else, and can write nothing.
    """
    import duckdb
    import pyarrow.dataset as pads

    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"DIR {root}: no such folder")
    splits = listed_splits(root)
    if not splits:
        raise UsageError(f"DIR {root}: no dataset shards under {root}/data (is it a cotforge dataset?)")
    con = duckdb.connect(":memory:")
    parts = []
    for (config, split), files in splits.items():
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise UsageError(f"DIR {root}: {missing[0].relative_to(root)} is listed in {layout.MANIFEST} but missing "
                             f"(rerun the build command to repair the folder)")
        try:
            dataset = pads.dataset([str(f) for f in files], format=_shard_format())
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise UsageError(f"DIR {root}: cannot read the shards of {config}/{split}: {exc}") from None
        # the stream's name carries the view's, so a read error (which names the stream) names the split
        arrow_name = f"__shards_{len(parts)}_{view_name(config, split)}"
        con.register(arrow_name, dataset)
        con.execute(f"CREATE VIEW {_quote_ident(view_name(config, split))} AS SELECT * FROM {arrow_name}")
        parts.append(f"SELECT {_quote_str(config)} AS config, {_quote_str(split)} AS split, * FROM {arrow_name}")
    con.execute("CREATE VIEW data AS " + " UNION ALL BY NAME ".join(parts))
    for statement in _LOCKDOWN:
        con.execute(statement)
    return con


def build_warnings(root: str | Path) -> list[str]:
    """Why a folder's data may be incomplete: an unfinished build, or files the manifest does not list."""
    from cotforge.store.repair import unlisted_files

    root = Path(root)
    out = []
    if (root / layout.JOURNAL).exists():
        out.append(f"{root}: a build is running or was interrupted; only its finished splits are visible "
                   f"(rerun the build command to finish it)")
    elif not (root / layout.MANIFEST).exists():
        out.append(f"{root}: no manifest.json; the shards were not written by a finished cotforge build")
    else:
        try:
            strays = unlisted_files(root)
        except ValueError:
            strays = []
        if strays:
            out.append(f"{root}: {len(strays)} file(s) under data/ are not listed in {layout.MANIFEST} and were "
                       f"not queried (first: {strays[0]}); rerun the build command to move them aside")
    return out


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def run_query(root: str | Path, sql: str, fmt: str = "table", limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Run ``sql``; returns column names and rows (at most ``limit`` rows when given)."""
    import duckdb

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if limit is not None and limit < 0:
        raise UsageError(f"--limit {limit}: must be >= 0 (0: all rows)")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"SQL: {_first_line(exc)}") from None
    if not statements:
        raise UsageError("SQL: the query is empty (no statement to run)")
    con = connect(root)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
    except duckdb.Error as exc:
        damaged = _damaged_split(exc)
        if damaged:
            raise UsageError(f"DIR {root}: a shard of {damaged} is damaged ({_first_line(exc).split(': ')[-1]}); "
                             f"rerun the build command to repair the folder{_rerun_of(root)}") from None
        raise UsageError(f"SQL: {_first_line(exc)}") from None
    finally:
        con.close()
    return columns, rows


_DAMAGE_MARKERS = ("page integrity", "crc checksum", "decompression", "corrupt", "invalid parquet", "parquet magic")
_STREAM_RE = re.compile(r"'__shards_\d+_([A-Za-z0-9_]+)'")


def _damaged_split(exc: BaseException) -> str | None:
    """The view whose shard failed to read (``view 3ppl_train``), when ``exc`` is a damaged-data
    error, else None."""
    text = str(exc)
    if not any(m in text.lower() for m in _DAMAGE_MARKERS):
        return None
    m = _STREAM_RE.search(text)
    return f"view {m.group(1)}" if m else "the dataset"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def format_rows(columns: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _jsonable(v) for c, v in zip(columns, r)} for r in rows], ensure_ascii=False, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([json.dumps(_jsonable(v), ensure_ascii=False) if isinstance(v, (list, dict, tuple)) else v for v in r])
        return buf.getvalue()
    raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
