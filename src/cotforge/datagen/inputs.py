"""Input rows for the datagen stages: a cotforge dataset, a local Parquet/JSONL file, or a Hub dataset id.

One reader for every stage (distill, pairs, silver, decontam), with a column mapping from the
stage's names to the file's (``--column problem=quiz``). Every malformed row is reported with the
file and the 0-based row number (:class:`~cotforge.errors.InputRowError`; in a JSONL file the
line index, blank lines counted, so the message's 1-based number is the editor's line); a missing column is
reported before any row is read, with the columns the input does have.

Each input is also described for the manifest (kind, path or id, config, split, and a content
hash: the dataset's content hash, the file's sha256, or the Hub fingerprint), so a dataset built
from it records exactly what it was built from.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from cotforge.errors import InputRowError, UsageError

#: File suffixes read as JSON lines (a ``.json`` file may also hold one JSON list).
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".json")


def parse_column_map(specs: Sequence[str] | None, allowed: Sequence[str], option: str = "--column") -> dict[str, str]:
    """``["problem=quiz", "answer=solution_text_format"]`` -> ``{"problem": "quiz", ...}``."""
    out: dict[str, str] = {}
    for spec in specs or ():
        key, sep, value = str(spec).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"{option} {spec!r}: expected FIELD=COLUMN, e.g. problem=quiz")
        if key not in allowed:
            raise UsageError(f"{option} {spec!r}: unknown field {key!r}; mappable fields: {', '.join(allowed)}")
        out[key] = value
    return out


def command_path(value: str | Path) -> str:
    """``value`` as a rebuild command shows it: an absolute path when it names something on disk (typed
    relative, it would read as a Hub id from another directory), else as it is (a Hub id, a model
    name); shell-quoted."""
    import shlex

    text = str(value)
    path = Path(text).expanduser()
    return shlex.quote(str(path.resolve()) if text and path.exists() else text)


def check_out_apart(out: str | Path, inputs: Sequence[Any], option: str = "--input") -> None:
    """Refuse an output folder that is, lies inside, or contains one of the local ``inputs``.

    Writing there would let ``--overwrite`` (or a failed run's clean-up) delete the data being
    read. Inputs that are not local paths (Hub ids, ``None``) are skipped.
    """
    o = Path(out).expanduser().resolve()
    for item in inputs:
        if item is None:
            continue
        p = Path(str(item)).expanduser()
        if not p.exists():
            continue
        i = p.resolve()
        if o == i:
            where = "is"
        elif i in o.parents:
            where = "lies inside"
        elif o in i.parents:
            where = "contains"
        else:
            continue
        raise UsageError(f"--out {out}: {where} {option} {item}; write the new dataset to a separate folder")


# ------------------------------------------------------------------------------------------ sources


@dataclass
class RowSource:
    """An opened input: its columns, a description for the manifest, and a row iterator."""

    label: str  # what error messages call it (a path or a Hub id)
    columns: list[str]
    record: dict[str, Any]
    _iter: Any = field(repr=False, default=None)

    def rows(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, row) pairs; only ``columns`` are read where the format allows it."""
        return self._iter(list(columns) if columns is not None else None)

    def require(self, needed: dict[str, str], option: str = "--column") -> None:
        """Fail before reading rows when a mapped column is absent."""
        for fieldname, column in needed.items():
            if column not in self.columns:
                raise UsageError(
                    f"{self.label}: no column {column!r} for {fieldname} (columns: {', '.join(self.columns)}); "
                    f"map another with {option} {fieldname}=NAME"
                )


def _sha256(path: Path) -> str:
    from cotforge.store.atomic import sha256_file

    return sha256_file(path)


def _parquet_source(files: list[Path], label: str, record: dict[str, Any]) -> RowSource:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(files[0])
    except Exception as exc:
        raise UsageError(f"{files[0]}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    columns = list(schema.names)

    def iterate(cols: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
        row_no = 0
        for f in files:
            pf = pq.ParquetFile(f)
            use = [c for c in cols if c in pf.schema_arrow.names] if cols is not None else None
            for batch in pf.iter_batches(batch_size=4096, columns=use):
                for row in batch.to_pylist():
                    yield row_no, row
                    row_no += 1

    return RowSource(label, columns, record, iterate)


def _open_bytes(path: Path):
    """The file's bytes (gunzipped): text is decoded line by line, so a bad byte names its line."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _decode(raw: bytes, label: str, row: int) -> str:
    try:
        return raw.decode("utf-8-sig" if row == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputRowError(label, row, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                            "convert the file to UTF-8") from None


def _starts_with_list(path: Path) -> bool:
    """True when the first non-blank character of the file is ``[`` (one JSON list, not lines)."""
    with _open_bytes(path) as fh:
        first = True
        while chunk := fh.read(4096):
            if first and chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                chunk = chunk[3:]
            first = False
            if chunk.lstrip():
                return chunk.lstrip()[:1] == b"["
        return False


def _jsonl_source(path: Path) -> RowSource:
    label = str(path)

    def iterate(cols: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
        # Row numbers are line indices counting every line, blank ones too (InputRowError prints
        # them from 1, so a message names the line an editor shows); in a JSON list, list indices.
        if _starts_with_list(path):
            with _open_bytes(path) as fh:
                raw = fh.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                line = raw[:exc.start].count(b"\n") + 1
                raise UsageError(f"{label}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x}); "
                                 "convert the file to UTF-8") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None  # e.g. JSON lines whose first line is a list: reported line by line below
            if isinstance(data, list):
                for i, row in enumerate(data):
                    if not isinstance(row, dict):
                        raise InputRowError(label, i, f"expected a JSON object, got {type(row).__name__}")
                    yield i, row
                return
        try:
            with _open_bytes(path) as fh:
                for line_no, raw_line in enumerate(fh):
                    line = _decode(raw_line, label, line_no)
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputRowError(label, line_no, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
                    if not isinstance(row, dict):
                        raise InputRowError(label, line_no, f"expected a JSON object, got {type(row).__name__}")
                    yield line_no, row
        except (OSError, EOFError) as exc:  # a damaged .gz past the first rows, a vanished file
            raise UsageError(f"{label}: cannot read ({type(exc).__name__}: {exc})") from None

    # Columns: the union of keys over the first rows (JSONL has no schema); a later row missing a
    # mapped key is reported as that row's problem.
    columns: dict[str, None] = {}
    try:
        for i, (_, row) in enumerate(iterate(None)):
            columns.update(dict.fromkeys(row))
            if i >= 99:
                break
    except (OSError, EOFError) as exc:  # EOFError: a truncated .gz
        raise UsageError(f"{path}: cannot read ({exc})") from None
    record = {"kind": "file", "path": str(path), "format": "jsonl", "sha256": _sha256(path)}
    return RowSource(label, list(columns), record, iterate)


def _dataset_source(root: Path, config: str | None, split: str | None) -> RowSource:
    from cotforge.store import layout
    from cotforge.store.manifest import manifest_shards, read_manifest

    try:
        manifest = read_manifest(root)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    shards = manifest_shards(manifest)
    configs = sorted({layout.parse_split_key(k)[0] for k in shards})
    if config is None:
        if len(configs) != 1:
            raise UsageError(f"{root}: holds configs {', '.join(configs)}; choose one with --config")
        config = configs[0]
    if config not in configs:
        raise UsageError(f"--config {config!r}: {root} holds configs {', '.join(configs)}")
    splits = sorted(layout.parse_split_key(k)[1] for k in shards if layout.parse_split_key(k)[0] == config)
    if split is None:
        split = "train" if "train" in splits else (splits[0] if len(splits) == 1 else None)
        if split is None:
            raise UsageError(f"{root}: config {config!r} has splits {', '.join(splits)}; choose one with --split")
    if split not in splits:
        raise UsageError(f"--split {split!r}: config {config!r} of {root} has splits {', '.join(splits)}")
    from cotforge.store.verify import split_paths

    key = layout.split_key(config, split)
    files = split_paths(root, manifest, keys=[key])[key]  # a missing or damaged shard is named
    record = {
        "kind": "cotforge", "path": str(root), "name": manifest.get("name"), "family": manifest.get("family"),
        "version": manifest.get("version"),
        "config": config, "split": split, "content_hash": manifest.get("content_hash"),
    }
    return _parquet_source(files, f"{root} ({config}/{split})", record)


def _hub_source(name: str, config: str | None, split: str | None) -> RowSource:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise UsageError(f"--input {name}: loading a Hub dataset needs the 'datasets' package ({exc})") from None
    try:
        ds = datasets.load_dataset(name, config, split=split or "train")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--input {name}: not a local file or folder, and loading it as a Hub dataset failed: {first}"
        ) from None
    record = {
        "kind": "hub", "id": name, "config": config, "split": split or "train",
        "fingerprint": getattr(ds, "_fingerprint", None),
    }

    def iterate(cols: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
        use = ds.select_columns([c for c in cols if c in ds.column_names]) if cols is not None else ds
        for i, row in enumerate(use):
            yield i, row

    return RowSource(name, list(ds.column_names), record, iterate)


def open_input(source: str | Path, *, config: str | None = None, split: str | None = None) -> RowSource:
    """Open a cotforge dataset folder, a Parquet or JSONL file (or a folder of Parquet files), or a Hub id."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        from cotforge.store import layout

        if (path / layout.MANIFEST).is_file():
            return _dataset_source(path, config, split)
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise UsageError(f"--input {path}: folder holds neither a cotforge dataset (manifest.json) nor Parquet files")
        record = {"kind": "files", "path": str(path), "format": "parquet",
                  "sha256": {str(f.relative_to(path)): _sha256(f) for f in files}}
        return _parquet_source(files, str(path), record)
    if path.is_file():
        name = path.name.lower()
        if name.endswith(".parquet"):
            record = {"kind": "file", "path": str(path), "format": "parquet", "sha256": _sha256(path)}
            return _parquet_source([path], str(path), record)
        if name.endswith(JSONL_SUFFIXES):
            return _jsonl_source(path)
        raise UsageError(f"--input {path}: unknown file type; use .parquet, .jsonl, .jsonl.gz or .json")
    if text.startswith((".", "/", "~")) or text.endswith((".parquet", ".jsonl", ".json", ".gz")):
        raise UsageError(f"--input {text}: no such file or folder")
    return _hub_source(text, config, split)


# ------------------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class Problem:
    """One input row as the distill stage sees it."""

    index: int  # row number in the input
    problem: str
    answer: str
    domain: str
    messages: tuple[dict[str, str], ...] | None = None  # a ready chat prompt, when the input has one
    metadata: dict[str, Any] | None = None  # pass-through columns (difficulty, subject, ids), kept with every row


PROBLEM_FIELDS = ("problem", "answer", "domain", "prompt")
DEFAULT_COLUMNS = {"problem": "problem", "answer": "answer"}
#: Column mapping and domain used for cotforge's own dataset families when the user maps nothing,
#: so ``--input out/kk --config 4ppl`` just works.
FAMILY_DEFAULTS: dict[str, tuple[dict[str, str], str]] = {
    "kk": ({"problem": "quiz", "prompt": "prompt", "answer": "answer"}, "kk"),
}


def family_defaults(source: "RowSource") -> tuple[dict[str, str], str | None]:
    """(columns, domain) for a cotforge dataset of a known family; ({}, None) otherwise."""
    columns, domain = FAMILY_DEFAULTS.get(source.record.get("family") or "", ({}, None))
    return dict(columns), domain


def answer_text(value: Any) -> str | None:
    """A gold answer as text: strings as they are, numbers and booleans as written, lists and
    dicts as JSON (verifiers parse JSON lists, e.g. K&K's ``solution``); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _messages(value: Any, label: str, row: int, column: str) -> tuple[dict[str, str], ...]:
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if not isinstance(value, (list, tuple)) or not value:
        raise InputRowError(label, row, f"column {column!r}: expected a chat prompt (list of messages) or a string")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InputRowError(label, row, f"column {column!r}: message {i} lacks string 'role' and 'content'")
        out.append({"role": m["role"], "content": m["content"]})
    return tuple(out)


def load_problems(
    source: RowSource,
    columns: dict[str, str] | None = None,
    *,
    default_domain: str = "math",
    limit: int | None = None,
    keep_columns: Sequence[str] = (),
) -> list[Problem]:
    """Read (problem, answer, domain[, prompt]) rows through the column mapping.

    ``problem`` may be omitted when a ``prompt`` column (chat messages) is mapped: the last user
    message then stands for the problem text. ``answer`` is required (distillation grades against it).
    ``keep_columns``: input columns carried through as each problem's ``metadata`` (e.g. ``level``,
    ``subject``, an id), so domain and difficulty tags reach the distilled rows.
    """
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    if "prompt" in cols and "problem" not in (columns or {}) and cols["problem"] not in source.columns:
        cols.pop("problem")  # a prompt column alone is enough
    source.require(cols)
    for c in keep_columns:
        if c not in source.columns:
            raise UsageError(f"--keep-column {c}: {source.label} has no column {c!r} (columns: {', '.join(source.columns)})")
    label = source.label
    out: list[Problem] = []
    wanted = list(dict.fromkeys([*cols.values(), *keep_columns]))
    for row_no, row in source.rows(wanted):
        if limit is not None and len(out) >= limit:
            break
        messages = None
        if "prompt" in cols:
            messages = _messages(row.get(cols["prompt"]), label, row_no, cols["prompt"])
        if "problem" in cols:
            problem = row.get(cols["problem"])
            if not isinstance(problem, str) or not problem.strip():
                raise InputRowError(label, row_no, f"column {cols['problem']!r}: expected non-empty text, got {problem!r:.60}")
        else:
            users = [m["content"] for m in messages or () if m["role"] == "user"]
            problem = users[-1] if users else messages[-1]["content"]
        answer = answer_text(row.get(cols["answer"]))
        if answer is None or not answer.strip():
            raise InputRowError(label, row_no, f"column {cols['answer']!r}: missing gold answer")
        domain = default_domain
        if "domain" in cols:
            value = row.get(cols["domain"])
            if not isinstance(value, str) or not value.strip():
                raise InputRowError(label, row_no, f"column {cols['domain']!r}: expected a domain name, got {value!r}")
            domain = value.strip()
        metadata = {c: row.get(c) for c in keep_columns} if keep_columns else None
        out.append(Problem(row_no, problem, answer, domain, messages, metadata))
    return out
