"""``cotforge verify``: grade one response, or a whole Parquet/JSONL file, with any verifier.

One response::

    cotforge verify --verifier math --gold '\\frac12' --response 'so \\boxed{0.5}'

prints the verdict as JSON. A file::

    cotforge verify --verifier kk --input rollouts.parquet --gold-col solution_text_format \\
        --response-col completion --out graded.parquet

adds the columns ``verdict_status``, ``verdict_score``, ``verdict_extracted``, ``verdict_reason``
(prefix configurable) to every row, grading through the verifier process pool (per-item
deadline, killable workers; threads for the code verifier, which isolates each run itself). The
input streams through in batches (memory does not grow with its size) into a hidden temporary
file in the output's folder (``.<name>.tmp-<pid>``), renamed over the output at the end, so an
interrupted run never leaves half a file; the temporary file of a run that was killed is removed
by the next run writing the same output. Bad UTF-8 or JSON in a JSONL input is reported with its
line before anything is graded. Several
``--gold-col`` make the gold a dict of those columns (the ``code`` verifier needs ``test`` and
``entry_point``; ``kk`` can take ``names`` + ``solution``). Verifier options are passed as
``--option key=value`` (values read as JSON when they parse, e.g. ``--option scoring=logic_rl``,
``--option memory_mb=1024``).

The module imports only typer and the standard library at the top; pyarrow and the verifiers
load inside the command.
"""

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import typer

from cotforge.errors import InputRowError, UsageError

__all__ = ["register", "verify_file", "verify_one", "parse_options"]

VERDICT_FIELDS = ("status", "score", "extracted", "reason")


# --------------------------------------------------------------------------------------------
# Plain functions (what the tests call)


def parse_options(options: Iterable[str]) -> Dict[str, Any]:
    """``["scoring=logic_rl", "memory_mb=1024"]`` -> ``{"scoring": "logic_rl", "memory_mb": 1024}``."""
    out: Dict[str, Any] = {}
    for item in options or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--option {item!r}: expected key=value with a Python identifier as key")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _make_verifier(name: str, options: Dict[str, Any]):
    from cotforge.verifiers import REGISTRY, get_verifier

    if name not in REGISTRY:
        raise UsageError(f"--verifier {name!r}: unknown; known: {', '.join(sorted(REGISTRY))}")
    try:
        return get_verifier(name, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--verifier {name} with options {options}: {exc}") from None


def _read_arg(value: str, what: str) -> Any:
    """``@path`` reads a file (JSON when it ends in .json); text starting with ``{``/``[`` is JSON."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{what} {value!r}: cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{what} {value!r}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             f"is it a binary file?") from None
        if path.suffix == ".json":
            try:
                return json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{what} {value!r}: {path} is not valid JSON: {exc}") from None
        return text
    stripped = value.lstrip()
    if stripped[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def verify_one(verifier: str, gold: Any, response: Any, options: Optional[Dict[str, Any]] = None, **kwargs: Any):
    """Grade one response; returns the :class:`~cotforge.verifiers.base.Verdict`."""
    v = _make_verifier(verifier, dict(options or {}))
    return v.verify(gold, response, **kwargs)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (".parquet", ".jsonl.gz", ".jsonl", ".ndjson", ".json"):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


JSONL_TYPES = (".jsonl", ".jsonl.gz", ".ndjson", ".json")

#: Rows read, graded and written at a time: memory stays bounded by this, not by the input's size.
BATCH_ROWS = 1024


def _iter_jsonl(path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(0-based line index, object) for each non-blank line. Blank lines are skipped but counted, so
    ``InputRowError`` - which prints ``row + 1`` - names the line an editor shows. Lines are decoded
    one by one, so bad UTF-8 is reported with its line."""
    import gzip
    import zlib

    opener = gzip.open if _suffix(path) == ".jsonl.gz" else open
    try:
        with opener(path, "rb") as f:
            for line_no, raw in enumerate(f):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputRowError(str(path), line_no, f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line)") from None
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise InputRowError(str(path), line_no, f"not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise InputRowError(str(path), line_no, f"a JSON {type(row).__name__}, not an object")
                yield line_no, row
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None


def _batched(items: Iterable[Any], size: int) -> Iterator[List[Any]]:
    batch: List[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Input:
    """A Parquet or JSONL input read in batches of ``BATCH_ROWS``: (row ids, rows as dicts, Arrow batch or None).

    A JSONL file is read twice: first to check every line (UTF-8, JSON, an object, the needed
    fields) and, when the output is Parquet, to settle one schema for all rows; then to grade.
    Neither pass holds more than one batch.
    """

    def __init__(self, path: Path, needed: List[str], want_schema: bool, batch_rows: int):
        if not path.exists():
            raise UsageError(f"--input {path}: no such file")
        self.path, self.needed, self.batch_rows = path, needed, batch_rows
        self.ext = _suffix(path)
        self.schema = None
        if self.ext == ".parquet":
            import pyarrow.parquet as pq

            try:
                self._pf = pq.ParquetFile(path)
                self.schema = self._pf.schema_arrow
            except Exception as exc:  # pyarrow raises several types for corrupt files
                raise UsageError(f"{path}: cannot read Parquet: {exc}") from None
            self.columns = list(self.schema.names)
            missing = [c for c in needed if c not in self.columns]
            if missing:
                raise UsageError(f"{path}: no column {', '.join(map(repr, missing))}; columns: {', '.join(self.columns)}")
            self.rows = self._pf.metadata.num_rows
        elif self.ext in JSONL_TYPES:
            self._scan(want_schema)
        else:
            raise UsageError(f"--input {path}: unsupported file type {self.ext or '(none)'!r}; use .parquet or .jsonl")

    def _scan(self, want_schema: bool) -> None:
        import pyarrow as pa

        columns: Dict[str, None] = {}
        schema = None
        self.rows = 0
        for batch in _batched(_iter_jsonl(self.path), self.batch_rows):
            for line_no, row in batch:
                for col in self.needed:
                    if col not in row:
                        raise InputRowError(str(self.path), line_no, f"has no {col!r} field")
                columns.update(dict.fromkeys(row))
            self.rows += len(batch)
            if want_schema:
                try:
                    part = pa.Table.from_pylist([r for _, r in batch]).schema
                    schema = part if schema is None else pa.unify_schemas([schema, part], promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise UsageError(f"{self.path}: rows cannot be written as Parquet (mixed types?): {exc}") from None
        self.columns = list(columns)
        if want_schema and schema is not None:
            # every column, in first-seen order (rows missing a field get null)
            self.schema = pa.schema([schema.field(c) for c in self.columns])

    def batches(self) -> Iterator[Tuple[List[int], List[Dict[str, Any]], Any]]:
        if self.ext == ".parquet":
            start = 0
            try:
                for batch in self._pf.iter_batches(batch_size=self.batch_rows):
                    rows = batch.to_pylist()
                    yield list(range(start, start + len(rows))), rows, batch
                    start += len(rows)
            except OSError as exc:
                raise UsageError(f"{self.path}: cannot read Parquet: {exc}") from None
            return
        for batch in _batched(_iter_jsonl(self.path), self.batch_rows):
            yield [i for i, _ in batch], [r for _, r in batch], None


def _truncated_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("length", "max_tokens", "truncated", "true")
    return False


def _grade(verifier, jobs: List[Tuple[Any, Any, Dict[str, Any]]], workers: Optional[int], on_done: Callable[[int], None]):
    """Grade ``jobs`` (gold, response, kwargs) in order through the verifier pool (or threads for
    the code verifier), in chunks so the progress bar moves."""
    from cotforge.verifiers.rewards import grade_batch

    out = []
    step = max(32, 16 * (workers or os.cpu_count() or 1))
    for start in range(0, len(jobs), step):
        chunk = jobs[start : start + step]
        out.extend(grade_batch(verifier, [j[0] for j in chunk], [j[1] for j in chunk], [j[2] for j in chunk], workers=workers))
        on_done(len(chunk))
    return out


TEMP_MARK = ".tmp-"


def _temp_path(out: Path) -> Path:
    return out.parent / f".{out.name}{TEMP_MARK}{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(out: Path) -> List[Path]:
    """Delete the hidden temporary outputs (``.<name>.tmp-<pid>``) that runs killed while writing
    ``out`` left behind; those of a run still alive are kept. Returns what was removed."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for tmp in out.parent.glob(f".{out.name}{TEMP_MARK}*"):
        pid = tmp.name[len(f".{out.name}{TEMP_MARK}"):]
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    return str(value)


class _Writer:
    """Writes graded batches to a temporary file beside ``out``; ``commit`` renames it into place."""

    def __init__(self, out: Path, ext: str, schema, new_names: List[str], prefix: str):
        self.out, self.ext, self.tmp = out, ext, _temp_path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self._pq = self._fh = None
        if ext == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {prefix + "score": pa.float64()}
            base = [f for f in (schema or pa.schema([])) if f.name not in new_names]
            self.schema = pa.schema(base + [pa.field(n, types.get(n, pa.string())) for n in new_names],
                                    metadata=schema.metadata if schema is not None else None)
            self._pq = pq.ParquetWriter(self.tmp, self.schema)
        else:
            import gzip

            self._fh = (gzip.open if ext == ".jsonl.gz" else open)(self.tmp, "wt", encoding="utf-8")

    def write(self, rows: List[Dict[str, Any]], batch, new_cols: Dict[str, List[Any]]) -> None:
        if self._pq is not None:
            import pyarrow as pa

            if batch is not None:
                table = pa.Table.from_batches([batch])
                table = table.drop_columns([n for n in new_cols if n in table.column_names])
                for name, values in new_cols.items():
                    table = table.append_column(name, pa.array(values, type=self.schema.field(name).type))
                table = table.select(self.schema.names)
            else:
                merged = [dict(r, **{n: v[i] for n, v in new_cols.items()}) for i, r in enumerate(rows)]
                try:
                    table = pa.Table.from_pylist(merged, schema=self.schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise UsageError(f"rows cannot be written as Parquet (mixed types?): {exc}") from None
            self._pq.write_table(table)
            return
        for i, row in enumerate(rows):
            rec = dict(row)
            for name, values in new_cols.items():
                rec[name] = values[i]
            self._fh.write(json.dumps(rec, ensure_ascii=False, default=_jsonable) + "\n")

    def commit(self) -> None:
        self._close()
        with open(self.tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def verify_file(
    input: Path,
    out: Path,
    *,
    verifier: str,
    gold_cols: List[str],
    response_col: str,
    options: Optional[Dict[str, Any]] = None,
    prefix: str = "verdict_",
    truncated_col: Optional[str] = None,
    details: bool = False,
    workers: Optional[int] = None,
    progress: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Dict[str, Any]:
    """Grade every row of ``input`` and write it with verdict columns to ``out``; returns a summary
    (rows, counts per status, mean score).

    The input streams through in batches of ``batch_rows`` (read, graded, appended to a hidden
    temporary file beside ``out``, renamed into place at the end), so memory does not grow with
    the input. Temporary files left by runs that were killed are removed first."""
    input, out = Path(input), Path(out)
    if not gold_cols:
        raise UsageError("--gold-col is required with --input")
    if workers is not None and workers < 0:
        raise UsageError(f"--workers must be >= 0 (0 = one per CPU), got {workers}")
    workers = workers or None
    out_ext = _suffix(out)
    if out_ext not in (".parquet",) + JSONL_TYPES:
        raise UsageError(f"--out {out}: unsupported file type {out_ext or '(none)'!r}; use .parquet or .jsonl")
    if out.resolve() == input.resolve() or (out.exists() and input.exists() and os.path.samefile(out, input)):
        raise UsageError(f"--out {out}: is the --input file; write the graded copy to another path")
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file path")
    v = _make_verifier(verifier, dict(options or {}))
    needed = list(dict.fromkeys(list(gold_cols) + [response_col] + ([truncated_col] if truncated_col else [])))
    source = _Input(input, needed, want_schema=out_ext == ".parquet", batch_rows=max(1, batch_rows))
    for stale in remove_stale_temps(out):
        typer.echo(f"removed {stale}, left by an interrupted run", err=True)

    names = [prefix + f for f in VERDICT_FIELDS] + ([prefix + "details"] if details else [])
    writer = _Writer(out, out_ext, source.schema, names, prefix)
    counts: Dict[str, int] = {}
    total_score, graded = 0.0, 0

    def run(advance: Callable[[int], None]) -> None:
        nonlocal total_score, graded
        for row_ids, rows, batch in source.batches():
            jobs = []
            for i, row in zip(row_ids, rows):
                def get(col: str) -> Any:
                    if col not in row:
                        raise InputRowError(str(input), i, f"has no {col!r} field")
                    return row[col]

                gold = get(gold_cols[0]) if len(gold_cols) == 1 else {c: get(c) for c in gold_cols}
                kw = {"truncated": True} if truncated_col and _truncated_flag(get(truncated_col)) else {}
                jobs.append((gold, get(response_col), kw))
            verdicts = _grade(v, jobs, workers, advance)
            new_cols: Dict[str, List[Any]] = {
                prefix + "status": [vd.status.value for vd in verdicts],
                prefix + "score": [float(vd.score) for vd in verdicts],
                prefix + "extracted": [vd.extracted if vd.extracted is None else str(vd.extracted) for vd in verdicts],
                prefix + "reason": [vd.reason for vd in verdicts],
            }
            if details:
                new_cols[prefix + "details"] = [json.dumps(vd.details, default=_jsonable, sort_keys=True) for vd in verdicts]
            writer.write(rows, batch, new_cols)
            for vd in verdicts:
                counts[vd.status.value] = counts.get(vd.status.value, 0) + 1
                total_score += float(vd.score)
            graded += len(verdicts)

    try:
        if progress and source.rows:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn(f"verify[{verifier}]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            ) as bar:
                task = bar.add_task("grading", total=source.rows)
                run(lambda n: bar.advance(task, n))
        else:
            run(lambda n: None)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    mean = total_score / graded if graded else 0.0
    return {"rows": graded, "counts": counts, "mean_score": mean, "out": str(out)}


# --------------------------------------------------------------------------------------------
# The command


def _verify_command(
    verifier: str = typer.Option(..., "--verifier", help="Verifier name: kk, math, choice, theoremqa, code."),
    gold: Optional[str] = typer.Option(None, "--gold", help="Gold answer (JSON if it starts with { or [; @file reads a file)."),
    response: Optional[str] = typer.Option(None, "--response", help="Model response (@file reads a file)."),
    input: Optional[Path] = typer.Option(None, "--input", help="Parquet or JSONL file to grade."),
    gold_col: List[str] = typer.Option([], "--gold-col", help="Gold column; repeat to pass a dict of columns."),
    response_col: str = typer.Option("response", "--response-col", help="Response column."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (.parquet or .jsonl), written atomically."),
    option: List[str] = typer.Option([], "--option", help="Verifier option key=value (value as JSON if it parses)."),
    prefix: str = typer.Option("verdict_", "--prefix", help="Prefix of the added columns."),
    truncated_col: Optional[str] = typer.Option(
        None, "--truncated-col", help="Column marking cut completions (bool, or finish_reason == 'length')."
    ),
    details: bool = typer.Option(False, "--details", help="Also add the verdict details as a JSON column."),
    workers: int = typer.Option(0, "--workers", help="Responses graded at a time (0 = one per CPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
):
    """Grade a response (--gold/--response) or a file (--input/--out) with a verifier."""
    opts = parse_options(option)
    single = gold is not None or response is not None
    if single and input is not None:
        raise UsageError("use either --gold/--response or --input/--out, not both")
    if single:
        if gold is None or response is None:
            raise UsageError("--gold and --response go together")
        verdict = verify_one(verifier, _read_arg(gold, "--gold"), _read_arg(response, "--response"), opts)
        typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False, default=_jsonable, sort_keys=True))
        return
    if input is None:
        raise UsageError("give --gold and --response, or --input with --gold-col and --out")
    if out is None:
        raise UsageError("--out is required with --input")
    summary = verify_file(
        input, out, verifier=verifier, gold_cols=list(gold_col), response_col=response_col, options=opts,
        prefix=prefix, truncated_col=truncated_col, details=details, workers=workers, progress=progress,
    )
    counts = ", ".join(f"{k} {n}" for k, n in sorted(summary["counts"].items()))
    typer.echo(f"graded {summary['rows']} rows ({counts or 'none'}); mean score {summary['mean_score']:.4f} -> {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``verify`` command to the cotforge app."""
    app.command("verify")(_verify_command)
