"""The replay backend: recorded completions served again, checked against the requested sampling."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.datagen.backends import get_backend
from cotforge.datagen.backends.base import Completion, GenerationRequest, SamplingParams
from cotforge.errors import InputRowError, UsageError

PARAMS = SamplingParams(n=2, temperature=0.6, top_p=0.95, top_k=40, max_tokens=64, stop=("</answer>",), seed=3)


def req(pid: str) -> GenerationRequest:
    return GenerationRequest(pid, [{"role": "user", "content": f"question {pid}"}])


def long_rows(params: SamplingParams = PARAMS) -> list[dict]:
    sampling = json.dumps(params.to_dict())
    rows = [
        {"prompt_id": "a", "sample_index": 1, "completion": "<think>y</think> <answer>2</answer>", "finish_reason": "stop",
         "prompt_tokens": 9, "completion_tokens": 7, "model": "teacher", "sampling": sampling},
        {"prompt_id": "a", "sample_index": 0, "completion": "<think>x</think> <answer>1</answer>", "finish_reason": "stop",
         "prompt_tokens": 9, "completion_tokens": 6, "model": "teacher", "sampling": sampling},
        {"prompt_id": "b", "sample_index": 0, "completion": "<think>cut", "finish_reason": "length",
         "prompt_tokens": 5, "completion_tokens": 64, "model": "teacher", "sampling": sampling},
        {"prompt_id": "b", "sample_index": 1, "completion": None, "finish_reason": "error",
         "error": "context length exceeded", "model": "teacher", "sampling": sampling},
    ]
    return [{"error": None, "prompt_tokens": None, "completion_tokens": None, **r} for r in rows]  # one schema


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_long_jsonl_is_served_in_sample_order(tmp_path):
    g = get_backend("replay", path=write_jsonl(tmp_path / "run.jsonl", long_rows()))
    assert g.model == "teacher" and g.prompt_ids() == ["a", "b"]
    a, b = g.generate([req("a"), req("b")], PARAMS)
    assert [c.text for c in a] == ["<think>x</think> <answer>1</answer>", "<think>y</think> <answer>2</answer>"]
    # each sample keeps the model recorded with it
    assert a[0] == Completion("<think>x</think> <answer>1</answer>", "x", 9, 6, "stop", None, 0, model="teacher")
    assert b[0].finish_reason == "length" and b[0].reasoning == "cut"
    assert b[1].finish_reason == "error" and b[1].error == "context length exceeded"  # failures stay failures


def test_dataset_folder_all_config_and_parquet(tmp_path):
    folder = tmp_path / "distilled"
    (folder / "data" / "all").mkdir(parents=True)
    rows = long_rows()
    pq.write_table(pa.Table.from_pylist(rows[:2]), folder / "data" / "all" / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[2:]), folder / "data" / "all" / "train-00001-of-00002.parquet")
    (folder / "data" / "sft").mkdir()
    g = get_backend("replay", path=folder)
    assert len(g.files) == 2
    a, b = g.generate([req("a"), req("b")], PARAMS)
    assert a[1].completion_tokens == 7 and b[1].error == "context length exceeded"
    with pytest.raises(UsageError, match=r"no Parquet shards under data/pairs/.*'all', 'sft'"):
        get_backend("replay", path=folder, config="pairs")


def test_wide_layout_with_strings_or_objects_and_message_lists(tmp_path):
    rows = [
        {"prompt_id": "a", "completions": ["<think>p</think>1", "<think>q</think>2"]},
        {"prompt_id": "b", "completions": [
            {"completion": [{"role": "assistant", "content": "<think>r</think>3"}], "finish_reason": "length"},
        ]},
    ]
    g = get_backend("replay", path=write_jsonl(tmp_path / "wide.jsonl", rows))
    a, b = g.generate([req("a"), req("b")], PARAMS.replace(n=1))
    assert a[0].text == "<think>p</think>1" and a[0].reasoning == "p"
    assert b[0].text == "<think>r</think>3" and b[0].finish_reason == "length"
    assert g.model == f"replay:{tmp_path / 'wide.jsonl'}"  # no model recorded


def test_rows_without_sample_index_are_numbered_in_file_order(tmp_path):
    rows = [{"prompt_id": "a", "text": t} for t in ("first", "second")]
    [a] = get_backend("replay", path=write_jsonl(tmp_path / "r.jsonl", rows)).generate([req("a")], PARAMS)
    assert [c.text for c in a] == ["first", "second"]


def test_fewer_samples_take_the_first_more_samples_are_errors(tmp_path):
    g = get_backend("replay", path=write_jsonl(tmp_path / "run.jsonl", long_rows()))
    [a] = g.generate([req("a")], PARAMS.replace(n=1))
    assert [c.sample_index for c in a] == [0] and a[0].text.endswith("<answer>1</answer>")
    [a] = g.generate([req("a")], PARAMS.replace(n=3))
    assert [c.ok for c in a] == [True, True, False]
    assert "no recorded sample 2 (2 recorded)" in a[2].error


def test_unknown_prompt_is_an_error_result_all_unknown_is_a_usage_error(tmp_path):
    path = write_jsonl(tmp_path / "run.jsonl", long_rows())
    # nothing requested so far is recorded: the wrong file (or id column), said at once
    with pytest.raises(UsageError, match="none of the 2 requested prompt ids"):
        get_backend("replay", path=path).generate([req("x"), req("y")], PARAMS)
    g = get_backend("replay", path=path)
    a, z = g.generate([req("a"), req("zzz")], PARAMS)
    assert all(c.ok for c in a)
    assert [c.finish_reason for c in z] == ["error", "error"] and "no recorded completions" in z[0].error
    # the file covers part of the run: a later batch it does not cover is error rows, not a stop
    x, y = g.generate([req("x"), req("y")], PARAMS)
    assert [c.finish_reason for c in x + y] == ["error"] * 4 and "no recorded completions" in y[1].error


def test_sampling_mismatch_is_refused_unless_disabled(tmp_path):
    path = write_jsonl(tmp_path / "run.jsonl", long_rows())
    g = get_backend("replay", path=path)
    with pytest.raises(UsageError, match=r"temperature: recorded 0.6, requested 1.0.*check_params=False"):
        g.generate([req("a")], PARAMS.replace(temperature=1.0))
    assert g.recorded_params() == [PARAMS.replace(n=1)]
    loose = get_backend("replay", path=path, check_params=False)
    assert loose.generate([req("a")], PARAMS.replace(temperature=1.0))[0][0].ok


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{not json", "row 2: not valid JSON"),
        ('["a list"]', "row 2: expected a JSON object"),
        ('{"completion": "x"}', "row 2: no 'prompt_id'"),
        ('{"prompt_id": "c"}', "row 2: row: no completion text"),
        ('{"prompt_id": "c", "completion": "x", "finish_reason": "eos"}', "row 2: row: finish_reason must be one of"),
        ('{"prompt_id": "c", "completion": "x", "sample_index": -1}', "row 2: row: sample_index must be"),
        ('{"prompt_id": "c", "completion": "x", "sampling": "{bad"}', "row 2: 'sampling' is not valid JSON"),
        ('{"prompt_id": "a", "sample_index": 0, "completion": "again"}', "row 2: prompt 'a' sample 0 was already recorded"),
    ],
)
def test_bad_rows_name_file_and_row(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt_id": "a", "sample_index": 0, "completion": "ok"}) + "\n" + line + "\n")
    with pytest.raises(InputRowError, match=problem.replace("(", r"\(").replace("[", r"\[")) as info:
        get_backend("replay", path=path)
    assert info.value.path == str(path) and info.value.row == 1


def test_missing_or_unsupported_inputs(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        get_backend("replay", path=tmp_path / "nope.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(UsageError, match="must be a dataset folder, a .parquet or a .jsonl"):
        get_backend("replay", path=tmp_path / "x.csv")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UsageError, match="holds no completions"):
        get_backend("replay", path=tmp_path / "empty.jsonl")


def test_round_trip_of_a_real_hf_run(tmp_path, tiny_model_dir):
    """What a distill run records (one row per sample) replays to the very same completions."""
    from cotforge.testing.tiny_model import tiny_prompt

    params = SamplingParams(n=2, temperature=1.0, max_tokens=24, seed=9)
    requests = [GenerationRequest(f"q{i}", tiny_prompt(i, i + 2)) for i in range(3)]
    with get_backend("hf", model=str(tiny_model_dir), device="cpu", num_threads=1) as hf:
        produced = hf.generate(requests, params)
    rows = [
        {"prompt_id": r.prompt_id, "model": hf.model, "sampling": json.dumps(params.to_dict()), **c.to_dict(),
         "completion": c.text}
        for r, row in zip(requests, produced)
        for c in row
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "run.parquet")
    replayed = get_backend("replay", path=tmp_path / "run.parquet").generate(requests, params)
    assert replayed == produced


@pytest.mark.parametrize("name, content, message", [
    ("bin.jsonl", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", r"bin.jsonl: row 1: not UTF-8 text"),
    ("late.jsonl", b'{"prompt_id": "a", "completion": "x"}\n' * 3 + b'{"prompt_id": "b\xff"}\n', r"late.jsonl: row 4: not UTF-8"),
    ("bin.parquet", b"\x00\x01 not parquet at all", r"bin.parquet: not a readable Parquet file"),
])
def test_binary_replay_file_is_one_clear_error(tmp_path, name, content, message):
    from cotforge.errors import UsageError

    (tmp_path / name).write_bytes(content)
    with pytest.raises(UsageError, match=message):
        get_backend("replay", path=tmp_path / name)
