"""Silver web data: answer extraction, every drop rule with its reason, the verifier check, the model
extractor and the teacher filter (through scripted generators), the dataset and the CLI."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cotforge.datagen.backends.base import Completion
from cotforge.datagen.inputs import open_input
from cotforge.datagen.silver import (
    SilverConfig,
    build_silver,
    extract_answer,
    last_line_answer,
    process_silver,
    question_problem,
    read_silver_rows,
)
from cotforge.errors import InputRowError, UsageError


@pytest.mark.parametrize(
    "solution, answer, source",
    [
        ("2+3=5, so the result is \\boxed{5}.", "5", "boxed"),
        ("Many steps. The final answer is $\\frac{1}{2}$.", "\\frac{1}{2}", "answer_is"),
        ("Work.\n**Answer:** 42", "42", "answer_colon"),
        ("d/dx x^2 = 2x\nTherefore, f'(x) = 2x", "2x", "last_line"),
        ("We get\n$x^2 + 1$", "x^2 + 1", "last_line"),
        ("It is Paris.", None, "none"),  # prose on the last line is not taken as an answer
        ("", None, "none"),
    ],
)
def test_rule_extraction(solution, answer, source):
    assert extract_answer(solution) == (answer, source)


def test_last_line_rules():
    assert last_line_answer("So x = 7.") == "7"
    assert last_line_answer("Hence the area is 12 cm^2") == "12 cm^2"
    assert last_line_answer("$3x^2$") == "3x^2"
    assert last_line_answer("and therefore y =") is None


@pytest.mark.parametrize(
    "question, code",
    [
        ("Prove that there are infinitely many primes.", "proof"),
        ("Show that f is continuous.", "proof"),
        ("Explain why the sky is blue.", "proof"),
        ("(a) Find x. (b) Find y.", "multi_part"),
        ("Consider f.\na) Find f(1).\nb) Find f(2).", "multi_part"),
        ("Find x if 2x = 4.", None),
        ("A ball (a) is thrown.", None),  # one marker is not a list of parts
    ],
)
def test_question_rules(question, code):
    got = question_problem(question)
    assert (got[0] if got else None) == code


WEB = [
    {"question": "What is 2+3?", "solution": "We add. The answer is \\boxed{5}."},  # 0 kept
    {"question": "Prove that sqrt(2) is irrational.", "solution": "Suppose not..."},  # 1 proof
    {"question": "(a) Find x. (b) Find y.", "solution": "x=1, y=2"},  # 2 multi_part
    {"question": "Which animal is a mammal?", "solution": "The answer is B."},  # 3 choice_without_options
    {"question": "Which is a mammal? A. shark B. whale C. trout", "solution": "Whales are. The answer is B."},  # 4 kept, choice
    {"question": "Describe the economy.", "solution": "The answer is that it grew strongly for many years in a row."},  # 5 long_answer
    {"question": "what is  2+3?", "solution": "5"},  # 6 duplicate of 0 (case and spacing ignored)
    {"question": "", "solution": "7"},  # 7 empty
    {"question": "Simplify.", "solution": "Thus \\boxed{x^2+2x+1; 3}"},  # 8 multi_answer
    {"question": "Capital of France?", "solution": "It is Paris."},  # 9 no_answer
    {"question": "Compute 1/2 + 1/2 - 1/2.", "solution": "Final answer: $\\frac{1}{2}$"},  # 10 kept
    {"question": "Evaluate the limit.", "solution": "The answer is $\\frac{1}{$."},  # 11 unverifiable
]
EXPECTED_DROPS = {1: "proof", 2: "multi_part", 3: "choice_without_options", 5: "long_answer", 6: "duplicate",
                  7: "empty", 8: "multi_answer", 9: "no_answer", 11: "unverifiable"}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def table(root, config):
    files = sorted((root / "data" / config).glob("train-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_every_row_is_kept_or_dropped_with_its_reason(tmp_path):
    src = open_input(write(tmp_path / "web.jsonl", WEB))
    m = build_silver(src, tmp_path / "out")
    kept, dropped = table(tmp_path / "out", "default"), table(tmp_path / "out", "dropped")
    assert sorted(r["source_index"] for r in kept + dropped) == list(range(len(WEB)))  # nothing vanishes
    assert {r["source_index"]: r["reason_code"] for r in dropped} == EXPECTED_DROPS
    assert [(r["source_index"], r["answer"], r["domain"], r["verifier"]) for r in kept] == [
        (0, "5", "math", "math"), (4, "B", "choice", "choice"), (10, "\\frac{1}{2}", "math", "math")]
    assert kept[0]["prompt"] == [{"role": "user", "content": "What is 2+3?\n\nPlease reason step by step, and put "
                                                              "your final answer within \\boxed{}."}]
    assert kept[0]["solution"] == WEB[0]["solution"] and kept[0]["teacher_samples"] == 0 and kept[0]["verifier_version"]
    why = {r["source_index"]: r["reason"] for r in dropped}
    assert "'Prove'" in why[1] and "math verifier on the answer itself" in why[11] and "words of free text > 6" in why[5]
    s = m["stats"]
    assert (s["input_rows"], s["kept"], s["dropped"]) == (12, 3, 9) and s["drop_reasons"]["proof"] == 1
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**3 problems kept** of 12 input rows" in card and "| `multi_part` | 1 |" in card
    assert "config_name: dropped" in card

    datasets = pytest.importorskip("datasets")
    rl = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert rl.num_rows == 3 and {"prompt", "answer"} <= set(rl.column_names)


class Scripted:
    """Answers from a dict keyed by the question (found in the prompt); unknown prompts fail."""

    name, model = "scripted", "extractor-1b"

    def __init__(self, answers, n_ok=None):
        self.answers, self.calls, self.n_ok = answers, [], n_ok

    def generate(self, requests, params):
        self.calls.append((len(requests), params.n))
        out = []
        for r in requests:
            text = r.messages[-1]["content"]
            key = next((k for k in self.answers if k in text), None)
            if key is None:
                out.append([Completion.failed("no script for this prompt", j) for j in range(params.n)])
                continue
            values = self.answers[key]
            values = values if isinstance(values, list) else [values] * params.n
            out.append([Completion(v, None, 10, 5, "stop", None, j) for j, v in enumerate(values[: params.n])])
        return out

    def close(self):
        pass


def test_model_extractor_fills_what_the_rules_miss(tmp_path):
    rows = [{"question": "How many legs has a spider?", "solution": "Spiders have eight legs, as everyone knows."},
            {"question": "Write an essay on dogs.", "solution": "Dogs are loyal companions and"},
            {"question": "What is 3*3?", "solution": "\\boxed{9}"}]
    src = open_input(write(tmp_path / "web.jsonl", rows))
    model = Scripted({"spider": "The final answer is \\boxed{8}.", "dogs": "The final answer is \\boxed{NONE}."})
    parsed = process_silver(read_silver_rows(src, {}), SilverConfig(extractor="rules_then_model"), extractor=model)
    assert [(r.answer, r.answer_source, r.drop and r.drop[0]) for r in parsed] == [
        ("8", "model", None), (None, None, "no_answer"), ("9", "boxed", None)]
    assert model.calls == [(2, 1)]  # only the rows the rules could not settle went to the model
    assert "neither the rules nor the extractor model" in parsed[1].drop[1]

    every = Scripted({"spider": "The final answer is \\boxed{8}.", "dogs": "The final answer is \\boxed{NONE}.",
                      "3*3": "The final answer is \\boxed{9}."})
    parsed = process_silver(read_silver_rows(src, {}), SilverConfig(extractor="model"), extractor=every)
    assert [r.answer_source for r in parsed] == ["model", None, "model"] and every.calls == [(3, 1)]
    with pytest.raises(UsageError, match="--extractor-backend: required with this extractor"):
        process_silver(read_silver_rows(src, {}), SilverConfig(extractor="model"))


def test_teacher_filter_keeps_prompts_a_sample_agrees_with(tmp_path):
    rows = [{"question": "What is 6*7?", "solution": "\\boxed{42}"},
            {"question": "What is 2**10?", "solution": "\\boxed{1000}"},  # the web solution is wrong
            {"question": "What is 5-5?", "solution": "\\boxed{0}"}]
    teacher = Scripted({"6*7": ["\\boxed{41}", "Computing: \\boxed{42}"], "2**10": ["\\boxed{1024}", "\\boxed{1024}"]})
    m = build_silver(open_input(write(tmp_path / "web.jsonl", rows)), tmp_path / "out",
                     SilverConfig(teacher_samples=2), teacher=teacher, max_error_rate=0.5)
    kept, dropped = table(tmp_path / "out", "default"), table(tmp_path / "out", "dropped")
    assert [(r["answer"], r["teacher_agree"], r["teacher_samples"], r["teacher_model"]) for r in kept] == [("42", 1, 2, "extractor-1b")]
    codes = {r["source_index"]: (r["reason_code"], r["teacher_agree"]) for r in dropped}
    assert codes == {1: ("teacher_disagrees", 0), 2: ("teacher_failed", 0)}
    assert teacher.calls == [(3, 2)]
    assert m["build_config"]["teacher_samples"] == 2

    strict = SilverConfig(teacher_samples=2, teacher_min_agree=2)
    parsed = process_silver(read_silver_rows(open_input(tmp_path / "web.jsonl"), {}), strict, teacher=Scripted(teacher.answers))
    assert parsed[0].drop[0] == "teacher_disagrees" and "needed 2" in parsed[0].drop[1]


def test_given_answers_columns_and_bad_rows(tmp_path):
    rows = [{"q": "What is 1+1?", "raw": "one plus one", "a": "2"}, {"q": "And 2+2?", "raw": "four", "a": ""}]
    src = open_input(write(tmp_path / "web.jsonl", rows))
    parsed = process_silver(read_silver_rows(src, {"question": "q", "solution": "raw", "answer": "a"}), SilverConfig())
    assert (parsed[0].answer, parsed[0].answer_source, parsed[0].drop) == ("2", "given", None)
    assert parsed[1].drop[0] == "no_answer"  # an empty given answer falls back to the rules, which find nothing

    with pytest.raises(UsageError, match=r"no column 'question' .*--column question=NAME"):
        read_silver_rows(src, {})
    write(tmp_path / "bad.jsonl", [{"question": "ok?", "solution": "1"}, {"question": ["a", "list"], "solution": "1"}])
    with pytest.raises(InputRowError, match=r"bad.jsonl: row 2: column 'question': expected text, got list"):
        read_silver_rows(open_input(tmp_path / "bad.jsonl"), {})
    with pytest.raises(UsageError, match="--extractor 'llm'"):
        SilverConfig(extractor="llm").validate()


def test_malformed_rows_are_named_not_dropped(tmp_path, capsys):
    """A row without its solution field, or with a number as question, is an error naming file and
    row (0-based ``row``, 1-based in the message); a null solution is web noise, dropped as empty."""
    ok = {"question": "What is 1+2?", "solution": "The answer is 3"}
    write(tmp_path / "missing.jsonl", [ok, {"question": "q2"}])
    with pytest.raises(InputRowError) as err:
        read_silver_rows(open_input(tmp_path / "missing.jsonl"), {})
    assert err.value.row == 1 and str(err.value).endswith("missing.jsonl: row 2: has no 'solution' field (the solution)")
    write(tmp_path / "type.jsonl", [ok, ok, {"question": 5, "solution": "x"}])
    with pytest.raises(InputRowError, match=r"type.jsonl: row 3: column 'question': expected text, got int 5"):
        read_silver_rows(open_input(tmp_path / "type.jsonl"), {})
    write(tmp_path / "answer.jsonl", [{**ok, "a": {"x": 1}}])
    with pytest.raises(InputRowError, match=r"row 1: column 'a': expected a short answer, got dict"):
        read_silver_rows(open_input(tmp_path / "answer.jsonl"), {"answer": "a"})
    write(tmp_path / "null.jsonl", [ok, {"question": "What is 2+2?", "solution": None}])
    rows = process_silver(read_silver_rows(open_input(tmp_path / "null.jsonl"), {}), SilverConfig())
    assert [r.drop for r in rows] == [None, ("empty", "solution empty")]

    from cotforge import cli

    if "silver" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    assert cli.main(["silver", "--input", str(tmp_path / "type.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "type.jsonl: row 3: column 'question'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_may_not_be_or_hold_the_input(tmp_path, capsys):
    from cotforge import cli

    if "silver" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    write(tmp_path / "web.jsonl", [{"question": "What is 2+3?", "solution": "\\boxed{5}"}])
    assert cli.main(["silver", "--input", str(tmp_path / "web.jsonl"), "--out", str(tmp_path / "s")]) == 0
    for out in (tmp_path / "s", tmp_path / "s" / "x"):
        assert cli.main(["silver", "--input", str(tmp_path / "s"), "--out", str(out), "--overwrite"]) == 2
    assert cli.main(["silver", "--input", str(tmp_path / "web.jsonl"), "--out", str(tmp_path), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "s: is --input" in err and "lies inside --input" in err and f"--out {tmp_path}: contains --input" in err
    assert (tmp_path / "s" / "manifest.json").is_file() and (tmp_path / "web.jsonl").is_file()


def test_teacher_and_extractor_options_are_checked_first(tmp_path, capsys):
    """The README's `--teacher-samples 2 --teacher-backend openai` names what is missing, before reading rows."""
    from cotforge import cli

    if "silver" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    missing = str(tmp_path / "not-read.parquet")  # the options fail before the input is opened
    assert cli.main(["silver", "--input", missing, "--out", str(tmp_path / "o"), "--teacher-samples", "2",
                     "--teacher-backend", "openai"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --teacher-model: required with --teacher-samples 2 and "
                                               "--teacher-backend openai (the model the openai backend serves or loads)")
    assert cli.main(["silver", "--input", missing, "--out", str(tmp_path / "o"), "--teacher-samples", "2",
                     "--teacher-model", "m"]) == 2
    assert "--teacher-backend: required with --teacher-samples 2 (one of hf, openai, replay, vllm)" in capsys.readouterr().err
    assert cli.main(["silver", "--input", missing, "--out", str(tmp_path / "o"), "--extractor", "model"]) == 2
    assert "--extractor-backend: required with --extractor model" in capsys.readouterr().err
    assert cli.main(["silver", "--input", missing, "--out", str(tmp_path / "o"), "--teacher-samples", "2",
                     "--teacher-backend", "openai", "--teacher-model", "m"]) == 2
    assert "no such file" in capsys.readouterr().err  # with both named, the next problem is the input


def test_cli_silver(tmp_path, capsys):
    from cotforge import cli

    if "silver" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    rows = [{"instruction": "What is 2+3?", "output": "\\boxed{5}"}, {"instruction": "Prove it.", "output": "..."}]
    write(tmp_path / "web.jsonl", rows)
    assert cli.main(["silver", "--input", str(tmp_path / "web.jsonl"), "--out", str(tmp_path / "out"),
                     "--column", "question=instruction", "--column", "solution=output", "--instruction", ""]) == 0
    out = capsys.readouterr().out
    assert "kept 1 of 2 rows (50.0%)" in out and "dropped 1: proof" in out
    card = (tmp_path / "out" / "README.md").read_text()
    assert f'load_dataset("{tmp_path / "out"}", "dropped", split="train")' in card and '"cotforge-silver"' not in card
    assert table(tmp_path / "out", "default")[0]["prompt"] == [{"role": "user", "content": "What is 2+3?"}]
    assert cli.main(["silver", "--input", str(tmp_path / "web.jsonl"), "--out", str(tmp_path / "x")]) == 2
    assert "no column 'question'" in capsys.readouterr().err


# ------------------------------------------------------------------ sharded, resumable, honest about outages

MANY = [{"question": f"What is {i}+1?", "solution": f"So \\boxed{{{i + 1}}}"} for i in range(10)] + [
    {"question": "What is 0+1?", "solution": "again"}]  # a duplicate of row 0, in a later chunk


class Dying(Scripted):
    """Answers every question correctly; raises (as a kill would stop the process) on call ``die_at``."""

    def __init__(self, die_at=None):
        super().__init__({f"{i}+1": f"\\boxed{{{i + 1}}}" for i in range(10)})
        self.die_at, self.asked = die_at, []

    def generate(self, requests, params):
        if self.die_at is not None and len(self.calls) + 1 == self.die_at:
            raise KeyboardInterrupt  # not retried, not recorded: like kill -9 mid-run
        self.asked += [r.messages[-1]["content"].split("?")[0] for r in requests]
        return super().generate(requests, params)


def test_silver_is_sharded_and_resumes_without_asking_the_teacher_again(tmp_path):
    src = open_input(write(tmp_path / "web.jsonl", MANY))
    cfg = SilverConfig(teacher_samples=1)
    ref = build_silver(src, tmp_path / "ref", cfg, teacher=Dying(), chunk_rows=3)
    assert len(ref["splits"]["verdicts/train"]["shards"]) == 4 and ref["stats"]["drop_reasons"] == {"duplicate": 1}
    with pytest.raises(KeyboardInterrupt):
        build_silver(src, tmp_path / "out", cfg, teacher=Dying(die_at=3), chunk_rows=3)
    again = Dying()
    m = build_silver(src, tmp_path / "out", cfg, teacher=again, chunk_rows=3)
    assert again.asked == ["What is 6+1", "What is 7+1", "What is 8+1", "What is 9+1"]  # chunks 0-1 were committed
    assert m["content_hash"] == ref["content_hash"]
    assert table(tmp_path / "out", "dropped")[0]["reason_code"] == "duplicate"  # found across chunks and runs


def test_unreachable_teacher_stops_with_exit_1_and_commits_nothing(tmp_path, capsys):
    import socket

    from cotforge import cli

    pytest.importorskip("httpx")
    if "silver" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write(tmp_path / "web.jsonl", MANY[:3])
    code = cli.main(["silver", "--input", str(tmp_path / "web.jsonl"), "--out", str(tmp_path / "out"),
                     "--teacher-samples", "1", "--teacher-backend", "openai", "--teacher-model", "m",
                     "--backend-opt", f"base_url=http://127.0.0.1:{port}/v1", "--backend-opt", "max_retries=0"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "model calls failed for 3 of 3 input rows" in err and "connection error" in err
    assert not (tmp_path / "out").exists()


def test_rebuild_command_keeps_backend_options_and_quotes(tmp_path):
    src = open_input(write(tmp_path / "web.jsonl", MANY[:3]))
    cfg = SilverConfig(teacher_samples=1, teacher_backend="replay", teacher_model="rec dir",
                       backend_options={"check_params": False, "api_key": "sk-secret"}, instruction="Say it's \\boxed{}.")
    m = build_silver(src, tmp_path / "out", cfg, teacher=Dying())
    import shlex

    argv = shlex.split(m["command"])
    assert argv[argv.index("--backend-opt") + 1] == "check_params=false"
    assert "api_key=\"<redacted>\"" in argv and "sk-secret" not in m["command"]
    assert argv[argv.index("--instruction") + 1] == "Say it's \\boxed{}." and "rec dir" in argv


def test_unit_words_are_stripped_from_numeric_answers():
    from cotforge.datagen.silver import extract_answer, strip_unit_words

    assert extract_answer("He pays \\boxed{77 dollars}.")[0] == "77"
    assert strip_unit_words("12 apples") == "12" and strip_unit_words("$3.50 each") == "3.50"
    assert strip_unit_words("12 cm^2") == "12 cm^2" and strip_unit_words("x + 1") == "x + 1"


def test_a_teacher_that_raises_stops_the_run_with_the_reason_and_resumes(tmp_path):
    from cotforge.datagen.distill.config import TeacherFailed

    class Raising(Dying):
        def generate(self, requests, params):
            raise ConnectionError("server went away")

    src = open_input(write(tmp_path / "web.jsonl", MANY))
    cfg = SilverConfig(teacher_samples=1)
    with pytest.raises(TeacherFailed, match="backend raised ConnectionError: server went away"):
        build_silver(src, tmp_path / "out", cfg, teacher=Raising(), chunk_rows=3)
    assert not (tmp_path / "out" / "manifest.json").exists()  # nothing of the failed chunk is a drop
    ref = build_silver(src, tmp_path / "ref", cfg, teacher=Dying(), chunk_rows=3)
    assert build_silver(src, tmp_path / "out", cfg, teacher=Dying(), chunk_rows=3)["content_hash"] == ref["content_hash"]
