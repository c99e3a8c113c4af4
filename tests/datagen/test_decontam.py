"""Decontamination against the offline benchmarks: verbatim copies are caught, near misses and template
text are not, flag and drop modes, completions, short items, the report in manifest and card."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.datagen.decontam import BENCHMARKS, DecontamConfig, decontaminate, normalize, shared_data_dir
from cotforge.errors import UsageError
from cotforge.records import MESSAGES
from cotforge.store.dataset import DatasetWriter

DATA = shared_data_dir()
pytestmark = pytest.mark.skipif(not (DATA / "math500").is_dir(), reason=f"shared benchmark data not found at {DATA}")

SCHEMA = pa.schema([("id", pa.string()), ("problem", pa.string()), ("prompt", MESSAGES), ("completion", pa.string())])


class Rows:
    schema = SCHEMA

    def __init__(self, rows):
        self._rows = rows

    def rows(self, start=0, done=()):
        yield from self._rows[start:]


def item(name, item_id):
    return dict(BENCHMARKS[name].load(DATA))[item_id]


@pytest.fixture(scope="module")
def texts():
    math = item("math500", "test/precalculus/807.json")
    kk_items = BENCHMARKS["kk"].load(DATA)
    return {
        "math": math,
        "aime": BENCHMARKS["aime24"].load(DATA)[0][1],
        "gpqa": BENCHMARKS["gpqa_diamond"].load(DATA)[5][1],
        "kk": kk_items[0][1],
        "short": item("math500", "test/number_theory/572.json"),  # 8 words: shorter than any 13-gram
    }


def make_dataset(root, rows, config="default"):
    w = DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"rows": len(rows)}, seeds={},
                      command="test")
    w.write_split(config, "train", Rows(rows))
    w.finish(render_card=lambda m: "---\nlicense: mit\n---\n# toy\n\nA toy dataset.\n")


def row(i, problem, completion="Let me think.", prompt=None):
    return {"id": str(i), "problem": problem, "prompt": prompt or [{"role": "user", "content": "Solve: " + problem}],
            "completion": completion}


def flagged(root, config="default"):
    files = sorted((root / "data" / config).glob("train-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


#: The GPT-3 / Tulu 13-gram setting, for the tests that probe what it can and cannot see.
AT13 = DecontamConfig(ngram=13, min_ngram=13)


def test_default_ngram_catches_light_paraphrases_13_grams_miss(tmp_path, texts):
    """The default (8, chosen by bench/decontam_bench.py) flags a copy with every 10th word changed;
    13-grams see none of it. A clean GSM8K-style question stays clean."""
    words = texts["math"].split(" ")
    paraphrased = " ".join("thing" if i % 10 == 9 else w for i, w in enumerate(words))
    clean = "Janet has 16 eggs and eats three of them every morning. How many eggs are left for the market?"
    make_dataset(tmp_path / "in", [row(0, paraphrased), row(1, clean)])
    assert DecontamConfig().ngram == 8
    decontaminate(tmp_path / "in", tmp_path / "d", DecontamConfig(benchmarks=("math500",)))
    assert [r["contaminated"] for r in flagged(tmp_path / "d")] == [True, False]
    decontaminate(tmp_path / "in", tmp_path / "t", DecontamConfig(benchmarks=("math500",), ngram=13, min_ngram=13))
    assert [r["contaminated"] for r in flagged(tmp_path / "t")] == [False, False]


def test_copies_are_flagged_and_near_misses_are_not(tmp_path, texts):
    words = normalize(texts["math"])
    near = " ".join(words[:12]) + " but for a circle instead"  # 12 shared words: below a 13-gram
    generated_kk = ("A very special island is inhabited only by knights and knaves. Knights always tell the truth, and "
                    "knaves always lie. You meet 3 inhabitants: Zed, Yara, and Xena. Zed said that Yara is a knight. "
                    "So who is a knight and who is a knave?")  # K&K template text around other people
    rows = [row(0, "Find x if 2x + 3 = 7."), row(1, texts["math"].upper()), row(2, near),
            row(3, "GPQA asks: " + texts["gpqa"]), row(4, texts["kk"]), row(5, generated_kk)]
    make_dataset(tmp_path / "in", rows)
    m = decontaminate(tmp_path / "in", tmp_path / "out", AT13)
    out = {r["id"]: r for r in flagged(tmp_path / "out")}
    assert [out[str(i)]["contaminated"] for i in range(6)] == [False, True, False, True, True, False]
    assert out["1"]["contam_items"] == ["math500:test/precalculus/807.json"] and out["1"]["contam_ngrams"] > 10
    assert out["3"]["contam_benchmarks"] == ["gpqa_diamond"]  # read from the password zip, in memory
    assert out["4"]["contam_items"] == ["kk:kk_3ppl_0"]
    assert out["0"]["contam_benchmarks"] == [] and out["0"]["contam_ngrams"] == 0
    assert [r["id"] for r in flagged(tmp_path / "out")] == [str(i) for i in range(6)]  # order and rows kept

    report = m["stats"]["decontam"]
    assert report["contaminated_rows"] == 3 and report["splits"]["default/train"]["by_benchmark"] == {
        "gpqa_diamond": 1, "kk": 1, "math500": 1}
    assert report["benchmarks"]["kk"]["template_ngrams"] > 0 and report["benchmarks"]["kk"]["min_coverage"] == 0.5
    assert report["benchmarks"]["mmlu_pro"]["items"] == 12032
    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("---\nlicense: mit\n") and "config_name: default" in card
    assert "**Decontaminated copy** of `toy`" in card and "## Decontamination" in card and "# toy" in card
    assert m["name"] == "toy-decontam" and m["inputs"][0]["content_hash"]


def test_drop_mode_keeps_the_contaminated_rows_apart(tmp_path, texts):
    make_dataset(tmp_path / "in", [row(0, "Find x if 2x + 3 = 7."), row(1, texts["math"])])
    m = decontaminate(tmp_path / "in", tmp_path / "out", DecontamConfig(mode="drop", benchmarks=("math500", "aime24")))
    assert [r["id"] for r in flagged(tmp_path / "out")] == ["0"]
    assert "contaminated" not in flagged(tmp_path / "out")[0]  # the clean config keeps the input schema
    moved = flagged(tmp_path / "out", "default_contaminated")
    assert [r["id"] for r in moved] == ["1"] and moved[0]["contaminated"]
    assert set(m["splits"]) == {"default/train", "default_contaminated/train"}


def test_completions_are_checked_only_when_asked(tmp_path, texts):
    make_dataset(tmp_path / "in", [row(0, "What is 1 + 1?", completion="I recall this one: " + texts["aime"])])
    plain = decontaminate(tmp_path / "in", tmp_path / "p", DecontamConfig(benchmarks=("aime24",)))
    assert plain["stats"]["decontam"]["contaminated_rows"] == 0
    assert plain["stats"]["decontam"]["splits"]["default/train"]["columns"] == ["problem", "prompt"]
    full = decontaminate(tmp_path / "in", tmp_path / "c", DecontamConfig(completions=True, benchmarks=("aime24",)))
    assert flagged(tmp_path / "c")[0]["contam_benchmarks"] == ["aime24"]
    assert full["stats"]["decontam"]["splits"]["default/train"]["columns"] == [
        "problem", "prompt", "completion:completion", "prompt:completion"]


def test_prompt_messages_are_read_without_the_assistant_turn(tmp_path, texts):
    msgs = [{"role": "user", "content": "What is 1 + 1?"}, {"role": "assistant", "content": texts["aime"]}]
    make_dataset(tmp_path / "in", [row(0, "What is 1 + 1?", prompt=msgs)])
    only = ("aime24",)
    assert decontaminate(tmp_path / "in", tmp_path / "p", DecontamConfig(benchmarks=only))[
        "stats"]["decontam"]["contaminated_rows"] == 0
    assert decontaminate(tmp_path / "in", tmp_path / "c", DecontamConfig(completions=True, benchmarks=only))[
        "stats"]["decontam"]["contaminated_rows"] == 1


def test_short_items_need_a_lower_n(tmp_path, texts):
    make_dataset(tmp_path / "in", [row(0, "Quick one. " + texts["short"])])
    at13 = decontaminate(tmp_path / "in", tmp_path / "a", DecontamConfig(benchmarks=("math500",), ngram=13, min_ngram=13))
    assert at13["stats"]["decontam"]["contaminated_rows"] == 0  # 9 words, not the item's exact text: no 13-gram
    assert at13["stats"]["decontam"]["benchmarks"]["math500"]["exact_only_items"] == 51
    low = decontaminate(tmp_path / "in", tmp_path / "b", DecontamConfig(benchmarks=("math500",), ngram=13, min_ngram=8))
    info = low["stats"]["decontam"]["benchmarks"]["math500"]
    assert info["n"] == 9 and info["exact_only_items"] < 51  # GPT-3's rule: n = 5th percentile of item lengths
    assert flagged(tmp_path / "b")[0]["contam_items"] == ["math500:test/number_theory/572.json"]


def test_exact_copies_of_short_items_are_caught_by_default(tmp_path, texts):
    """MATH-500's 8-word "How many positive whole-number divisors does 196 have?" has no 13-gram; an exact
    copy (case, spacing and punctuation aside) is still flagged, in any column or message."""
    short = texts["short"]
    assert short == "How many positive whole-number divisors does 196 have?"
    rows = [row(0, short), row(1, "  how many positive whole number divisors does 196 HAVE  "),
            row(2, "Easy.", prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": short}]),
            row(3, "How many positive whole-number divisors does 197 have?")]  # another number: not a copy
    make_dataset(tmp_path / "in", rows)
    m = decontaminate(tmp_path / "in", tmp_path / "out", DecontamConfig(benchmarks=("math500",), ngram=13, min_ngram=13))
    got = {r["id"]: (r["contaminated"], r["contam_items"], r["contam_ngrams"]) for r in flagged(tmp_path / "out")}
    item = ["math500:test/number_theory/572.json"]
    assert got == {"0": (True, item, 0), "1": (True, item, 0), "2": (True, item, 0), "3": (False, [], 0)}
    report = m["stats"]["decontam"]
    assert report["contaminated_rows"] == 3 and report["splits"]["default/train"]["top_items"] == [
        {"item": item[0], "rows": 3}]


def test_card_lists_each_item_once_and_rebuilds_with_decontam(tmp_path, texts):
    make_dataset(tmp_path / "in", [row(0, texts["short"]), row(1, texts["math"])], config="a")
    w = DatasetWriter(tmp_path / "two", name="toy", family="toy", version="1.0.0", build_config={}, seeds={},
                      command="cotforge toy --out two")
    w.write_split("a", "train", Rows([row(0, texts["short"]), row(1, texts["math"])]))
    w.write_split("b", "train", Rows([row(2, texts["short"])]))
    w.finish(render_card=lambda m: ('---\nlicense: mit\n---\n# toy\n\n```python\nds = load_dataset("two", "a")\n```\n\n'
                                    "Rebuild it:\n\n```bash\ncotforge toy --out two\n```\n"))
    m = decontaminate(tmp_path / "two", tmp_path / "clean", DecontamConfig(benchmarks=("math500",), ngram=13, min_ngram=13))
    card = (tmp_path / "clean" / "README.md").read_text()
    top = card.split("Most often matched benchmark items: ")[1].split("\n")[0]
    assert top == "`math500:test/number_theory/572.json` (2), `math500:test/precalculus/807.json` (1)."
    assert m["command"].startswith("cotforge decontam --input")
    assert f"```bash\n{m['command']}\n# the input dataset was built with: cotforge toy --out two\n```" in card
    assert f'load_dataset("{tmp_path / "clean"}", "a")' in card and 'load_dataset("two"' not in card


def test_python_and_sql_normalisation_agree():
    import duckdb

    from cotforge.datagen.decontam import words_sql

    samples = ["Compute $\\frac{1}{2}$ -- now!", "  ", "Ünïcode and CAPS: x_1=2", "whole-number\tdivisors\n196?"]
    con = duckdb.connect()
    for text in samples:
        (sql_words,) = con.execute(f"SELECT {words_sql('$1')}", [text]).fetchall()[0]
        assert sql_words == normalize(text)


def test_missing_benchmarks_are_reported_and_bad_options_refused(tmp_path, texts):
    make_dataset(tmp_path / "in", [row(0, texts["math"])])
    partial = tmp_path / "data"
    (partial / "math500").mkdir(parents=True)
    (partial / "math500" / "test.jsonl").write_text(json.dumps({"unique_id": "m1", "problem": texts["math"]}) + "\n")
    m = decontaminate(tmp_path / "in", tmp_path / "out", DecontamConfig(benchmarks=("math500", "aime24")), data_dir=partial)
    info = m["stats"]["decontam"]["benchmarks"]
    assert "error" in info["aime24"] and "not checked" in info["aime24"]["error"]
    assert flagged(tmp_path / "out")[0]["contam_items"] == ["math500:m1"]
    assert "not checked" in (tmp_path / "out" / "README.md").read_text()

    with pytest.raises(UsageError, match="--benchmark nope"):
        decontaminate(tmp_path / "in", tmp_path / "x", DecontamConfig(benchmarks=("nope",)))
    with pytest.raises(UsageError, match=r"--out .*in: is --input .*in; write the new dataset to a separate folder"):
        decontaminate(tmp_path / "in", tmp_path / "in", DecontamConfig(benchmarks=("aime24",)), overwrite=True)
    with pytest.raises(UsageError, match=r"--out .*: contains --input"):
        decontaminate(tmp_path / "in", tmp_path, DecontamConfig(benchmarks=("aime24",)), overwrite=True)
    assert (tmp_path / "in" / "manifest.json").is_file()
    with pytest.raises(UsageError, match="not a cotforge dataset"):
        decontaminate(tmp_path / "data", tmp_path / "x")
    with pytest.raises(UsageError, match="no benchmark could be read"):
        decontaminate(tmp_path / "in", tmp_path / "x", DecontamConfig(benchmarks=("aime25",)), data_dir=partial)
    with pytest.raises(UsageError, match="already has decontam columns"):
        decontaminate(tmp_path / "out", tmp_path / "again", DecontamConfig(benchmarks=("aime24",)))


def test_cli_decontam(tmp_path, texts, capsys):
    from cotforge import cli

    if "decontam" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    make_dataset(tmp_path / "in", [row(0, texts["math"]), row(1, "Find x if 2x + 3 = 7.")])
    assert cli.main(["decontam", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                     "--benchmark", "math500,aime24", "--mode", "drop"]) == 0
    out = capsys.readouterr().out
    assert "1 contaminated rows (drop)" in out and "default/train: 1 of 2 (math500 1)" in out
    assert cli.main(["decontam", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "x"), "--mode", "erase"]) == 2


def test_a_damaged_input_shard_is_named_not_a_decompression_traceback(tmp_path):
    make_dataset(tmp_path / "in", [row(i, f"Find x if {i}x + 3 = 7.") for i in range(20)])
    shard = next((tmp_path / "in" / "data" / "default").glob("train-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=f"{shard}: damaged .*rerun the command that built the folder"):
        decontaminate(tmp_path / "in", tmp_path / "out", AT13)
    assert not (tmp_path / "out").exists()  # checked before anything is written
