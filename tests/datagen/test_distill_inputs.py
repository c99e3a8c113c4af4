"""Inputs for the datagen stages: cotforge datasets, Parquet, JSONL (plain, gzip, JSON list), Hub ids,
column mappings, and errors that name the file and row."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.datagen.inputs import answer_text, load_problems, open_input, parse_column_map
from cotforge.errors import InputRowError, UsageError


@pytest.fixture(scope="module")
def kk_dataset(tmp_path_factory):
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    root = tmp_path_factory.mktemp("kk")
    build_kk(root, KKBuildConfig(people=(3, 4), train=3, test=2, seed=1))
    return root


def test_cotforge_dataset_config_and_split(kk_dataset):
    with pytest.raises(UsageError, match="holds configs 3ppl, 4ppl; choose one with --config"):
        open_input(kk_dataset)
    src = open_input(kk_dataset, config="4ppl")
    assert src.record["split"] == "train" and src.record["content_hash"] and "quiz" in src.columns
    probs = load_problems(src, {"problem": "quiz", "prompt": "prompt"}, default_domain="kk")
    assert len(probs) == 3 and probs[0].messages[-1]["role"] == "user" and probs[0].answer.startswith("(1) ")
    test = load_problems(open_input(kk_dataset, config="3ppl", split="test"), {"problem": "quiz"}, default_domain="kk")
    assert len(test) == 2
    with pytest.raises(UsageError, match="--split 'dev'"):
        open_input(kk_dataset, config="3ppl", split="dev")
    with pytest.raises(UsageError, match="--config '9ppl'"):
        open_input(kk_dataset, config="9ppl")


def test_parquet_file_folder_json_list_and_gzip(tmp_path):
    rows = [{"q": "1+1?", "a": 2, "d": "math"}, {"q": "Largest prime below 8?", "a": 7, "d": "math"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "one.parquet")
    (tmp_path / "many").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:1]), tmp_path / "many" / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows[1:]), tmp_path / "many" / "b.parquet")
    (tmp_path / "list.json").write_text(json.dumps(rows))
    with gzip.open(tmp_path / "rows.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    mapping = {"problem": "q", "answer": "a", "domain": "d"}
    for name in ("one.parquet", "many", "list.json", "rows.jsonl.gz"):
        src = open_input(tmp_path / name)
        probs = load_problems(src, mapping)
        assert [(p.problem, p.answer, p.domain, p.index) for p in probs] == [("1+1?", "2", "math", 0), ("Largest prime below 8?", "7", "math", 1)], name
        assert src.record["sha256"]
    assert len(load_problems(open_input(tmp_path / "one.parquet"), mapping, limit=1)) == 1


def test_prompt_column_alone_and_bad_messages(tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "answer": "4"},
            {"prompt": [{"role": "user"}], "answer": "1"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputRowError, match=r"chat.jsonl: row 2: column 'prompt': message 0 lacks string 'role' and 'content'"):
        load_problems(open_input(path), {"prompt": "prompt"})
    first = load_problems(open_input(path), {"prompt": "prompt"}, limit=1)[0]
    assert first.problem == "2+2?" and first.messages[0] == {"role": "system", "content": "Be brief."}


def test_jsonl_row_numbers_are_line_indices(tmp_path):
    """Blank lines count, so the 1-based number in the message is the line an editor shows."""
    path = tmp_path / "gaps.jsonl"
    path.write_text('\n{"problem": "1+1?", "answer": "2"}\n\n\n{"problem": "2+2?"}\n')
    with pytest.raises(InputRowError) as err:
        load_problems(open_input(path))
    assert err.value.row == 4 and str(err.value) == f"{path}: row 5: column 'answer': missing gold answer"
    path.write_text('{"problem": "1+1?", "answer": "2"}\n[1, 2]\n')  # JSON lines, not one JSON list
    with pytest.raises(InputRowError, match=r"gaps.jsonl: row 2: expected a JSON object, got list"):
        load_problems(open_input(path))
    path.write_text('  [{"problem": "1+1?", "answer": "2"}, {"problem": "2+2?", "answer": "4"}]')  # one JSON list
    assert [p.index for p in load_problems(open_input(path))] == [0, 1]


def test_hub_id_offline_fails_with_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UsageError, match=r"--input someone/some-dataset-that-is-not-cached: not a local file or folder"):
        open_input("someone/some-dataset-that-is-not-cached")


def test_column_map_and_answer_text():
    assert parse_column_map(["problem=quiz", "answer = solution"], ("problem", "answer")) == {"problem": "quiz", "answer": "solution"}
    with pytest.raises(UsageError, match="expected FIELD=COLUMN"):
        parse_column_map(["quiz"], ("problem",))
    with pytest.raises(UsageError, match="unknown field 'question'; mappable fields: problem, answer"):
        parse_column_map(["question=q"], ("problem", "answer"))
    assert [answer_text(v) for v in ("x", 3, 2.5, False, [True, False], None)] == ["x", "3", "2.5", "False", "[true, false]", None]


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(UsageError, match="not a readable Parquet file"):
        open_input(tmp_path / "bad.parquet")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UsageError, match="unknown file type"):
        open_input(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="neither a cotforge dataset"):
        open_input(tmp_path / "empty")
    (tmp_path / "latin1.jsonl").write_bytes('{"problem": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        open_input(tmp_path / "latin1.jsonl")


def test_bad_utf8_past_the_sampled_rows_names_file_and_line(tmp_path):
    """Columns are sampled from the first 100 rows; a bad byte further down still names its line."""
    import gzip

    good = b"".join(json.dumps({"problem": f"{i}+1?", "answer": str(i + 1)}).encode() + b"\n" for i in range(150))
    bad = good + '{"problem": "caf\xe9?", "answer": "1"}\n'.encode("latin-1")
    for name, data in (("late.jsonl", bad), ("late.jsonl.gz", gzip.compress(bad))):
        path = tmp_path / name
        path.write_bytes(data)
        src = open_input(path)  # the first 100 rows are fine
        with pytest.raises(InputRowError) as err:
            load_problems(src)
        assert err.value.row == 150 and str(err.value).startswith(f"{path}: row 151: not UTF-8 text (byte 0xe9")
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + good.split(b"\n")[0] + b"\n")  # a byte order mark is not an error
    assert load_problems(open_input(tmp_path / "bom.jsonl"))[0].problem == "0+1?"
    (tmp_path / "list.json").write_bytes(b'[{"problem": "1?", "answer": "1"},\n {"problem": "caf\xe9"}]')
    with pytest.raises(UsageError, match=r"list.json: line 2: not UTF-8 text \(byte 0xe9\)"):
        load_problems(open_input(tmp_path / "list.json"))
