"""Rebuild commands in manifests and cards name local inputs by absolute path: typed relative, a path
would read as a Hub id (or another folder) from any other directory."""

from __future__ import annotations

import json
import shlex

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.datagen.inputs import command_path, open_input


def command(root):
    return json.loads((root / "manifest.json").read_text())["command"]


def args(cmd, flag):
    words = shlex.split(cmd)
    return [words[i + 1] for i, w in enumerate(words) if w == flag]


def test_command_path_is_absolute_for_what_exists_and_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my data.jsonl").write_text("")
    assert command_path("my data.jsonl") == shlex.quote(str(tmp_path / "my data.jsonl"))
    assert command_path("org/some-dataset") == "org/some-dataset"  # a Hub id stays as typed


def test_silver_pairs_and_distill_commands_hold_absolute_paths(tmp_path, monkeypatch):
    from cotforge.datagen.distill import DistillConfig, rebuild_command
    from cotforge.datagen.pairs import PairsConfig, build_pairs
    from cotforge.datagen.silver import build_silver
    from cotforge.records import MESSAGES

    monkeypatch.chdir(tmp_path)
    (tmp_path / "web.jsonl").write_text(json.dumps({"question": "What is 2+3?", "solution": "So \\boxed{5}."}) + "\n")
    build_silver(open_input("web.jsonl"), "silver")
    assert args(command(tmp_path / "silver"), "--input") == [str(tmp_path / "web.jsonl")]
    assert args(command(tmp_path / "silver"), "--out") == [str(tmp_path / "silver")]

    prompt = [{"role": "user", "content": "Solve it."}]
    schema = pa.schema([("id", pa.string()), ("prompt_id", pa.string()), ("prompt", MESSAGES), ("completion", pa.string()),
                        ("status", pa.string()), ("finish_reason", pa.string()), ("completion_tokens", pa.int32()),
                        ("model", pa.string()), ("score", pa.float64()), ("domain", pa.string()), ("answer", pa.string())])
    rows = [{"id": i, "prompt_id": "p", "prompt": prompt, "completion": i * 3, "status": s, "finish_reason": "stop",
             "completion_tokens": 3, "model": "m", "score": float(s == "correct"), "domain": "math", "answer": "4"}
            for i, s in (("a", "correct"), ("b", "incorrect"))]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "rollouts.parquet")
    build_pairs(["rollouts.parquet"], "pairs", PairsConfig())
    assert args(command(tmp_path / "pairs"), "--input") == [str(tmp_path / "rollouts.parquet")]
    assert args(command(tmp_path / "pairs"), "--out") == [str(tmp_path / "pairs")]

    cfg = DistillConfig(backend="hf", model="models/tiny", sampling={"n": 1}, template={"system": None, "user": "{problem}"},
                        token_counter="models/tiny")
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    cmd = rebuild_command("out", cfg, "web.jsonl", {}, "math", None)
    assert args(cmd, "--input") == [str(tmp_path / "web.jsonl")] and args(cmd, "--out") == [str(tmp_path / "out")]
    assert args(cmd, "--model") == args(cmd, "--tokenizer") == [str(tmp_path / "models" / "tiny")]


def test_decontam_command_holds_absolute_paths(tmp_path, monkeypatch):
    from cotforge.datagen.decontam import DecontamConfig, decontaminate, shared_data_dir
    from cotforge.datagen.silver import build_silver

    if not shared_data_dir().is_dir():
        pytest.skip("no offline benchmark data")
    data = shared_data_dir().resolve()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "web.jsonl").write_text(json.dumps({"question": "What is 2+3?", "solution": "So \\boxed{5}."}) + "\n")
    build_silver(open_input("web.jsonl"), "silver")
    m = decontaminate("silver", "clean", DecontamConfig(benchmarks=("aime24",)), data_dir=data)
    # silver's `dropped` split is empty here (no shard): reported and noted, not a crash
    assert m["stats"]["decontam"]["splits"]["dropped/train"]["rows"] == 0
    assert "Empty in the input, so left out: dropped/train." in m["notes"]
    assert args(command(tmp_path / "clean"), "--input") == [str(tmp_path / "silver")]
    assert args(command(tmp_path / "clean"), "--out") == [str(tmp_path / "clean")]
