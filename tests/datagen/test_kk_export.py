"""``cotforge kk export``: Logic-RL's and verl's Parquet, Xie et al.'s JSONL layout."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main

PUBLIC = Path("/work/shared/data/kk/3ppl/test.parquet")


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "ds"
    assert main(["kk", "build", "--out", str(out), "--people", "3-4", "--train", "8", "--test", "4",
                 "--perturb", "leaf", "--perturb", "reorder", "--no-progress"]) == 0
    return out


def test_logic_rl_export_matches_the_released_files(ds, tmp_path):
    from cotforge.datagen.kk.prompts import logic_rl_prompt

    out = tmp_path / "lrl"
    assert main(["kk", "export", str(ds), "--format", "logic-rl", "--out", str(out)]) == 0
    table = pq.read_table(out / "3ppl" / "train.parquet")
    rows = table.to_pylist()
    assert len(rows) == 8
    if PUBLIC.is_file():  # same columns, types and order as Logic-RL's own data/kk/instruct files
        assert table.schema.remove_metadata() == pq.read_schema(PUBLIC).remove_metadata()
        for r in pq.read_table(PUBLIC).to_pylist()[:20]:
            assert r["prompt"] == [{"content": logic_rl_prompt(r["quiz"]), "role": "user"}]
    r = rows[3]
    assert r["prompt"][0]["content"].startswith("<|im_start|>system\n")
    assert r["prompt"][0]["content"].endswith(f"<|im_start|>user\n{r['quiz']}\n<|im_end|>\n<|im_start|>assistant\n<think>")
    assert r["data_source"] == "kk_logic" and r["ability"] == "logic"
    assert r["reward_model"] == {"ground_truth": {"solution_text_format": r["solution_text_format"],
                                                  "statements": r["statements"]}, "style": "rule"}
    assert r["extra_info"] == {"index": 3, "split": "train"}
    expected = {f"{n}ppl/{s}.parquet" for n in (3, 4) for s in ("train", "test")}
    expected |= {f"{n}ppl_perturbed_{k}/test.parquet" for n in (3, 4) for k in ("leaf", "reorder")}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.parquet")} == expected


def test_verl_export_keeps_the_chat_messages(ds, tmp_path):
    out = tmp_path / "verl"
    assert main(["kk", "export", str(ds), "--format", "verl", "--out", str(out)]) == 0
    built = pq.read_table(next((ds / "data/4ppl").glob("test-*.parquet"))).to_pylist()
    exported = pq.read_table(out / "4ppl" / "test.parquet").to_pylist()
    assert [r["prompt"] for r in exported] == [[{"content": m["content"], "role": m["role"]} for m in b["prompt"]]
                                              for b in built]
    assert [r["prompt"][0]["role"] for r in exported] == ["system"] * 4


def test_xie_layout_and_fields(ds, tmp_path, capsys):
    out = tmp_path / "xie"
    assert main(["kk", "export", str(ds), "--format", "xie", "--out", str(out)]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl"))
    assert "train/people3_num8.jsonl" in files and "test/people4_num4.jsonl" in files
    assert "test/perturbed_leaf/people3_num4.jsonl" in files and "test/reorder_statement/people4_num4.jsonl" in files
    line = json.loads((out / "train/people3_num8.jsonl").read_text().splitlines()[0])
    assert list(line) == ["quiz", "names", "knight_knave", "solution", "solution_text", "solution_text_format",
                          "cot_head", "cot_repeat_steps", "cot_foot", "statements", "index"]
    capsys.readouterr()
    assert main(["kk", "check", str(out)]) == 0  # every exported puzzle still solves to its gold


def test_export_warns_on_role_words_logic_rl_cannot_read(tmp_path, capsys):
    ds = tmp_path / "hero"
    assert main(["kk", "build", "--out", str(ds), "--people", "3", "--train", "2", "--test", "1",
                 "--role-pair", "hero/villain", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["kk", "export", str(ds), "--format", "logic-rl", "--out", str(tmp_path / "o")]) == 0
    assert "warning: some rows use role words other than knight/knave" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["format", "inside", "not-a-dataset"])
def test_export_errors_are_one_line(ds, tmp_path, capsys, bad):
    args = {"format": [str(ds), "--format", "csv", "--out", str(tmp_path / "o")],
            "inside": [str(ds), "--format", "xie", "--out", str(ds / "export")],
            "not-a-dataset": [str(tmp_path), "--format", "xie", "--out", str(tmp_path / "o")]}[bad]
    assert main(["kk", "export", *args]) == 2
    assert capsys.readouterr().err.count("\n") == 1
