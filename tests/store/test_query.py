"""``cotforge query``: views per config/split and over everything; table, CSV and JSON output."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cotforge.cli import main
from cotforge.errors import UsageError
from cotforge.store.query import run_query

from test_store import build


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy") / "ds"
    build(root, n=50)
    return root


def test_views_per_split_and_over_everything(toy):
    cols, rows = run_query(toy, "SELECT count(*) FROM main_train")
    assert rows == [(50,)]
    cols, rows = run_query(toy, "SELECT config, split, count(*) AS n FROM data GROUP BY ALL ORDER BY split")
    assert cols == ["config", "split", "n"] and rows == [("main", "test", 10), ("main", "train", 50)]


def test_cli_json_and_csv(toy, capsys):
    assert main(["query", str(toy), "SELECT idx, tags FROM main_test ORDER BY idx LIMIT 2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"idx": 0, "tags": ["0"]}, {"idx": 1, "tags": ["1"]}]
    assert main(["query", str(toy), "SELECT idx FROM main_test ORDER BY idx", "-f", "csv"]) == 0
    parsed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert parsed[0] == ["idx"] and len(parsed) == 11


def test_cli_table(toy, capsys):
    assert main(["query", str(toy), "SELECT count(*) AS n FROM data"]) == 0
    assert "60" in capsys.readouterr().out


def test_bad_sql_and_bad_folder_are_one_line_errors(toy, tmp_path, capsys):
    assert main(["query", str(toy), "SELECT nope FROM main_test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SQL:") and err.count("\n") == 1
    assert main(["query", str(tmp_path / "missing"), "SELECT 1"]) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--format"):
        run_query(toy, "SELECT 1", "xml")


def _tree(*roots):
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_corpus_of_write_and_escape_attempts_changes_nothing_and_reads_nothing_outside(tmp_path, monkeypatch):
    """The engine refuses: run_query does not inspect the SQL, so this is DuckDB's own confinement."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cotforge.store.query import connect
    from sql_corpus import READS, WRITES, corpus

    root = tmp_path / "ds"
    build(root, n=50)
    secret = tmp_path / "secret.csv"
    secret.write_text("TOPSECRET,1\nTOPSECRET,2\n")
    pq.write_table(pa.table({"s": ["TOPSECRET"]}), tmp_path / "secret.parquet")
    stray = root / "data/main/train-00005-of-00009.parquet"  # unlisted: never queried
    pq.write_table(pa.table({"idx": [999], "s": ["TOPSECRET"]}), stray)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("HOME", str(scratch))  # ~/.duckdb (extensions, secrets) would land here
    ctx = dict(shard=root / "data/main/train-00000-of-00001.parquet", data=root / "data", outside=secret,
               outside_parquet=tmp_path / "secret.parquet", stray=stray, tmp=scratch)
    before = _tree(tmp_path)
    refused = set()
    # One connection for the whole corpus: an attempt that loosened anything would help the next ones.
    con = connect(root)
    for sql in corpus():
        query = sql.format(**ctx)
        try:
            rows = con.execute(query).fetchall()
        except duckdb.Error:
            refused.add(sql)
        else:
            assert "TOPSECRET" not in repr(rows) and "999" not in repr(rows), query
        assert _tree(tmp_path) == before, f"{query} changed a file"
    con.close()
    # and through the command, as the report ran it
    for sql in ("EXPLAIN ANALYZE COPY (SELECT 1 AS idx) TO '{shard}' (FORMAT parquet, USE_TMP_FILE false)",
                "SELECT * FROM read_text('{outside}')"):
        with pytest.raises(UsageError, match="^SQL: .*(Permission|disabled)"):
            run_query(root, sql.format(**ctx))
    assert _tree(tmp_path) == before
    # every statement that names a path is refused by the engine, as written and under EXPLAIN ANALYZE
    for sql in WRITES + READS:
        if "{" in sql:
            assert sql in refused and "EXPLAIN ANALYZE " + sql in refused, sql
    assert run_query(root, "SELECT count(*) FROM main_train")[1] == [(50,)]  # the stray is not in the view
    assert run_query(root, "SELECT count(*) FROM data")[1] == [(60,)]


@pytest.mark.parametrize("sql", ["", ";", "  ;  ; ", "\n-- just a comment", "/* nothing */"])
def test_an_empty_query_is_one_line_and_exit_2(toy, sql, capsys):
    assert main(["query", str(toy), sql]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SQL:") and err.count("\n") == 1 and "empty" in err


def test_negative_limit_and_bad_manifests_are_one_line_errors(toy, tmp_path, capsys):
    import shutil

    assert main(["query", str(toy), "SELECT 1", "--limit", "-1"]) == 2
    assert "--limit -1" in capsys.readouterr().err
    for text in ("[]", '{"splits": []}', '{"splits": {"main/train": {"shards": [{"path": "x"}]}}}', '{"spl'):
        copy = tmp_path / f"copy{len(text)}"
        shutil.copytree(toy, copy)
        (copy / "manifest.json").write_text(text)
        assert main(["query", str(copy), "SELECT 1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "malformed manifest" in err and "manifest.json" in err


def test_unlisted_shards_are_not_queried_and_are_warned_about(toy, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(toy, copy)
    shutil.copy(copy / "data/main/test-00000-of-00001.parquet", copy / "data/main/test-00001-of-00002.parquet")
    assert main(["query", str(copy), "SELECT count(*) AS n FROM main_test", "-f", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["n", "10"]
    assert "not listed in manifest.json" in out.err and "test-00001-of-00002.parquet" in out.err


def test_an_unfinished_build_is_flagged(toy, tmp_path, capsys):
    import shutil

    from cotforge.store import layout

    copy = tmp_path / "copy"
    shutil.copytree(toy, copy)
    (copy / layout.JOURNAL).parent.mkdir()
    (copy / layout.JOURNAL).write_text("{}")
    assert main(["query", str(copy), "SELECT count(*) FROM data", "-f", "csv"]) == 0
    assert "build is running or was interrupted" in capsys.readouterr().err


def _flip_in_first_data_page(path, column):
    """Flip one byte inside the first data page of ``column``: the file keeps its size and footer."""
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(md.column(i) for i in range(md.num_columns) if md.column(i).path_in_schema == column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = bytearray(path.read_bytes())
    at = start + chunk.total_compressed_size - 2  # inside the chunk's last page body, past its header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_shard_is_named_never_read_as_different_values(toy, tmp_path, capsys):
    """A flipped bit fails the page's CRC as it is read (an error naming the split, exit 2), and a
    truncated shard is refused before anything is read; columns of intact pages stay queryable."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(toy, copy)
    _flip_in_first_data_page(copy / "data/main/train-00000-of-00001.parquet", "text")
    assert main(["query", str(copy), "SELECT * FROM data", "-f", "json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a shard of view main_train is damaged" in err and "CRC" in err
    assert "rerun the build command to repair the folder" in err
    assert main(["query", str(copy), "SELECT count(*) AS n FROM main_test", "-f", "csv"]) == 0  # another split
    assert capsys.readouterr().out.splitlines() == ["n", "10"]

    cut = tmp_path / "cut"
    shutil.copytree(toy, cut)
    shard = cut / "data/main/test-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-50])
    assert main(["query", str(cut), "SELECT count(*) FROM data"]) == 2
    err = capsys.readouterr().err
    assert "data/main/test-00000-of-00001.parquet is listed in manifest.json but damaged" in err and err.count("\n") == 1
