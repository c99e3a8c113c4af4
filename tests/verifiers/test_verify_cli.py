"""``cotforge verify``: one response as JSON, whole Parquet/JSONL files with verdict columns,
clear errors naming the file and row, atomic output."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer

from cotforge.errors import InputRowError, UsageError
from cotforge.verifiers.cli import parse_options, register, verify_file, verify_one

GOLD = "(1) Amelia is a knight\n(2) Penelope is a knight\n(3) Evelyn is a knave"
RIGHT = "<answer>Amelia is a knight, Penelope is a knight, Evelyn is a knave</answer>"
WRONG = "<answer>Amelia is a knave, Penelope is a knight, Evelyn is a knave</answer>"
ADD = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
}


def _app():
    """The real cotforge app once the lead registered ``verify``; otherwise an app of our own."""
    import cotforge.cli as root

    if any(getattr(c, "name", None) == "verify" for c in root.app.registered_commands):
        return root.app
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root():
        """test app"""

    register(app)
    return app


def run(argv, capsys):
    """Run the CLI like ``cotforge.cli.main``: usage errors print one line and give exit code 2."""
    code = 0
    try:
        _app()(args=argv, prog_name="cotforge", standalone_mode=False)
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except typer.Exit as exc:
        code = exc.exit_code
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------------------------
# One response


def test_single_response_prints_verdict_json(capsys):
    code, out, _ = run(["verify", "--verifier", "kk", "--gold", GOLD, "--response", RIGHT], capsys)
    assert code == 0
    verdict = json.loads(out)
    assert verdict["status"] == "correct" and verdict["score"] == 1.0
    assert verdict["details"]["per_person"] == {"Amelia": True, "Penelope": True, "Evelyn": True}


def test_single_response_with_options_and_files(tmp_path, capsys):
    resp = tmp_path / "resp.txt"
    resp.write_text("<think>r</think><answer>" + GOLD + "</answer>")
    code, out, _ = run(
        ["verify", "--verifier", "kk", "--gold", GOLD, "--response", f"@{resp}", "--option", "scoring=logic_rl"], capsys
    )
    assert code == 0 and json.loads(out)["score"] == 3.0
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps(ADD))
    code, out, _ = run(
        ["verify", "--verifier", "code", "--gold", f"@{gold}", "--response", "    return a + b\n",
         "--option", "use_reference=false", "--option", "timeout=5"],
        capsys,
    )
    assert code == 0 and json.loads(out)["status"] == "correct"


def test_main_entry_point(capsys):
    import cotforge.cli as root

    assert any(getattr(c, "name", None) == "verify" for c in root.app.registered_commands)
    assert root.main(["verify", "--verifier", "kk", "--gold", GOLD, "--response", WRONG]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "incorrect"
    assert root.main(["verify", "--verifier", "nope", "--gold", "x", "--response", "y"]) == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["verify", "--verifier", "chess", "--gold", "x", "--response", "y"], "--verifier 'chess': unknown"),
        (["verify", "--verifier", "kk", "--gold", "x"], "--gold and --response go together"),
        (["verify", "--verifier", "kk"], "give --gold and --response"),
        (["verify", "--verifier", "kk", "--gold", "x", "--response", "y", "--option", "novalue"], "expected key=value"),
        (["verify", "--verifier", "kk", "--gold", "x", "--response", "y", "--option", "scoring=partial"], "unknown scoring"),
        (["verify", "--verifier", "kk", "--gold", "x", "--response", "y", "--option", "colour=1"], "colour"),
        (["verify", "--verifier", "kk", "--gold", "@/no/such/file", "--response", "y"], "cannot read"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_parse_options():
    assert parse_options(["scoring=logic_rl", "memory_mb=1024", "roles=[\"saint\", \"sinner\"]", "x=a=b"]) == {
        "scoring": "logic_rl", "memory_mb": 1024, "roles": ["saint", "sinner"], "x": "a=b"}


def test_verify_one():
    assert verify_one("kk", GOLD, RIGHT).correct
    assert verify_one("kk", GOLD, RIGHT, {"scoring": "warmup"}).score == -2.0


# --------------------------------------------------------------------------------------------
# Files


def _write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)


ROWS = [
    {"id": 0, "gold": GOLD, "completion": RIGHT, "finish": "stop"},
    {"id": 1, "gold": GOLD, "completion": WRONG, "finish": "stop"},
    {"id": 2, "gold": GOLD, "completion": RIGHT, "finish": "length"},
    {"id": 3, "gold": "unreadable", "completion": RIGHT, "finish": "stop"},
    {"id": 4, "gold": GOLD, "completion": None, "finish": "stop"},
]
EXPECTED = ["correct", "incorrect", "truncated", "unparsable_gold", "no_answer"]


def test_parquet_in_parquet_out(tmp_path, capsys):
    src, dst = tmp_path / "in.parquet", tmp_path / "out" / "graded.parquet"
    _write_parquet(src, ROWS)
    code, _, err = run(
        ["verify", "--verifier", "kk", "--input", str(src), "--gold-col", "gold", "--response-col", "completion",
         "--truncated-col", "finish", "--out", str(dst), "--no-progress"],
        capsys,
    )
    assert code == 0 and "graded 5 rows" in err
    table = pq.read_table(dst)
    assert table.column_names == ["id", "gold", "completion", "finish",
                                  "verdict_status", "verdict_score", "verdict_extracted", "verdict_reason"]
    assert table.column("verdict_status").to_pylist() == EXPECTED
    assert table.column("verdict_score").to_pylist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert table.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert table.schema.field("verdict_score").type == pa.float64()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["graded.parquet"]  # no temporary left behind


def test_jsonl_in_jsonl_out_with_details_and_regrade(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")  # a trailing blank line is fine
    summary = verify_file(src, dst, verifier="kk", gold_cols=["gold"], response_col="completion",
                          truncated_col="finish", details=True, options={"scoring": "logic_rl"})
    assert summary["rows"] == 5 and summary["counts"]["no_answer"] == 3
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["verdict_status"] for r in out] == ["no_answer", "no_answer", "truncated", "unparsable_gold", "no_answer"]
    assert json.loads(out[0]["verdict_details"])["format_ok"] is False
    # grading the graded file again replaces the verdict columns instead of failing
    again = tmp_path / "again.parquet"
    verify_file(dst, again, verifier="kk", gold_cols=["gold"], response_col="completion")
    t = pq.read_table(again)
    assert t.column("verdict_status").to_pylist()[:2] == ["correct", "incorrect"]
    assert t.column_names.count("verdict_status") == 1


def test_gzipped_jsonl_and_several_gold_columns(tmp_path):
    src, dst = tmp_path / "code.jsonl.gz", tmp_path / "code.parquet"
    rows = [dict(ADD, completion="    return a + b\n"), dict(ADD, completion="    return a * b\n")]
    with gzip.open(src, "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    summary = verify_file(src, dst, verifier="code", gold_cols=["prompt", "test", "entry_point"],
                          response_col="completion", options={"timeout": 5.0, "use_reference": False}, workers=2)
    assert summary["counts"] == {"correct": 1, "incorrect": 1}
    assert pq.read_table(dst).column("verdict_status").to_pylist() == ["correct", "incorrect"]


def test_progress_bar_path_runs(tmp_path):
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _write_parquet(src, ROWS[:2])
    assert verify_file(src, dst, verifier="kk", gold_cols=["gold"], response_col="completion", progress=True)["rows"] == 2


# --------------------------------------------------------------------------------------------
# Malformed input: errors name the file and the row; nothing is written


def test_bad_json_line_names_file_and_row(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(InputRowError) as info:
        verify_file(src, dst, verifier="kk", gold_cols=["gold"], response_col="completion")
    # InputRowError.row is 0-based; the message counts from 1, so it names the editor's line 2, once
    assert info.value.row == 1 and str(info.value) == f"{src}: row 2: not valid JSON (Expecting property name enclosed in double quotes)"
    assert not dst.exists()


def test_blank_lines_count_in_row_numbers(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps({"gold": GOLD}) + "\n")  # the bad row is line 3
    with pytest.raises(InputRowError) as info:
        verify_file(src, tmp_path / "o.jsonl", verifier="kk", gold_cols=["gold"], response_col="completion")
    assert info.value.row == 2 and f"{src}: row 3: has no 'completion' field" == str(info.value)


def test_out_may_not_be_the_input(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n")
    before = src.read_bytes()
    for out in (src, tmp_path / "." / "in.jsonl"):
        with pytest.raises(UsageError, match=r"--out .*in.jsonl: is the --input file; write the graded copy to another path"):
            verify_file(src, out, verifier="kk", gold_cols=["gold"], response_col="completion")
    assert src.read_bytes() == before


def test_non_object_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("[1, 2]\n")
    with pytest.raises(InputRowError, match=r"in.jsonl: row 1: a JSON list, not an object$"):
        verify_file(src, tmp_path / "o.jsonl", verifier="kk", gold_cols=["gold"], response_col="completion")


def test_row_missing_field_names_row(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"gold": GOLD}) + "\n")
    with pytest.raises(InputRowError, match=r"in.jsonl: row 2: has no 'completion' field$"):
        verify_file(src, tmp_path / "o.jsonl", verifier="kk", gold_cols=["gold"], response_col="completion")


def test_parquet_missing_column_names_file_and_column(tmp_path):
    src = tmp_path / "in.parquet"
    _write_parquet(src, ROWS)
    with pytest.raises(UsageError, match=r"in\.parquet: no column 'response'"):
        verify_file(src, tmp_path / "o.parquet", verifier="kk", gold_cols=["gold"], response_col="response")


def test_corrupt_parquet_and_unknown_types(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UsageError, match="cannot read Parquet"):
        verify_file(bad, tmp_path / "o.parquet", verifier="kk", gold_cols=["gold"], response_col="completion")
    csv = tmp_path / "in.csv"
    csv.write_text("a,b\n")
    with pytest.raises(UsageError, match="unsupported file type"):
        verify_file(csv, tmp_path / "o.parquet", verifier="kk", gold_cols=["gold"], response_col="completion")
    with pytest.raises(UsageError, match="no such file"):
        verify_file(tmp_path / "missing.jsonl", tmp_path / "o.parquet", verifier="kk", gold_cols=["g"], response_col="r")
    code, _, err = run(["verify", "--verifier", "kk", "--input", str(bad), "--gold-col", "gold", "--out",
                        str(tmp_path / "o.parquet")], capsys)
    assert code == 2 and "bad.parquet" in err


def test_failed_write_leaves_no_partial_output(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps({"gold": GOLD, "completion": RIGHT, "mixed": 1}) + "\n"
                   + json.dumps({"gold": GOLD, "completion": RIGHT, "mixed": "text"}) + "\n")
    with pytest.raises(UsageError, match="cannot be written as Parquet"):
        verify_file(src, dst, verifier="kk", gold_cols=["gold"], response_col="completion")
    assert list(tmp_path.iterdir()) == [src]


def test_math_file_through_the_pool(tmp_path):
    pytest.importorskip("cotforge.verifiers.pool", reason="the verifier pool is not in the tree yet")
    pytest.importorskip("cotforge.verifiers.math", reason="the math verifier is not in the tree yet")
    src, dst = tmp_path / "m.jsonl", tmp_path / "m.parquet"
    rows = [{"answer": "0.5", "out": r"\boxed{\frac12}"}, {"answer": "2", "out": r"\boxed{3}"}] * 40
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = verify_file(src, dst, verifier="math", gold_cols=["answer"], response_col="out", workers=2)
    assert summary["counts"] == {"correct": 40, "incorrect": 40}
    assert pq.read_table(dst).column("verdict_status").to_pylist() == ["correct", "incorrect"] * 40


def test_negative_workers_rejected(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ROWS[0]) + "\n")
    with pytest.raises(UsageError, match="--workers"):
        verify_file(src, tmp_path / "o.jsonl", verifier="kk", gold_cols=["gold"], response_col="completion", workers=-1)


# --------------------------------------------------------------------------------------------
# Binary inputs, killed runs, streaming


def test_binary_at_file_is_one_line_and_exit_2(tmp_path, capsys):
    from cotforge.cli import main

    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    for flag in ("--gold", "--response"):
        other = "--response" if flag == "--gold" else "--gold"
        assert main(["verify", "--verifier", "kk", flag, f"@{blob}", other, GOLD]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "blob.bin is not UTF-8 text" in err and flag in err


def test_bad_utf8_deep_in_a_jsonl_is_reported_with_its_row(tmp_path, capsys):
    from cotforge.cli import main

    src = tmp_path / "big.jsonl"
    good = (json.dumps({"gold": "x", "completion": "y"}) + "\n").encode()
    src.write_bytes(good * 50_000 + b'{"gold": "x", "completion": "\xff\xfe"}\n' + good)
    dst = tmp_path / "o.parquet"
    assert main(["verify", "--verifier", "kk", "--input", str(src), "--gold-col", "gold", "--response-col",
                 "completion", "--out", str(dst), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{src}: row 50001: not UTF-8 text" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl"]


def test_temp_files_of_killed_runs_are_removed_by_the_next_run(tmp_path, capsys):
    import subprocess
    import sys

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text("".join(json.dumps({"id": i, "gold": GOLD, "completion": RIGHT if i % 2 else WRONG}) + "\n"
                           for i in range(300)))
    driver = (
        "import os, sys, time\n"
        "import cotforge.verifiers.cli as c\n"
        "real = c._grade\n"
        "def grade(*a, **k):\n"
        "    out = real(*a, **k)\n"
        "    if getattr(grade, 'once', False):\n"
        "        print('written', flush=True); time.sleep(120)\n"
        "    grade.once = True\n"
        "    return out\n"
        "c._grade = grade\n"
        "c.verify_file(sys.argv[1], sys.argv[2], verifier='kk', gold_cols=['gold'], response_col='completion', "
        "batch_rows=100, workers=1)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", driver, str(src), str(dst)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"  # one batch is in the temp file, the next is graded
    finally:
        child.kill()  # SIGKILL: no cleanup runs
        child.wait()
    leftover = tmp_path / f".out.parquet.tmp-{child.pid}"
    assert leftover.is_file() and not dst.exists()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".out.parquet.tmp-{sleeper.pid}"  # a run still writing: not touched
        alive.write_bytes(b"busy")
        summary = verify_file(src, dst, verifier="kk", gold_cols=["gold"], response_col="completion")
        assert summary["rows"] == 300 and pq.read_table(dst).num_rows == 300
        assert not leftover.exists() and alive.read_bytes() == b"busy"
        assert f"removed {leftover}, left by an interrupted run" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_the_input_streams_through_in_batches(tmp_path, monkeypatch, suffix):
    import cotforge.verifiers.cli as cli

    rows = [{"id": i, "gold": GOLD, "completion": [RIGHT, WRONG, None][i % 3], "note": "n" if i % 7 else None}
            for i in range(1000)]
    src = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        _write_parquet(src, rows)
    else:
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = tmp_path / "whole.parquet"
    verify_file(src, whole, verifier="kk", gold_cols=["gold"], response_col="completion", batch_rows=10_000)

    real, seen = cli._grade, []

    def spy(verifier, jobs, workers, on_done):
        seen.append(len(jobs))
        return real(verifier, jobs, workers, on_done)

    monkeypatch.setattr(cli, "_grade", spy)
    streamed = tmp_path / "streamed.parquet"
    verify_file(src, streamed, verifier="kk", gold_cols=["gold"], response_col="completion", batch_rows=128)
    assert seen == [128] * 7 + [104]  # never more than one batch of rows graded at a time
    assert pq.read_table(streamed).equals(pq.read_table(whole))
    assert pq.ParquetFile(streamed).metadata.num_row_groups == 8  # each batch was written as it was graded
