"""Decontamination: n-gram overlap against every benchmark the project knows (``cotforge decontam``).

A row is contaminated when a word n-gram (8 by default, see below) of its prompt text - and, with ``completions=True``, of its completion text - also occurs in a
benchmark item. Benchmarks are read in place from the shared offline data folder
(``$COTFORGE_SHARED_DATA`` or ``<repo>/../shared/data``): MATH-500, AIME 2024 and 2025, GPQA
Diamond (read in memory from its password zip, never extracted to disk), MMLU-Pro, TheoremQA,
HumanEval and the public K&K test sets.

Text is normalised the same way on both sides: lower case, every run of characters other than
``a-z0-9`` becomes one space (so LaTeX ``\\frac{1}{2}`` reads ``frac 1 2``). The benchmark side is
small and built in Python; the dataset side is tokenised, cut into n-grams and joined against the
benchmark n-grams inside DuckDB over the Parquet shards, so it scales to large datasets. Two rules
keep the check honest:

- *template n-grams* - one occurring in more than ``max(2, 1%)`` of a benchmark's items (K&K's
  "A very special island is inhabited only by knights and knaves ...") - say nothing about a
  particular item and are ignored (counted in the report);
- items shorter than n words cannot hold an n-gram; with ``min_ngram < n`` a benchmark's n is
  lowered to the 5th percentile of its item lengths (GPT-3's rule), never below ``min_ngram``.

Besides n-grams, every item is matched on its whole normalised text: a row text (a column value or
one message) equal to an item after normalisation is a copy of it. This is what catches short
items - MATH-500's "How many positive whole-number divisors does 196 have?" has 8 words, no 13-gram
(at n = 13) - so an exact copy is always found; such items are counted as checked by exact match only.

The default n is chosen by measurement (``bench/decontam_bench.py``: MATH-500 items injected as
exact copies, light paraphrases and templated wraps, against the 1,319 GSM8K test questions as the
clean set, checked against every benchmark; 20 items x 3 forms): 8-grams caught 58 of 60 (97%) with
0.08% false positives (1 of 1,319); the 13-grams of the GPT-3 and Tulu analyses caught 42 of 60
(70%), missing 17 of 20 paraphrases, with none; 6-grams flagged 4.5% of the clean questions.

The result is a new dataset: every config/split of the input with four columns added
(``contaminated``, ``contam_benchmarks``, ``contam_items``, ``contam_ngrams``) in ``flag`` mode,
or without the contaminated rows in ``drop`` mode (those go to ``<config>_contaminated``, flagged,
so nothing is lost). The report goes into the manifest (``stats.decontam``) and the card.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import os
import re
import shlex
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.errors import UsageError
from cotforge.records import DECONTAM_FIELDS

GENERATOR_VERSION = "1.1.0"  # 1.1: default n 13 -> 8
MODES = ("flag", "drop")
#: Default n-gram length, chosen by bench/decontam_bench.py (see the module docstring).
DEFAULT_NGRAM = 8
_NORM_RE = re.compile(r"[^a-z0-9]+")
GPQA_PASSWORD = b"deserted-untie-orchid"  # the GPQA authors' own release password (see its PROVENANCE.md)

#: Columns read as prompt text / completion text, where present. Message lists contribute their
#: non-assistant turns to the prompt side and their assistant turns to the completion side.
PROMPT_COLUMNS = ("problem", "question", "quiz", "prompt", "messages")
COMPLETION_COLUMNS = ("completion", "chosen", "rejected", "messages", "prompt", "solution", "cot")


def normalize(text: str) -> list[str]:
    """Words of ``text`` as both sides compare them."""
    return _NORM_RE.sub(" ", text.lower()).split()


def shared_data_dir() -> Path:
    """The offline benchmark folder: ``$COTFORGE_SHARED_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("COTFORGE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


# ------------------------------------------------------------------------------------------ benchmarks


def _jsonl(path: Path, id_key: str, text_key: str) -> list[tuple[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    out = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if line.strip():
                row = json.loads(line)
                out.append((str(row.get(id_key, i)), str(row[text_key])))
    return out


def _math500(d: Path):
    return _jsonl(d / "math500" / "test.jsonl", "unique_id", "problem")


def _aime24(d: Path):
    return _jsonl(d / "aime24" / "test.jsonl", "id", "problem")


def _aime25(d: Path):
    return _jsonl(d / "aime25" / "test.jsonl", "id", "problem")


def _gpqa(d: Path):
    """GPQA Diamond questions, read from the encrypted zip in memory only."""
    with zipfile.ZipFile(d / "gpqa_diamond" / "gpqa_diamond.zip") as z:
        with z.open("gpqa_diamond.csv", pwd=GPQA_PASSWORD) as fh:
            reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
            return [(row.get("Record ID") or str(i), row["Question"]) for i, row in enumerate(reader)]


def _mmlu_pro(d: Path):
    table = pq.read_table(d / "mmlu_pro" / "test-00000-of-00001.parquet", columns=["question_id", "question"])
    return [(str(i), q) for i, q in zip(table.column("question_id").to_pylist(), table.column("question").to_pylist())]


def _theoremqa(d: Path):
    data = json.loads((d / "theoremqa" / "theoremqa_test.json").read_text(encoding="utf-8"))
    return [(str(r["id"]), str(r["Question"])) for r in data]


def _humaneval(d: Path):
    return _jsonl(d / "humaneval" / "HumanEval.jsonl.gz", "task_id", "prompt")


def _kk(d: Path):
    return _jsonl(d / "kk" / "kk_test_3to7ppl.jsonl", "id", "quiz")


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's loader (shared data dir -> [(item id, text)]) and its default ``min_coverage``."""

    load: Callable[[Path], list[tuple[str, str]]]
    #: Share of an item's n-grams a row must contain to count as a copy of it. 0 (the usual rule):
    #: any one n-gram. K&K text is generated from a few templates over a small name pool, so two
    #: different puzzles share a 13-gram by chance ("... is a knave if and only if Mia is a knight
    #: so who is a knight and who is a knave"); a copied puzzle contains nearly all of its n-grams.
    min_coverage: float = 0.0


#: name -> benchmark. One line per benchmark.
BENCHMARKS: dict[str, Benchmark] = {
    "math500": Benchmark(_math500),
    "aime24": Benchmark(_aime24),
    "aime25": Benchmark(_aime25),
    "gpqa_diamond": Benchmark(_gpqa),
    "mmlu_pro": Benchmark(_mmlu_pro),
    "theoremqa": Benchmark(_theoremqa),
    "humaneval": Benchmark(_humaneval),
    "kk": Benchmark(_kk, min_coverage=0.5),
}


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, data_dir: str) -> list[tuple[str, str]]:
    """Benchmark items, read once per process (GPQA's zip decryption and MMLU-Pro's 12k rows take a second)."""
    return BENCHMARKS[name].load(Path(data_dir))


#: DuckDB: a text column as its list of normalised words (the same rule as :func:`normalize`).
def words_sql(expr: str) -> str:
    norm = f"trim(regexp_replace(lower({expr}), '[^a-z0-9]+', ' ', 'g'))"
    return f"CASE WHEN {norm} = '' THEN []::VARCHAR[] ELSE string_split({norm}, ' ') END"


def grams_sql(words: str, k: int) -> str:
    """DuckDB: the k-grams of a word list, one row each (use in a lateral ``unnest``)."""
    return f"list_transform(range(1, len({words}) - {k - 2}), lambda i: array_to_string({words}[i : i + {k - 1}], ' '))"


@dataclass
class BenchmarkIndex:
    """Benchmark n-grams, held by the DuckDB connection as tables, and what was left out of them.

    ``bench_grams(g, bench, item)``: non-template n-grams; ``bench_totals(bench, item, total,
    coverage)``: each item's n-gram count and the coverage a row needs to count as its copy;
    ``bench_exact(t, bench, item)``: each item's whole normalised text, for exact matches.
    """

    info: dict[str, dict[str, Any]]  # per benchmark: items, n, template grams, exact-only items, or error
    sizes: tuple[int, ...]  # distinct n in use
    grams: int  # rows of bench_grams
    exact: int = 0  # rows of bench_exact: (normalised full text, bench, item) of every item


def build_index(con, names: Sequence[str], n: int, min_ngram: int, data_dir: Path,
                min_coverage: float | None = None) -> BenchmarkIndex:
    """Load the named benchmarks into ``con`` as n-gram tables; ``min_coverage`` overrides their defaults."""
    info: dict[str, dict[str, Any]] = {}
    loaded: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        try:
            loaded[name] = _load_cached(name, str(data_dir))
        except (OSError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
            info[name] = {"error": f"not checked: cannot read it from {data_dir} ({type(exc).__name__}: {exc})"}
    rows = [(b, i, t) for b, items in loaded.items() for i, t in items]
    con.register("bench_items_arrow", pa.table({"bench": [r[0] for r in rows], "item": [r[1] for r in rows],
                                                "text": [r[2] for r in rows]}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE bench_words AS SELECT bench, item, {words_sql('text')} AS w "
                f"FROM bench_items_arrow")
    con.unregister("bench_items_arrow")
    con.execute("CREATE OR REPLACE TEMP TABLE bench_exact AS SELECT DISTINCT array_to_string(w, ' ') AS t, bench, item "
                "FROM bench_words WHERE len(w) > 0")
    con.execute("CREATE OR REPLACE TEMP TABLE bench_grams (g VARCHAR, bench VARCHAR, item VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE bench_totals (bench VARCHAR, item VARCHAR, total BIGINT, coverage DOUBLE)")
    sizes: set[int] = set()
    for name in loaded:
        lit = _quote(name)
        items, p5 = con.execute(
            f"SELECT count(*), quantile_disc(len(w), 0.05) FROM bench_words WHERE bench = {lit}").fetchall()[0]
        nb = n if min_ngram >= n else max(min_ngram, min(n, int(p5 or 0)))
        limit = max(2, int(0.01 * items))
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE item_grams AS
            SELECT DISTINCT item, unnest({grams_sql('w', nb)}) AS g FROM bench_words WHERE bench = {lit} AND len(w) >= {nb}
        """)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE template AS
            SELECT g FROM item_grams GROUP BY g HAVING count(*) > {limit}
        """)
        con.execute(f"INSERT INTO bench_grams SELECT g, {lit}, item FROM item_grams ANTI JOIN template USING (g)")
        coverage = BENCHMARKS[name].min_coverage if min_coverage is None else min_coverage
        con.execute(f"INSERT INTO bench_totals SELECT {lit}, item, count(*), {coverage} FROM item_grams "
                    f"ANTI JOIN template USING (g) GROUP BY item")
        (templates,) = con.execute("SELECT count(*) FROM template").fetchall()[0]
        (kept,) = con.execute(f"SELECT count(DISTINCT g) FROM bench_grams WHERE bench = {lit}").fetchall()[0]
        (short,) = con.execute(f"SELECT count(*) FROM bench_words WHERE bench = {lit} AND len(w) < {nb}").fetchall()[0]
        sizes.add(nb)
        info[name] = {"items": int(items), "n": nb, "ngrams": int(kept), "template_ngrams": int(templates),
                      "exact_only_items": int(short), "min_coverage": coverage}
    con.execute("DROP TABLE IF EXISTS item_grams")
    con.execute("DROP TABLE IF EXISTS template")
    (total,) = con.execute("SELECT count(*) FROM bench_grams").fetchall()[0]
    (exact,) = con.execute("SELECT count(*) FROM bench_exact").fetchall()[0]
    return BenchmarkIndex({k: info[k] for k in names}, tuple(sorted(sizes)), int(total), int(exact))


@dataclass(frozen=True)
class DecontamConfig:
    ngram: int = DEFAULT_NGRAM
    min_ngram: int = DEFAULT_NGRAM  # < ngram: lower n per benchmark to its 5th-percentile item length, not below this
    benchmarks: tuple[str, ...] = tuple(BENCHMARKS)
    completions: bool = False
    mode: str = "flag"
    columns: tuple[str, ...] = ()  # explicit text columns (default: the known prompt/completion columns)
    min_coverage: float | None = None  # None: each benchmark's default (0 = any n-gram; K&K 0.5)

    def validate(self) -> None:
        if self.ngram < 1:
            raise UsageError(f"--ngram {self.ngram}: must be >= 1")
        if not 1 <= self.min_ngram <= self.ngram:
            raise UsageError(f"--min-ngram {self.min_ngram}: must be between 1 and --ngram {self.ngram}")
        if self.min_coverage is not None and not 0.0 <= self.min_coverage <= 1.0:
            raise UsageError(f"--min-coverage {self.min_coverage}: must be between 0 and 1")
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode!r}: choose flag or drop")
        unknown = [b for b in self.benchmarks if b not in BENCHMARKS]
        if unknown or not self.benchmarks:
            raise UsageError(f"--benchmark {','.join(unknown) or '(none)'}: choose from {', '.join(BENCHMARKS)}")

    def resolved(self) -> dict[str, Any]:
        d = asdict(self)
        d["benchmarks"] = list(self.benchmarks)
        d["columns"] = list(self.columns)
        d["generator_version"] = GENERATOR_VERSION
        return d


def _quote(s: Any) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def text_expressions(schema: pa.Schema, cfg: DecontamConfig) -> list[tuple[str, str]]:
    """(column, SQL expression giving a list of texts) for each text column this check reads."""
    def expr(name: str, side: str) -> str | None:
        field = schema.field(name)
        t = field.type
        col = _ident(name)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return f"[{col}]"
        if pa.types.is_list(t) and pa.types.is_struct(t.value_type):
            names = {t.value_type.field(i).name for i in range(t.value_type.num_fields)}
            if {"role", "content"} <= names:
                keep = "m.role <> 'assistant'" if side == "prompt" else "m.role = 'assistant'"
                return f"list_transform(list_filter({col}, lambda m: {keep}), lambda m: m.content)"
        if pa.types.is_list(t) and pa.types.is_string(t.value_type):
            return col
        return None

    out: list[tuple[str, str]] = []
    if cfg.columns:
        for name in cfg.columns:
            if name not in schema.names:
                raise UsageError(f"--column {name!r}: not in the dataset (columns: {', '.join(schema.names)})")
            e = expr(name, "completion" if name in ("completion", "chosen", "rejected") else "prompt")
            if e is None:
                raise UsageError(f"--column {name!r}: type {schema.field(name).type} holds no text")
            out.append((name, e))
        return out
    for name in PROMPT_COLUMNS:
        if name in schema.names and (e := expr(name, "prompt")) is not None:
            out.append((name, e))
    if cfg.completions:
        for name in COMPLETION_COLUMNS:
            if name in schema.names and (e := expr(name, "completion")) is not None:
                out.append((name + ":completion", e))
    return out


def find_contamination(con, files: list[Path], schema: pa.Schema, index: BenchmarkIndex, cfg: DecontamConfig
                       ) -> tuple[dict[tuple[int, int], dict[str, Any]], list[str]]:
    """{(file number, row in file): match} for the contaminated rows of one split, and the columns read."""
    exprs = text_expressions(schema, cfg)
    if not exprs or not (index.grams or index.exact):
        return {}, [c for c, _ in exprs]
    file_list = "[" + ", ".join(_quote(f) for f in files) + "]"
    file_no = "CASE filename " + " ".join(f"WHEN {_quote(f)} THEN {i}" for i, f in enumerate(files)) + " END"
    texts = " UNION ALL ".join(f"SELECT fno, rno, unnest({e}) AS text FROM src" for _, e in exprs)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW src AS SELECT {file_no} AS fno, file_row_number AS rno, * "
        f"FROM read_parquet({file_list}, filename = true, file_row_number = true)"
    )
    grams = " UNION ALL ".join(
        f"SELECT fno, rno, unnest({grams_sql('w', k)}) AS g FROM words WHERE len(w) >= {k}" for k in index.sizes
    ) or "SELECT NULL::INTEGER AS fno, NULL::BIGINT AS rno, NULL::VARCHAR AS g WHERE false"
    found = con.execute(
        f"""
        WITH texts AS ({texts}),
        words AS MATERIALIZED (SELECT fno, rno, {words_sql('text')} AS w FROM texts WHERE text IS NOT NULL),
        d AS (SELECT DISTINCT fno, rno, g FROM ({grams})),
        m AS (SELECT d.fno, d.rno, d.g, b.bench, b.item FROM d JOIN bench_grams b USING (g)),
        per_item AS (SELECT fno, rno, bench, item, count(*) AS k FROM m GROUP BY ALL),
        ok AS (
            SELECT p.fno, p.rno, p.bench, p.item FROM per_item p JOIN bench_totals t USING (bench, item)
            WHERE p.k >= greatest(1, t.coverage * t.total)
        ),
        ngram_counts AS (SELECT m.fno, m.rno, count(DISTINCT m.g) AS k FROM m JOIN ok USING (fno, rno, bench, item) GROUP BY 1, 2),
        exact AS (
            SELECT DISTINCT w.fno, w.rno, b.bench, b.item FROM words w JOIN bench_exact b ON array_to_string(w.w, ' ') = b.t
        ),
        hits AS (SELECT fno, rno, bench, item FROM ok UNION SELECT fno, rno, bench, item FROM exact)
        SELECT h.fno, h.rno, coalesce(any_value(n.k), 0), list(DISTINCT h.bench ORDER BY h.bench),
               list(DISTINCT h.bench || ':' || h.item ORDER BY h.bench || ':' || h.item)
        FROM hits h LEFT JOIN ngram_counts n USING (fno, rno) GROUP BY 1, 2
        """
    ).fetchall()
    hits = {(int(f), int(r)): {"grams": int(k), "benchmarks": list(b), "items": list(i)} for f, r, k, b, i in found}
    return hits, [c for c, _ in exprs]


class _FlaggedSource:
    """The rows of one split with the decontam columns; ``keep`` picks clean or contaminated rows."""

    def __init__(self, files: list[Path], schema: pa.Schema, hits: dict, keep: str, add_columns: bool):
        self.files, self.hits, self.keep, self.add_columns = files, hits, keep, add_columns
        self.schema = pa.schema(list(schema) + [pa.field(n, t) for n, t in DECONTAM_FIELDS]) if add_columns else schema

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        index = 0
        for fno, f in enumerate(self.files):
            rno = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=2048):
                for row in batch.to_pylist():
                    h = self.hits.get((fno, rno))
                    rno += 1
                    if (self.keep == "clean" and h) or (self.keep == "contaminated" and not h):
                        continue
                    if index >= start:
                        if self.add_columns:
                            row["contaminated"] = h is not None
                            row["contam_benchmarks"] = h["benchmarks"] if h else []
                            row["contam_items"] = h["items"] if h else []
                            row["contam_ngrams"] = h["grams"] if h else 0
                        yield row
                    index += 1


# ------------------------------------------------------------------------------------------ entry point


def decontaminate(
    dataset: str | Path,
    out: str | Path,
    cfg: DecontamConfig = DecontamConfig(),
    *,
    data_dir: str | Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """Check every config/split of the cotforge dataset ``dataset``; write the result to ``out``."""
    import duckdb

    from cotforge.store import layout
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.manifest import manifest_shards, read_manifest
    from cotforge.store.verify import require_intact

    cfg.validate()
    src = Path(dataset)
    if not (src / layout.MANIFEST).is_file():
        raise UsageError(f"--input {dataset}: not a cotforge dataset folder (no {layout.MANIFEST})")
    from cotforge.datagen.inputs import check_out_apart

    check_out_apart(out, [src])
    manifest = read_manifest(src)
    for listed in manifest_shards(manifest).values():  # before anything is written: a damaged shard is named
        require_intact(src, listed, manifest)
    data_dir = Path(data_dir) if data_dir else shared_data_dir()
    if not data_dir.is_dir():
        raise UsageError(f"benchmark data folder {data_dir} not found; set COTFORGE_SHARED_DATA or pass --data-dir")
    con = duckdb.connect()
    index = build_index(con, cfg.benchmarks, cfg.ngram, cfg.min_ngram, data_dir, cfg.min_coverage)
    if not index.grams and not index.exact:
        errors = "; ".join(f"{k}: {v.get('error', 'no items')}" for k, v in index.info.items())
        raise UsageError(f"no benchmark could be read from {data_dir}: {errors}")

    build_config = {
        "decontam": cfg.resolved(),
        "input": {"path": str(src), "name": manifest.get("name"), "family": manifest.get("family"),
                  "content_hash": manifest.get("content_hash"), "build_hash": manifest.get("build_hash")},
        "benchmarks": {k: {kk: v for kk, v in info.items() if kk != "error"} for k, info in index.info.items()},
    }
    out = Path(out)
    writer = DatasetWriter(
        out, name=f"{manifest.get('name')}-decontam", family=manifest.get("family", "unknown"),
        version=manifest.get("version", "1.0.0"), build_config=build_config, seeds=manifest.get("seeds", {}),
        command=command or rebuild_command(src, out, cfg), overwrite=overwrite,
        inputs=[{"kind": "cotforge", "path": str(src), "name": manifest.get("name"),
                 "content_hash": manifest.get("content_hash")}],
    )
    report: dict[str, Any] = {"ngram": cfg.ngram, "mode": cfg.mode, "completions": cfg.completions,
                              "benchmarks": index.info, "splits": {}}
    empty: list[str] = []
    for key, shards in sorted(manifest_shards(manifest).items()):
        config, split = layout.parse_split_key(key)
        files = [src / s.path for s in shards]
        if not files:  # an empty split has no shard (and so no schema): nothing to check or copy
            report["splits"][key] = {"rows": 0, "columns": [], "contaminated": 0, "share": 0.0, "by_benchmark": {},
                                     "benchmark_items_hit": 0, "top_items": []}
            empty.append(key)
            continue
        schema = pq.read_schema(files[0])
        if any(n in schema.names for n, _ in DECONTAM_FIELDS):
            raise UsageError(f"{src} ({key}): already has decontam columns; decontaminate the original dataset")
        hits, columns = find_contamination(con, files, schema, index, cfg)
        per_bench: Counter[str] = Counter()
        items: Counter[str] = Counter()
        for h in hits.values():
            per_bench.update(h["benchmarks"])
            items.update(h["items"])
        rows = sum(s.rows for s in shards)
        report["splits"][key] = {
            "rows": rows, "columns": columns, "contaminated": len(hits),
            "share": (len(hits) / rows) if rows else 0.0,
            "by_benchmark": dict(sorted(per_bench.items())),
            "benchmark_items_hit": len(items),
            "top_items": [{"item": k, "rows": v} for k, v in items.most_common(10)],
        }
        if cfg.mode == "flag":
            writer.write_split(config, split, _FlaggedSource(files, schema, hits, "all", True))
        else:
            writer.write_split(config, split, _FlaggedSource(files, schema, hits, "clean", False))
            if hits:
                writer.write_split(f"{config}_contaminated", split, _FlaggedSource(files, schema, hits, "contaminated", True))
    report["contaminated_rows"] = sum(s["contaminated"] for s in report["splits"].values())
    stats = {**manifest.get("stats", {}), "decontam": report}
    input_card = (src / layout.CARD).read_text(encoding="utf-8") if (src / layout.CARD).is_file() else ""
    notes = list(manifest.get("notes", []))
    if empty:
        notes.append(f"Empty in the input, so left out: {', '.join(empty)}.")
    return writer.finish(
        notes=notes, stats=stats,
        render_card=lambda m: decontam_card(m, input_card, report, out=out, input_command=manifest.get("command")),
    )


def rebuild_command(src: Path, out: Path, cfg: DecontamConfig) -> str:
    from cotforge.datagen.inputs import command_path

    parts = ["cotforge decontam", f"--input {command_path(src)}", f"--out {command_path(Path(out).resolve())}",
             f"--ngram {cfg.ngram}",
             f"--min-ngram {cfg.min_ngram}", f"--mode {cfg.mode}", "--benchmark " + ",".join(cfg.benchmarks)]
    if cfg.completions:
        parts.append("--completions")
    if cfg.min_coverage is not None:
        parts.append(f"--min-coverage {cfg.min_coverage}")
    for c in cfg.columns:
        parts.append(f"--column {shlex.quote(c)}")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------ card


def report_markdown(report: dict[str, Any]) -> str:
    """The decontamination section of a card."""
    lines = [
        "## Decontamination",
        "",
        f"Checked with `cotforge decontam`: word {report['ngram']}-grams of the "
        + ("prompt and completion" if report["completions"] else "prompt")
        + " text against the benchmarks below (lower-cased, non-alphanumerics as spaces; n-grams found in more than "
        "1% of a benchmark's items are template text and ignored), and each text as a whole against every item's "
        "whole text, so exact copies of items too short for an n-gram are caught too (`contam_ngrams` counts "
        "n-grams only). "
        + ("Contaminated rows are flagged in `contaminated`, `contam_benchmarks`, `contam_items` and `contam_ngrams`."
           if report["mode"] == "flag" else
           "Contaminated rows were removed and kept, flagged, in `<config>_contaminated`."),
        "",
        f"**{report['contaminated_rows']:,} contaminated rows.**",
        "",
        "| config/split | rows | contaminated | share | by benchmark | columns read |",
        "|---|---:|---:|---:|---|---|",
    ]
    for key, s in report["splits"].items():
        by = ", ".join(f"{b} {n:,}" for b, n in s["by_benchmark"].items()) or "none"
        lines.append(f"| {key} | {s['rows']:,} | {s['contaminated']:,} | {100 * s['share']:.2f}% | {by} | "
                     f"{', '.join(s['columns']) or 'none'} |")
    lines += ["", "| benchmark | items | n | coverage | template n-grams ignored | items too short for n-grams (exact match only) |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, info in report["benchmarks"].items():
        if "error" in info:
            lines.append(f"| {name} | - | - | - | - | {info['error']} |")
        else:
            cov = f"{info['min_coverage']:.0%}" if info["min_coverage"] else "any"
            lines.append(f"| {name} | {info['items']:,} | {info['n']} | {cov} | {info['template_ngrams']:,} | "
                         f"{info['exact_only_items']:,} |")
    merged: Counter[str] = Counter()  # one entry per item, its rows summed over the splits
    for s in report["splits"].values():
        for t in s["top_items"]:
            merged[t["item"]] += t["rows"]
    if merged:
        top = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        lines += ["", "Most often matched benchmark items: " + ", ".join(f"`{item}` ({rows})" for item, rows in top) + "."]
    return "\n".join(lines) + "\n"


_LOAD_RE = re.compile(r"""load_dataset\((["'])(?:\\.|(?!\1).)*\1""")


def _retarget_body(body: str, out: Path | None, command: str, input_command: str | None) -> tuple[str, bool]:
    """The input card's body made true for this copy: its ``load_dataset`` calls load ``out`` and its
    rebuild command is the decontam one (the input's own command kept as a comment). Returns
    (body, whether a rebuild block was found)."""
    if out is not None:
        body = _LOAD_RE.sub(lambda _: "load_dataset(" + json.dumps(str(out)), body)
    if input_command:
        block = f"```bash\n{input_command}\n```"
        if block in body:
            return body.replace(block, f"```bash\n{command}\n# the input dataset was built with: {input_command}\n```"), True
    return body, False


def decontam_card(manifest: dict[str, Any], input_card: str, report: dict[str, Any], *, out: Path | None = None,
                  input_command: str | None = None) -> str:
    """The input dataset's card with fresh front matter, a note on top and the decontamination section.

    ``out``: the folder this copy was written to (the ``load_dataset`` snippets are pointed at it);
    ``input_command``: the input's rebuild command, replaced by this copy's ``cotforge decontam`` command.
    """
    from cotforge.hub.cards import front_matter

    meta: dict[str, Any] = {}
    body = input_card
    if input_card.startswith("---\n"):
        end = input_card.find("\n---\n", 4)
        if end > 0:
            import yaml

            try:
                meta = yaml.safe_load(input_card[4:end]) or {}
            except yaml.YAMLError:
                meta = {}
            body = input_card[end + 5 :]
    meta.pop("configs", None)
    inp = manifest["build_config"]["input"]
    note = (
        f"> **Decontaminated copy** of `{inp['name']}` (content hash `{str(inp['content_hash'])[:16]}`), "
        f"mode `{report['mode']}`: {report['contaminated_rows']:,} contaminated rows "
        f"{'flagged' if report['mode'] == 'flag' else 'moved to `<config>_contaminated`'}. The sections below "
        f"describe the input dataset; see *Decontamination* at the end. This copy's content hash is "
        f"`{manifest['content_hash']}`.\n\n"
    )
    if not body.strip():
        body = f"# {manifest['name']}\n\n"
    body, rebuilt = _retarget_body(body, out, manifest["command"], input_command)
    tail = "" if rebuilt else f"\nRebuild this copy (from the input dataset):\n\n```bash\n{manifest['command']}\n```\n"
    return front_matter(manifest, meta) + note + body.rstrip() + "\n\n" + report_markdown(report) + tail
