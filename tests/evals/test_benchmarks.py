"""Every registered benchmark loads from the shared data; prompts, golds, metadata and errors."""

import hashlib
import json

import pytest

from cotforge.errors import UsageError
from cotforge.evals.benchmarks import REGISTRY, get_benchmark, parse_benches
from cotforge.evals.benchmarks.gpqa_diamond import option_order
from cotforge.evals.prompts import PROMPTS

from conftest import SHARED, needs_shared

EXPECTED = {"math500": 500, "aime24": 30, "aime25": 30, "gpqa_diamond": 198, "mmlu_pro": 12032, "mmlu_pro_1k": 1000,
            "theoremqa": 800, "humaneval_plus": 164, "kk": 500}


def test_registry_lists_the_issue_benchmarks():
    assert list(REGISTRY) == list(EXPECTED)
    with pytest.raises(UsageError, match="known: math500, aime24"):
        get_benchmark("math5000")
    assert parse_benches("math500, aime24,math500") == ["math500", "aime24"]
    with pytest.raises(UsageError, match="unknown benchmark 'gsm8k'"):
        parse_benches("math500,gsm8k")


@needs_shared
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_benchmark_loads_with_hash_prompt_gold_and_metadata(name):
    b = get_benchmark(name)
    loaded = b.load(limit=3)
    assert loaded.record["questions"] == EXPECTED[name]
    assert len(loaded.items) == 3 and loaded.record["limit"] == 3
    assert len(loaded.record["sha256"]) == 64
    for it in loaded.items:
        assert it.id and it.messages[-1]["role"] == "user"
        assert it.gold not in (None, "")
        json.dumps(it.gold)  # stored as JSON in the run
        for key in b.breakdowns:
            assert key in it.meta
    assert loaded.prompt.name == b.default_prompt
    for p in b.prompts:
        assert p in PROMPTS


@needs_shared
def test_math500_content_hash_is_the_file_sha256_and_levels_are_ints():
    loaded = get_benchmark("math500").load()
    assert loaded.record["sha256"] == "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"
    assert {it.meta["level"] for it in loaded.items} == {1, 2, 3, 4, 5}
    r1 = get_benchmark("math500").load(prompt="r1", limit=1).items[0]
    assert "<think>" in r1.messages[0]["content"] and "\\boxed{}" in r1.messages[-1]["content"]


@needs_shared
def test_gpqa_options_are_shuffled_by_question_and_the_gold_letter_points_at_the_correct_answer():
    import csv
    import io
    import zipfile

    from cotforge.evals.benchmarks.gpqa_diamond import PASSWORD

    items = get_benchmark("gpqa_diamond").load().items
    with zipfile.ZipFile(SHARED / "gpqa_diamond" / "gpqa_diamond.zip") as z, z.open("gpqa_diamond.csv", pwd=PASSWORD) as fh:
        correct = {r["Record ID"]: r["Correct Answer"].strip() for r in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))}
    letters = set()
    for it in items:
        text = it.messages[-1]["content"]
        assert f"\n{it.gold}. {correct[it.id]}\n" in text + "\n"
        assert "ABCD"[option_order(it.id).index(0)] == it.gold
        letters.add(it.gold)
        assert it.verify_kwargs == {"n_options": 4}
    assert letters == set("ABCD")  # not always at one position
    assert option_order("recX") == option_order("recX") and sorted(option_order("recX")) == [0, 1, 2, 3]
    assert get_benchmark("gpqa_diamond").load().items[5].messages == items[5].messages  # same order every load


@needs_shared
def test_mmlu_pro_letters_n_options_and_five_shot_prompt():
    b = get_benchmark("mmlu_pro_1k")
    it = b.load(limit=1).items[0]
    assert "J. " in it.messages[-1]["content"] and it.verify_kwargs["n_options"] == 10
    shot = b.load(prompt="mmlu_pro_5shot", limit=1).items[0].messages[-1]["content"]
    assert shot.count("Question: ") == 6 and shot.rstrip().endswith("Answer: Let's think step by step.")
    assert f"about {it.meta['category']}" in shot
    with pytest.raises(UsageError, match="unknown prompt 'boxed'"):
        b.load(prompt="boxed")


@needs_shared
def test_humaneval_says_which_tests_it_uses_and_builds_evalplus_tests(tmp_path):
    b = get_benchmark("humaneval_plus")
    loaded = b.load(limit=2)
    assert loaded.record["variant"].startswith("HumanEval (original")
    assert loaded.notes and "EvalPlus" in loaded.notes[0]
    import gzip

    rows = [json.loads(line) for line in gzip.open(SHARED / "humaneval" / "HumanEval.jsonl.gz", "rt")][:2]
    rows[0]["base_input"] = [[[1.0, 2.0, 3.9], 0.5]]
    rows[0]["plus_input"] = [[[1.0, 1.2], 0.3], [[], 1.0]]
    rows[1]["base_input"], rows[1]["plus_input"] = [["(()) ()"]], [["((())) (()()) ()"]]
    plus = tmp_path / "HumanEvalPlus.jsonl"
    plus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = b.load(plus)
    assert loaded.record["variant"] == "HumanEval+ (EvalPlus tests)" and not loaded.notes
    assert "plus_input" not in loaded.items[0].gold["test"] and "[[1.0, 1.2], 0.3]" in loaded.items[0].gold["test"]


def test_missing_data_says_where_it_is_expected_and_which_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("COTFORGE_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UsageError, match=r"data not found at .*nowhere/aime24/test.jsonl.*--data aime24=PATH"):
        get_benchmark("aime24").load()
    with pytest.raises(UsageError, match="--data aime24=missing.jsonl: no such file"):
        get_benchmark("aime24").load("missing.jsonl")


def test_data_flag_reads_a_file_in_the_benchmark_format_and_hashes_it(tmp_path):
    f = tmp_path / "mini.jsonl"
    f.write_text(json.dumps({"id": "q1", "problem": "1+1?", "answer": "2"}) + "\n")
    loaded = get_benchmark("aime25").load(f)
    assert [it.id for it in loaded.items] == ["q1"]
    assert loaded.record["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    f.write_text(json.dumps({"id": "q1", "question": "no problem field"}) + "\n")
    with pytest.raises(UsageError, match="row 1: not a aime25 row"):
        get_benchmark("aime25").load(f)


def test_kk_from_a_cotforge_folder_reads_its_test_splits_and_names_a_damaged_shard(tmp_path):
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    out = tmp_path / "kk"
    build_kk(out, KKBuildConfig(people=(3, 4), train=6, test=3))
    bench = get_benchmark("kk")
    assert len(bench.load(out).items) == 6  # both sizes' test splits
    train = next((out / "data/3ppl").glob("train-*.parquet"))  # not read: damage there does not matter
    train.write_bytes(train.read_bytes()[:100])
    assert len(bench.load(out).items) == 6
    test = next((out / "data/4ppl").glob("test-*.parquet"))
    data = bytearray(test.read_bytes())
    data[len(data) // 2] ^= 0xFF
    test.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=f"{test}: damaged"):
        bench.load(out)
