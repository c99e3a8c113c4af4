"""Distillation never silently does less than it says: length filters, outages, prompt overrides,
build identity, per-row models, opened <think> blocks, duplicate completions, flag messages."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cotforge.datagen.backends.base import Completion
from cotforge.datagen.distill import DistillConfig, distill, make_items
from cotforge.datagen.distill.config import TeacherFailed
from cotforge.datagen.distill.worker import DUPLICATE_REASON, build_generator
from cotforge.datagen.inputs import Problem
from cotforge.errors import UsageError


def problems(k=4):
    return [Problem(i, f"What is {i} + 1?", str(i + 1), "math") for i in range(k)]


def cfg(**kw):
    base = dict(backend="scripted", model="teacher", sampling={"n": 2, "max_tokens": 64},
                template={"system": None, "user": "{problem}"})
    base.update(kw)
    return DistillConfig(**base)


def table(root, config):
    files = sorted((root / "data" / config).glob("train-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


class Teacher:
    """Answers ``What is i + 1?`` correctly; ``texts(i, j)`` may override a sample's text."""

    name, model = "scripted", "teacher"

    def __init__(self, tokens=-1, texts=None, reasoning=None, finish="stop", fail_prompts=()):
        self.tokens, self.texts, self.reasoning, self.finish = tokens, texts, reasoning, finish
        self.fail_prompts = set(fail_prompts)
        self.calls = 0
        self.asked: list[str] = []

    def generate(self, requests, params):
        self.calls += 1
        out = []
        for req in requests:
            question = req.messages[-1]["content"]
            self.asked.append(question)
            i = int(question.split()[2])
            if i in self.fail_prompts:
                out.append([Completion.failed("HTTP 503: overloaded (gave up after 6 attempts)", j) for j in range(params.n)])
                continue
            row = []
            for j in range(params.n):
                text = self.texts(i, j) if self.texts else f"so the answer is \\boxed{{{i + 1}}}" + " ok" * j
                row.append(Completion(text, self.reasoning, 5, self.tokens, self.finish, None, j))
            out.append(row)
        return out

    def close(self):
        pass


# ------------------------------------------------------------------ length filters


def test_length_filter_without_token_counts_is_refused_with_the_reason(tmp_path):
    with pytest.raises(UsageError, match=r"--min-tokens/--max-completion-tokens/--sft-token-budget: .*no completion token count.*--tokenizer"):
        distill(problems(), tmp_path / "a", cfg(min_completion_tokens=3, max_completion_tokens=5),
                generator=Teacher(tokens=-1))
    assert not (tmp_path / "a").exists()
    # with counts from the backend the filter is applied as before
    m = distill(problems(), tmp_path / "b", cfg(max_completion_tokens=5), generator=Teacher(tokens=9))
    assert m["stats"]["accepted"] == 0


def test_length_filter_counts_with_the_tokenizer_when_the_backend_reports_none(tmp_path, tiny_model_dir):
    from cotforge.datagen.reasoning_stats import tokenizer_counter

    count = tokenizer_counter(str(tiny_model_dir))
    short = count("so the answer is \\boxed{1}")
    m = distill(problems(1), tmp_path / "a", cfg(max_completion_tokens=short, token_counter=str(tiny_model_dir)),
                generator=Teacher(tokens=-1))
    rows = table(tmp_path / "a", "all")
    assert [r["completion_tokens"] for r in rows] == [count(r["completion"]) for r in rows]
    assert [r["accepted"] for r in rows] == [True, False]  # sample 1 is longer than the maximum
    assert "completion tokens > maximum" in rows[1]["reject_reason"]
    assert m["stats"]["sft_tokens_unknown"] == 0 and m["stats"]["sft_tokens"] == short


# ------------------------------------------------------------------ outages


def test_outage_mid_run_commits_nothing_of_it_and_a_rerun_retries(tmp_path):
    c = cfg(shard_prompts=1)
    reference = distill(problems(), tmp_path / "ref", c, generator=Teacher())
    with pytest.raises(TeacherFailed, match=r"failed 2 of 2 completions of prompts 2-2 .*HTTP 503.*2 of 4 prompts are committed"):
        distill(problems(), tmp_path / "out", c, generator=Teacher(fail_prompts={2, 3}), retry_wait=0)
    back = Teacher()
    m = distill(problems(), tmp_path / "out", c, generator=back)
    assert back.asked == ["What is 2 + 1?", "What is 3 + 1?"]  # only what the outage lost
    assert m["content_hash"] == reference["content_hash"]
    assert not [r for r in table(tmp_path / "out", "all") if r["finish_reason"] == "error"]


def test_errors_below_the_threshold_are_rows_and_counted(tmp_path):
    m = distill(problems(), tmp_path / "a", cfg(), generator=Teacher(fail_prompts={1}), retry_wait=0, max_error_rate=0.25)
    assert m["stats"]["finish_reasons"]["error"] == 2
    with pytest.raises(UsageError, match="--max-error-rate 2"):
        distill(problems(), tmp_path / "b", cfg(), generator=Teacher(), max_error_rate=2)


def test_retries_never_lower_the_backend_default():
    pytest.importorskip("httpx")
    openai = cfg(backend="openai", model="m")
    assert build_generator(openai, retries=0).max_retries == 5
    assert build_generator(openai, retries=9).max_retries == 9
    explicit = cfg(backend="openai", model="m", backend_options={"max_retries": 0})
    assert build_generator(explicit, retries=3).max_retries == 0


# ------------------------------------------------------------------ build identity


def test_transport_options_are_not_part_of_the_build_identity(tmp_path):
    first = cfg(backend_options={"base_url": "http://a:8000/v1", "max_concurrency": 4, "timeout": 10})
    m1 = distill(problems(), tmp_path / "out", first, generator=Teacher())
    moved = cfg(backend_options={"base_url": "http://b:9000/v1", "max_concurrency": 64})
    m2 = distill(problems(), tmp_path / "out", moved, generator=Teacher())
    assert m1["build_hash"] == m2["build_hash"]
    with pytest.raises(UsageError, match="holds a different build"):  # a row-deciding option still counts
        distill(problems(), tmp_path / "out", cfg(backend_options={"vendor_params": False}), generator=Teacher())


# ------------------------------------------------------------------ provenance and SFT rows


def test_replay_keeps_each_samples_model(tmp_path):
    c = cfg(backend="replay", model=str(tmp_path / "rec.jsonl"))
    items, _ = make_items(problems(2), c)
    lines = [{"prompt_id": it.prompt_id, "sample_index": j, "completion": f"\\boxed{{{it.answer}}}", "model": f"model-{j}"}
             for it in items for j in range(2)]
    (tmp_path / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    distill(problems(2), tmp_path / "out", c)
    rows = table(tmp_path / "out", "all")
    assert [r["model"] for r in rows] == ["model-0", "model-1", "model-0", "model-1"]
    assert len({r["id"] for r in rows}) == 4


def test_truncated_trace_keeps_the_think_the_template_opened(tmp_path):
    c = cfg(keep="all", finish_reasons=("stop", "length"))
    cut = Teacher(texts=lambda i, j: "Let me add one and", reasoning="Let me add one and", finish="length")
    distill(problems(1), tmp_path / "a", c, generator=cut)
    contents = [r["messages"][-1]["content"] for r in table(tmp_path / "a", "accepted")]
    assert contents and all(x.startswith("<think>\nLet me add one") for x in contents)
    plain = Teacher(texts=lambda i, j: f"plain answer {j}", reasoning=None)
    distill(problems(1), tmp_path / "b", c, generator=plain)
    assert [r["messages"][-1]["content"] for r in table(tmp_path / "b", "accepted")] == ["plain answer 0", "plain answer 1"]


def test_exact_duplicate_accepted_completions_are_dropped_and_counted(tmp_path):
    same = Teacher(texts=lambda i, j: f"\\boxed{{{i + 1}}}" + (" again" if j == 2 else ""))
    m = distill(problems(2), tmp_path / "a", cfg(sampling={"n": 4, "max_tokens": 64}), generator=same)
    rows = table(tmp_path / "a", "all")
    dup = [r for r in rows if not r["accepted"]]
    assert [(r["prompt_index"], r["sample_index"]) for r in dup] == [(0, 1), (0, 3), (1, 1), (1, 3)]
    assert all(r["reject_reason"] == f"{DUPLICATE_REASON}: sample 0" for r in dup)
    assert m["stats"]["accepted"] == 4
    assert {"reason": DUPLICATE_REASON, "count": 4} in m["stats"]["reject_reasons"]


# ------------------------------------------------------------------ CLI


def run_cli(args):
    from cotforge import cli

    if "distill" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    return cli.main(args)


@pytest.mark.parametrize("flag, value", [("--n", "0"), ("--limit", "-1"), ("--max-tokens", "0"), ("--temperature", "-1")])
def test_bad_numbers_name_their_flag(tmp_path, capsys, flag, value):
    (tmp_path / "in.jsonl").write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    code = run_cli(["distill", "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o"), "--backend", "replay",
                    "--model", str(tmp_path / "in.jsonl"), flag, value, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and f"{flag} {value}" in err.replace("'", "")


def test_prompt_overrides_are_honoured_for_a_kk_input(tmp_path, capsys):
    import pyarrow as pa

    from cotforge.datagen.inputs import load_problems, open_input
    from cotforge.records import MESSAGES
    from cotforge.store.dataset import DatasetWriter

    class KKRows:  # a cotforge K&K dataset as the kk builder writes it: quiz, an R1 prompt, answer
        schema = pa.schema([("quiz", pa.string()), ("prompt", MESSAGES), ("answer", pa.string())])

        def rows(self, start=0, done=()):
            for i in range(start, 3):
                yield {"quiz": f"Quiz {i}", "prompt": [{"role": "system", "content": "R1 style"},
                                                        {"role": "user", "content": f"Quiz {i}"}], "answer": f"A{i}"}

    writer = DatasetWriter(tmp_path / "kk", name="kk", family="kk", version="1", build_config={}, seeds={}, command="x")
    writer.write_split("3ppl", "train", KKRows())
    writer.finish()
    src = open_input(tmp_path / "kk", config="3ppl", split="train")
    plain = load_problems(src, {"problem": "quiz"}, default_domain="kk")
    asked = cfg(backend="replay", model=str(tmp_path / "rec.jsonl"), sampling={"n": 1, "max_tokens": 64},
                template={"system": "Be brief.", "user": "Puzzle: {problem}"})
    items, _ = make_items(plain, asked)  # the prompts the command asks for, not the dataset's R1 prompt
    (tmp_path / "rec.jsonl").write_text("".join(
        json.dumps({"prompt_id": it.prompt_id, "sample_index": 0, "completion": "<answer>x</answer>"}) + "\n" for it in items))
    code = run_cli(["distill", "--input", str(tmp_path / "kk"), "--config", "3ppl", "--out", str(tmp_path / "o"),
                    "--backend", "replay", "--model", str(tmp_path / "rec.jsonl"), "--system", "Be brief.",
                    "--user-template", "Puzzle: {problem}", "--n", "1", "--max-tokens", "64", "--temperature", "1",
                    "--top-p", "1", "--keep", "all", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    rows = table(tmp_path / "o", "all")
    assert [r["prompt"] for r in rows] == [[dict(m) for m in it.messages] for it in items]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["build_config"]["template"] == {"system": "Be brief.", "user": "Puzzle: {problem}"}
    assert manifest["build_config"]["prompt_source"] == "template"
    assert "--column prompt=prompt" not in manifest["command"] and "--system 'Be brief.'" in manifest["command"]


def test_manifest_says_when_the_prompt_column_was_used(tmp_path):
    given = [Problem(i, f"q{i}", "1", "math", ({"role": "user", "content": f"What is {i} + 1?"},)) for i in range(2)]
    m = distill(given, tmp_path / "a", cfg(), generator=Teacher(texts=lambda i, j: "x"))
    assert m["build_config"]["template"] is None and m["build_config"]["prompt_source"] == "input prompt column"


# ------------------------------------------------------------------ what the recipes need (issue 11 §3)


def test_sft_formats_prompt_completion_and_warmup_text(tmp_path):
    from cotforge.datagen.distill.sft import RESPONSE_TEMPLATE

    c = cfg(template={"system": "Think first.", "user": "{problem}"}, sampling={"n": 1, "max_tokens": 64},
            sft_formats=("messages", "prompt_completion", "text"))
    traced = Teacher(texts=lambda i, j: f"<think>add one</think> \\boxed{{{i + 1}}}")
    m = distill(problems(2), tmp_path / "a", c, generator=traced)
    assert {"accepted/train", "prompt_completion/train", "text/train"} <= set(m["splits"])
    pc = table(tmp_path / "a", "prompt_completion")
    assert pc[0]["prompt"] == [{"role": "system", "content": "Think first."}, {"role": "user", "content": "What is 0 + 1?"}]
    assert pc[0]["completion"] == [{"role": "assistant", "content": "<think>add one</think> \\boxed{1}"}]
    text = table(tmp_path / "a", "text")[1]["text"]
    assert text == "Think first. User: What is 1 + 1?" + RESPONSE_TEMPLATE + "add one</think> \\boxed{2}"
    assert text.count(RESPONSE_TEMPLATE) == 1
    default = distill(problems(2), tmp_path / "b", cfg(), generator=Teacher())
    assert "text/train" not in default["splits"] and "prompt_completion/train" in default["splits"]


def test_prompt_completion_rows_train_on_the_completion_only(tmp_path, tiny_model_dir):
    """TRL tokenizes a prompt-completion row with a completion mask: the prompt's tokens get no loss."""
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    distill(problems(2), tmp_path / "a", cfg(sampling={"n": 1, "max_tokens": 64}), generator=Teacher())
    ds = datasets.load_dataset(str(tmp_path / "a"), "prompt_completion", split="train")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    args = trl.SFTConfig(output_dir=str(tmp_path / "t"), max_steps=1, per_device_train_batch_size=2, use_cpu=True,
                         bf16=False, gradient_checkpointing=False, report_to=[], save_strategy="no", max_length=128)
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=ds.select_columns(["prompt", "completion"]),
                             processing_class=tok)
    labels = trainer.train_dataset[0]["labels"]
    trained = [x != -100 for x in labels]
    assert labels[0] == -100 and 0 < sum(trained) < len(labels)  # the prompt is masked out, the completion is not


def test_sft_token_budget_stops_sampling_and_resumes_to_the_same_cut(tmp_path):
    c = cfg(sft_token_budget=25, shard_prompts=1)  # 10 tokens per accepted completion, 2 per prompt
    m = distill(problems(8), tmp_path / "a", c, generator=Teacher(tokens=10), batch_prompts=1)
    rows = table(tmp_path / "a", "all")
    assert [r["prompt_index"] for r in rows] == [0, 0, 1, 1]  # nothing committed past the budget
    assert [r["accepted"] for r in rows] == [True, True, False, False]  # accepted tokens never exceed the budget
    assert rows[-1]["reject_reason"] == "beyond --sft-token-budget 25"
    assert m["stats"]["sft_tokens"] == 20 and any("--sft-token-budget 25" in n and "6 of 8 prompts" in n for n in m["notes"])
    # killed after a shard was committed: the rerun counts the committed tokens and cuts at the same place
    dying = Teacher(tokens=10)
    dying.generate = lambda requests, params, _g=dying.generate: (_ for _ in ()).throw(KeyboardInterrupt) \
        if dying.calls >= 4 else _g(requests, params)
    with pytest.raises(KeyboardInterrupt):
        distill(problems(8), tmp_path / "b", c, generator=dying, batch_prompts=1)
    again = Teacher(tokens=10)
    resumed = distill(problems(8), tmp_path / "b", c, generator=again, batch_prompts=1)
    assert resumed["content_hash"] == m["content_hash"] and resumed["stats"]["run"]["prompts_resumed"] >= 1
    with pytest.raises(UsageError, match="--sft-token-budget 0"):
        distill(problems(), tmp_path / "b", cfg(sft_token_budget=0), generator=Teacher(tokens=10))


def test_input_metadata_passes_through_to_every_row(tmp_path):
    from cotforge.datagen.inputs import load_problems, open_input

    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1),
                                                           "level": f"Level {i}", "subject": "Algebra"}) + "\n"
                                               for i in range(2)))
    probs = load_problems(open_input(tmp_path / "in.jsonl"), {}, keep_columns=["level", "subject"])
    distill(probs, tmp_path / "a", cfg(metadata_columns=("level", "subject")), generator=Teacher())
    for config in ("all", "accepted", "prompt_completion"):
        meta = [json.loads(r["metadata"]) for r in table(tmp_path / "a", config)]
        assert meta[0] == {"level": "Level 0", "subject": "Algebra"} and meta[-1]["level"] == "Level 1"
    with pytest.raises(UsageError, match="--keep-column grade: .* has no column 'grade'"):
        load_problems(open_input(tmp_path / "in.jsonl"), {}, keep_columns=["grade"])


def test_distill_dataset_loads_without_a_config_name(tmp_path):
    datasets = pytest.importorskip("datasets")
    distill(problems(), tmp_path / "a", cfg(), generator=Teacher())
    ds = datasets.load_dataset(str(tmp_path / "a"), split="train")
    assert "messages" in ds.column_names and ds.num_rows == 8


def test_presets_phi4_mini_and_notes_in_help_and_card(tmp_path, capsys):
    from cotforge.datagen.distill import config_from_preset
    from cotforge.datagen.presets import get_preset

    phi = config_from_preset("phi4-mini", backend="openai")
    assert (phi.model, phi.n, phi.keep) == ("deepseek-ai/DeepSeek-R1", 8, "correct")
    warm = config_from_preset("kk-warmup", backend="hf", model="m")
    assert "text" in warm.sft_formats
    import os

    os.environ["COLUMNS"] = "250"  # one help line per option: nothing wrapped mid-word
    try:
        assert run_cli(["distill", "--help"]) == 0
    finally:
        del os.environ["COLUMNS"]
    out = " ".join(capsys.readouterr().out.split())
    assert "phi4-mini" in out and "3ppl,4ppl,5ppl,6ppl,7ppl" in out
    c = cfg(preset="kk-warmup", sampling={"n": 1, "max_tokens": 64}, sft_formats=("messages",))
    distill(problems(1), tmp_path / "a", c, generator=Teacher())
    card = (tmp_path / "a" / "README.md").read_text()
    assert all(f"Preset note: {note}" in card for note in get_preset("kk-warmup").notes)


def test_several_configs_in_one_run(tmp_path, capsys):
    import pyarrow as pa

    from cotforge.store.dataset import DatasetWriter

    class Rows:
        schema = pa.schema([("problem", pa.string()), ("answer", pa.string())])

        def __init__(self, people):
            self.people = people

        def rows(self, start=0, done=()):
            for i in range(start, 2):
                yield {"problem": f"{self.people} people puzzle {i}", "answer": "x"}

    writer = DatasetWriter(tmp_path / "kk", name="kk", family="other", version="1", build_config={}, seeds={}, command="x")
    for people in (3, 4):
        writer.write_split(f"{people}ppl", "train", Rows(people))
    writer.finish()
    rec = tmp_path / "rec.jsonl"
    items, _ = make_items([Problem(i, f"{p} people puzzle {i}", "x", "math") for p in (3, 4) for i in range(2)],
                          cfg(template={"system": None, "user": "{problem}"}))
    rec.write_text("".join(json.dumps({"prompt_id": it.prompt_id, "completion": "x"}) + "\n" for it in items))
    code = run_cli(["distill", "--input", str(tmp_path / "kk"), "--config", "3ppl,4ppl", "--out", str(tmp_path / "o"),
                    "--backend", "replay", "--model", str(rec), "--user-template", "{problem}", "--n", "1",
                    "--keep", "all", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert [r["problem"] for r in table(tmp_path / "o", "all")] == [it.problem for it in items]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert [i.get("config") for i in manifest["inputs"]] == ["3ppl", "4ppl"]


def test_cli_replays_published_outputs_by_a_user_column(tmp_path, capsys):
    questions = [f"What is {i} + 1?" for i in range(3)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"problem": q, "answer": str(i + 1), "uid": f"u{i}"}) + "\n"
                                               for i, q in enumerate(questions)))
    # published samples keyed by the question text, 2 per question, in file order
    (tmp_path / "pub.jsonl").write_text("".join(
        json.dumps({"question": q, "response": f"\\boxed{{{i + 1 + j}}}", "uid": f"u{i}"}) + "\n"
        for i, q in enumerate(questions) for j in range(2)))
    base = ["distill", "--input", str(tmp_path / "in.jsonl"), "--backend", "replay", "--model", str(tmp_path / "pub.jsonl"),
            "--n", "2", "--no-progress"]
    assert run_cli(base + ["--out", str(tmp_path / "a"), "--backend-opt", "id_column=question"]) == 0, capsys.readouterr().err
    # published outputs carry no token counts: the summary says SFT tokens leave them out, and how to count them
    assert "note: 3 accepted completions have no token count (the replay backend reported none)" in capsys.readouterr().out
    assert "--tokenizer <the teacher's tokenizer>" in (tmp_path / "a" / "README.md").read_text()
    rows = table(tmp_path / "a", "all")
    assert [r["completion"] for r in rows] == ["\\boxed{1}", "\\boxed{2}", "\\boxed{2}", "\\boxed{3}", "\\boxed{3}", "\\boxed{4}"]
    assert [r["status"] for r in rows[::2]] == ["correct"] * 3
    # an id column of the input, carried with --keep-column, keys the same way
    assert run_cli(base + ["--out", str(tmp_path / "b"), "--backend-opt", "id_column=uid", "--keep-column", "uid"]) == 0
    assert [r["completion"] for r in table(tmp_path / "b", "all")] == [r["completion"] for r in rows]


def test_retry_errors_asks_again_for_the_failed_samples_only(tmp_path):
    reference = distill(problems(), tmp_path / "ref", cfg(), generator=Teacher())
    distill(problems(), tmp_path / "out", cfg(), generator=Teacher(fail_prompts={1}), retry_wait=0, max_error_rate=0.5)
    assert len([r for r in table(tmp_path / "out", "all") if r["finish_reason"] == "error"]) == 2
    back = Teacher()
    m = distill(problems(), tmp_path / "out", cfg(), generator=back, retry_errors=True)
    assert back.asked == ["What is 1 + 1?"] and m["stats"]["run"]["errors_retried"] == 2
    assert m["content_hash"] == reference["content_hash"]
    assert not (tmp_path / "out.retry-errors").exists() and not (tmp_path / "out.replaced").exists()
    assert str(tmp_path / "out") in (tmp_path / "out" / "README.md").read_text()
    again = Teacher()  # nothing failed any more: the dataset is kept as it is
    assert distill(problems(), tmp_path / "out", cfg(), generator=again, retry_errors=True)["content_hash"] == m["content_hash"]
    assert again.asked == []
    with pytest.raises(UsageError, match="holds a different build"):
        distill(problems(), tmp_path / "ref", cfg(keep="all"), generator=Teacher(), retry_errors=True)


@pytest.mark.parametrize("options,message", [
    ({"nope": {"x": 1}}, r"--verifier-opt nope\.\*: unknown verifier; known: choice, code, kk, math, theoremqa"),
    ({"math": {"nope": 1}}, r"--verifier-opt math\.\*: .*unexpected keyword argument 'nope'"),
    ({"math": {"timeout": "abc"}}, r"--verifier-opt math\.\*: timeout must be a positive number of seconds"),
])
def test_bad_verifier_options_are_refused_before_the_teacher_is_asked(tmp_path, options, message):
    teacher = Teacher()
    with pytest.raises(UsageError, match=message):
        distill(problems(), tmp_path / "out", cfg(verifier_options=options), generator=teacher)
    assert teacher.calls == 0 and not (tmp_path / "out").exists()
