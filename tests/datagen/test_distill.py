"""Distillation with rejection sampling: policies, filters, provenance, failures as rows, bad input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cotforge.datagen.backends.base import Completion
from cotforge.datagen.distill import DistillConfig, config_from_preset, distill, make_items
from cotforge.datagen.distill.config import TeacherFailed
from cotforge.datagen.inputs import load_problems, open_input
from cotforge.errors import InputRowError, UsageError
from cotforge.store.dataset import verify_dataset

NAMES = [("Ann", "Bob", "Cid"), ("Dora", "Eli", "Fay"), ("Gus", "Hal", "Ivy"), ("Jon", "Kay", "Lou"), ("Max", "Ned", "Oda")]


def gold(names, solution):
    return "\n".join(f"({i + 1}) {n} is a {'knight' if s else 'knave'}" for i, (n, s) in enumerate(zip(names, solution)))


def write_problems(path, k=5):
    rows = []
    for i in range(k):
        names = NAMES[i % len(NAMES)]
        solution = [bool((i >> b) & 1) for b in range(3)]
        rows.append({"quiz": f"Puzzle {i}: {', '.join(names)} live on the island. Who is a knight and who is a knave?",
                     "solution_text_format": gold(names, solution), "names": list(names), "solution": solution})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def answer(text):
    return f"<think>Assume the first is a knight. Wait, recheck that.</think> <answer>{text}</answer>"


def flipped(names, solution):
    return gold(names, [not solution[0]] + solution[1:])


class Scripted:
    """A generator whose samples follow a script: j=0 correct, j=1 wrong, j=2 cut off, j=3 correct (longer)."""

    name = "scripted"
    model = "teacher-7b"

    def __init__(self, rows):
        self.by_quiz = {r["quiz"]: r for r in rows}
        self.calls = 0

    def generate(self, requests, params):
        self.calls += 1
        return self._samples(requests, params)

    def _samples(self, requests, params):
        out = []
        for req in requests:
            r = self.by_quiz[req.messages[-1]["content"]]
            samples = [
                Completion(answer(r["solution_text_format"]), "x", 30, 20, "stop", None, 0),
                Completion(answer(flipped(r["names"], r["solution"])), "x", 30, 21, "stop", None, 1),
                Completion("<think>Let me think about Ann and", "x", 30, params.max_tokens, "length", None, 2),
                Completion(answer(r["solution_text_format"]) + " That is all.", "x", 30, 40, "stop", None, 3),
            ]
            out.append(samples[: params.n])
        return out

    def close(self):
        pass


@pytest.fixture
def problems(tmp_path):
    rows = write_problems(tmp_path / "kk.jsonl")
    src = open_input(tmp_path / "kk.jsonl")
    return rows, src, load_problems(src, {"problem": "quiz", "answer": "solution_text_format"}, default_domain="kk")


def cfg(**kw):
    base = dict(backend="scripted", model="teacher-7b", sampling={"n": 4, "max_tokens": 50, "temperature": 0.6},
                template={"system": "Solve it.", "user": "{problem}"})
    base.update(kw)
    return DistillConfig(**base)


def table(root, config, split="train"):
    """Rows of one config/split in shard order."""
    files = sorted((root / "data" / config).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_keep_correct_writes_all_accepted_and_prompts(tmp_path, problems):
    rows, src, probs = problems
    m = distill(probs, tmp_path / "out", cfg(), generator=Scripted(rows), inputs=[src.record])
    assert verify_dataset(tmp_path / "out") == []
    everything = table(tmp_path / "out", "all")
    assert len(everything) == 5 * 4
    assert len({r["id"] for r in everything}) == 20  # stable ids are distinct per completion
    by_sample = {r["sample_index"]: r for r in everything if r["prompt_index"] == 0}
    assert [by_sample[j]["status"] for j in range(4)] == ["correct", "incorrect", "truncated", "correct"]
    assert by_sample[1]["reject_reason"].startswith("status incorrect")
    assert by_sample[2]["reject_reason"].startswith("finish_reason length")
    assert by_sample[0]["prompt_pass_rate"] == pytest.approx(0.5)
    # provenance on every row
    r = by_sample[0]
    assert r["model"] == "teacher-7b" and r["backend"] == "scripted" and r["verifier"] == "kk" and r["verifier_version"]
    assert r["sampling"]["temperature"] == 0.6 and r["sampling"]["n"] == 4 and r["sampling"]["max_tokens"] == 50
    assert r["prompt"][0] == {"role": "system", "content": "Solve it."}
    assert r["reflection"]["wait"] == 1 and r["reflection"]["recheck"] == 1
    assert r["think_tokens"] + r["answer_tokens"] == r["completion_tokens"] == 20

    accepted = table(tmp_path / "out", "accepted")
    assert len(accepted) == 10 and all(a["status"] == "correct" for a in accepted)
    msgs = accepted[0]["messages"]
    assert [m_["role"] for m_ in msgs] == ["system", "user", "assistant"]
    assert msgs[-1]["content"].startswith("<think>") and "</answer>" in msgs[-1]["content"]
    assert {a["id"] for a in accepted} <= {e["id"] for e in everything}

    prompts = table(tmp_path / "out", "prompts")
    assert [p["samples"] for p in prompts] == [4] * 5
    assert all(p["correct"] == 2 and p["incorrect"] == 1 and p["truncated"] == 1 and p["accepted"] == 2 for p in prompts)

    s = m["stats"]
    assert s["acceptance_rate"] == pytest.approx(0.5) and s["sft_tokens"] == 5 * (20 + 40)
    assert {h["bin"]: h["prompts"] for h in s["pass_rate_histogram"]}["(0.25, 0.5]"] == 5
    card = (tmp_path / "out" / "README.md").read_text()
    assert "SFT tokens: 300" in card and "acceptance rate 50.0%" in card and "| (0.25, 0.5] | 5 |" in card
    assert m["inputs"][0]["sha256"] and m["build_config"]["keep"] == "correct"


def test_load_dataset_sees_trl_messages(tmp_path, problems):
    datasets = pytest.importorskip("datasets")
    rows, _, probs = problems
    distill(probs, tmp_path / "out", cfg(), generator=Scripted(rows))
    ds = datasets.load_dataset(str(tmp_path / "out"), "accepted", split="train")
    assert ds.num_rows == 10 and ds[0]["messages"][-1]["role"] == "assistant"
    card = (tmp_path / "out" / "README.md").read_text()  # the card loads the folder it describes, no made-up Hub id
    snippet = f'load_dataset("{tmp_path / "out"}", "accepted", split="train")'
    assert snippet in card and 'load_dataset("cotforge-distill"' not in card and "hf upload <user>/<repo>" in card
    assert eval(snippet, {"load_dataset": datasets.load_dataset}).num_rows == 10  # and the snippet runs as written


def test_keep_all_with_finish_filter_cap_and_length_filters(tmp_path, problems):
    rows, _, probs = problems
    keep_all = cfg(keep="all", finish_reasons=("stop", "length"), max_per_prompt=3)
    distill(probs, tmp_path / "a", keep_all, generator=Scripted(rows))
    acc = table(tmp_path / "a", "accepted")
    assert len(acc) == 15 and sorted({a["sample_index"] for a in acc}) == [0, 1, 2]  # wrong + cut traces kept, first 3
    cut = [r for r in table(tmp_path / "a", "all") if r["sample_index"] == 3]
    assert all("beyond the first 3" in r["reject_reason"] for r in cut)

    lengths = cfg(keep="all", min_completion_tokens=21, max_completion_tokens=39)
    distill(probs, tmp_path / "b", lengths, generator=Scripted(rows))
    assert {a["sample_index"] for a in table(tmp_path / "b", "accepted")} == {1}
    reasons = {r["sample_index"]: r["reject_reason"] for r in table(tmp_path / "b", "all") if r["prompt_index"] == 0}
    assert "< minimum 21" in reasons[0] and "> maximum 39" in reasons[3]


class Flaky(Scripted):
    """Raises on the first ``fail`` calls, then returns per-sample errors once, then works."""

    def __init__(self, rows, fail=1, sample_errors=False, permanent=False):
        super().__init__(rows)
        self.fail, self.sample_errors, self.permanent = fail, sample_errors, permanent

    def generate(self, requests, params):
        self.calls += 1
        if self.calls <= self.fail:
            raise ConnectionError("server went away")
        out = self._samples(requests, params)
        if self.sample_errors and (self.calls == self.fail + 1 or self.permanent):
            why = "context length exceeded: prompt has 9000 tokens" if self.permanent else "HTTP 503 from server"
            out = [[Completion.failed(why, c.sample_index, 30) if c.sample_index == 1 else c for c in row] for row in out]
        return out


def test_backend_failures_are_retried_then_recorded(tmp_path, problems):
    rows, _, probs = problems
    gen = Flaky(rows, fail=1, sample_errors=True)
    distill(probs, tmp_path / "a", cfg(), generator=gen, retry_wait=0)
    everything = table(tmp_path / "a", "all")
    assert all(r["finish_reason"] != "error" for r in everything)  # both failures healed by retries
    assert {r["attempts"] for r in everything if r["sample_index"] == 1} == {3}
    assert {r["attempts"] for r in everything if r["sample_index"] == 0} == {2}

    dead = Flaky(rows, fail=10**6)
    with pytest.raises(TeacherFailed, match=r"failed 20 of 20 completions .*ConnectionError: server went away "
                                            r"\(after 3 attempts\)\. 0 of 5 prompts are committed"):
        distill(probs, tmp_path / "b", cfg(), generator=dead, retries=2, retry_wait=0)
    assert dead.calls == 3  # one batch, three attempts
    assert not (tmp_path / "b").exists()  # an outage is not data: nothing was committed

    # below --max-error-rate the failures are committed as error rows, with the reason
    m = distill(probs, tmp_path / "c", cfg(), generator=Flaky(rows, fail=10**6), retries=2, retry_wait=0,
                max_error_rate=1.0)
    everything = table(tmp_path / "c", "all")
    assert len(everything) == 20 and all(r["status"] == "error" for r in everything)
    assert m["stats"]["accepted"] == 0 and m["stats"]["top_errors"][0]["count"] == 20


def test_permanent_errors_are_not_retried(tmp_path, problems):
    rows, _, probs = problems
    gen = Flaky(rows, fail=0, sample_errors=True, permanent=True)
    distill(probs, tmp_path / "a", cfg(), generator=gen, retry_wait=0)
    assert gen.calls == 1
    errs = [r for r in table(tmp_path / "a", "all") if r["finish_reason"] == "error"]
    assert len(errs) == 5 and all(r["attempts"] == 1 and "context length" in r["error"] for r in errs)
    assert all(r["reject_reason"].startswith("generation error") for r in errs)


def test_prompt_over_the_context_limit_is_an_error_row_with_hf(tmp_path, tiny_model_dir):
    from cotforge.datagen.inputs import Problem

    probs = [Problem(0, "What is 2 + 3?", "5", "kk"),
             Problem(1, "What is 4 + 4? " + "Please think hard about it. " * 40, "8", "kk")]
    c = DistillConfig(backend="hf", model=str(tiny_model_dir), sampling={"n": 2, "max_tokens": 8, "temperature": 1.0},
                      template={"system": None, "user": "{problem}"}, keep="all", finish_reasons=("stop", "length"),
                      backend_options={"max_model_len": 64, "device": "cpu"})
    m = distill(probs, tmp_path / "out", c, retry_wait=0)
    everything = table(tmp_path / "out", "all")
    long_rows = [r for r in everything if r["prompt_index"] == 1]
    assert len(everything) == 4 and len(long_rows) == 2
    assert all(r["status"] == "error" and "context length exceeded" in r["error"] and r["attempts"] == 1 for r in long_rows)
    assert all(r["finish_reason"] in ("stop", "length") for r in everything if r["prompt_index"] == 0)
    assert m["stats"]["run"]["engine"] == "local"


def test_bad_input_is_named_with_file_and_row(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "2+2?", "answer": "4"}\n{"problem": "3+3?"\n')
    with pytest.raises(InputRowError) as err:
        load_problems(open_input(path))
    assert err.value.row == 2 and str(err.value).startswith(f"{path}: row 3: invalid JSON")

    path.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "2+2?", "answer": null}\n')
    with pytest.raises(InputRowError, match=r"row 2: column 'answer': missing gold answer"):
        load_problems(open_input(path))

    path.write_text('{"problem": ["not", "text"], "answer": "2"}\n')
    with pytest.raises(InputRowError, match="row 1: column 'problem': expected non-empty text"):
        load_problems(open_input(path))

    path.write_text('{"question": "1+1?", "answer": "2"}\n')
    with pytest.raises(UsageError, match=r"no column 'problem' .*columns: question, answer.*--column problem=NAME"):
        load_problems(open_input(path))
    assert load_problems(open_input(path), {"problem": "question"})[0].problem == "1+1?"

    with pytest.raises(UsageError, match="no such file"):
        open_input(tmp_path / "missing.jsonl")


def test_unknown_domain_and_bad_options_fail_before_generating(tmp_path, problems):
    rows, _, probs = problems
    from cotforge.datagen.inputs import Problem

    gen = Scripted(rows)
    with pytest.raises(UsageError, match="domain 'poetry': no verifier"):
        distill([Problem(0, "Write a poem", "x", "poetry")], tmp_path / "a", cfg(), generator=gen)
    with pytest.raises(UsageError, match="--keep 'some'"):
        distill(probs, tmp_path / "b", cfg(keep="some"), generator=gen)
    with pytest.raises(UsageError, match="temperature"):
        distill(probs, tmp_path / "c", cfg(sampling={"n": 2, "temperature": -1}), generator=gen)
    assert gen.calls == 0 and not (tmp_path / "a").exists()


def test_duplicate_prompts_are_dropped_and_noted(tmp_path, problems):
    rows, _, probs = problems
    m = distill(list(probs) + [probs[0]], tmp_path / "out", cfg(), generator=Scripted(rows))
    assert m["build_config"]["n_prompts"] == 5 and "1 duplicate prompts" in m["notes"][0]


def test_replay_of_an_all_dataset_refilters_without_a_model(tmp_path, problems):
    """Re-filter a finished distill run with another keep policy: the replay backend serves its `all` rows."""
    rows, _, probs = problems
    first = cfg()
    distill(probs, tmp_path / "first", first, generator=Scripted(rows))
    again = DistillConfig(**{**first.__dict__, "backend": "replay", "model": str(tmp_path / "first"), "keep": "all",
                             "finish_reasons": ("stop",)})
    m = distill(probs, tmp_path / "again", again)
    a, b = table(tmp_path / "first", "all"), table(tmp_path / "again", "all")
    assert [r["completion"] for r in a] == [r["completion"] for r in b]
    assert {r["model"] for r in b} == {"teacher-7b"}  # the recorded model, not the replay file
    assert m["stats"]["accepted"] == 15  # everything that stopped, wrong answers included


def test_a_replay_that_lacks_samples_finishes_whatever_the_error_rate(tmp_path, problems):
    """A recorded file lacks the same samples on every rerun: they are error rows, never a stop
    that tells the user to "rerun when the teacher is back" (which would stop again)."""
    rows, _, probs = problems
    first = cfg()
    distill(probs, tmp_path / "first", first, generator=Scripted(rows))
    import json

    import pyarrow.parquet as pq

    recorded = tmp_path / "half.jsonl"
    with recorded.open("w", encoding="utf-8") as fh:
        for f in sorted((tmp_path / "first" / "data" / "all").glob("*.parquet")):
            for r in pq.read_table(f).to_pylist():
                if r["sample_index"] < 2:  # samples 2 and 3 of every prompt are missing: 50% errors
                    fh.write(json.dumps({"prompt_id": r["prompt_id"], "sample_index": r["sample_index"],
                                         "completion": r["completion"], "finish_reason": r["finish_reason"]}) + "\n")
    again = DistillConfig(**{**first.__dict__, "backend": "replay", "model": str(recorded)})
    m = distill(probs, tmp_path / "again", again)  # the default --max-error-rate is 1%
    assert m["stats"]["finish_reasons"]["error"] == m["stats"]["completions"] // 2


def test_presets_match_the_recipes():
    warm = config_from_preset("kk-warmup", backend="vllm")
    s = warm.params()
    assert (warm.model, s.n, s.temperature, s.top_p, s.top_k, s.max_tokens, s.stop, s.include_stop) == (
        "Qwen/QwQ-32B", 4, 0.6, 0.95, 40, 8192, ("</answer>",), True)
    assert warm.keep == "all"
    long = config_from_preset("long-cot", backend="vllm", sampling={"n": 64})
    assert long.model == "Qwen/QwQ-32B-Preview" and long.n == 64 and long.keep == "correct"
    short = config_from_preset("short-cot", backend="openai")
    assert short.model == "Qwen/Qwen2.5-Math-72B-Instruct" and "\\boxed{}" in short.template["system"]
    with pytest.raises(UsageError, match="--preset 'r1'"):
        config_from_preset("r1", backend="vllm")


def test_make_items_ids_depend_on_content_only(problems):
    _, _, probs = problems
    a, _ = make_items(probs, cfg())
    b, _ = make_items(probs, cfg(model="other", sampling={"n": 8}))
    c, _ = make_items(probs, cfg(template={"system": None, "user": "Q: {problem}"}))
    assert [i.prompt_id for i in a] == [i.prompt_id for i in b]
    assert [i.prompt_id for i in a] != [i.prompt_id for i in c]


def run_cli(args):
    """``cotforge ...`` in process, with the datagen commands registered (the lead wires them in cli.py)."""
    from cotforge import cli

    if "distill" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    return cli.main(args)


def test_cli_distill_with_replay(tmp_path, problems, capsys):
    rows, _, probs = problems
    distill(probs, tmp_path / "recorded", cfg(), generator=Scripted(rows))
    args = ["distill", "--input", str(tmp_path / "kk.jsonl"), "--out", str(tmp_path / "cli"), "--backend", "replay",
            "--model", str(tmp_path / "recorded"), "--column", "problem=quiz", "--column", "answer=solution_text_format",
            "--domain", "kk", "--system", "Solve it.", "--user-template", "{problem}", "--n", "4",
            "--temperature", "0.6", "--top-p", "1.0", "--top-k", "-1", "--max-tokens", "50", "--no-progress"]
    assert run_cli(args) == 0
    out = capsys.readouterr().out
    assert "wrote 20 completions for 5 prompts" in out and "10 accepted (50.0%)" in out
    assert [r["completion"] for r in table(tmp_path / "cli", "all")] == [r["completion"] for r in table(tmp_path / "recorded", "all")]
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["command"].startswith("cotforge distill --input") and "--column problem=quiz" in manifest["command"]

    assert run_cli(args[:-1] + ["--keep", "best", "--no-progress", "--overwrite"]) == 2
    assert "--keep 'best'" in capsys.readouterr().err
    assert run_cli(["distill", "--input", str(tmp_path / "kk.jsonl"), "--out", str(tmp_path / "x"), "--backend", "replay",
                    "--model", str(tmp_path / "recorded"), "--no-progress"]) == 2
    assert "no column 'problem'" in capsys.readouterr().err


def test_out_may_not_be_or_hold_the_input(tmp_path, problems, capsys):
    rows, src, probs = problems
    distill(probs, tmp_path / "rec", cfg(), generator=Scripted(rows))
    snapshot = (tmp_path / "rec" / "manifest.json").read_text()
    rec_src = open_input(tmp_path / "rec", config="all")
    for out in (tmp_path / "rec", tmp_path / "rec" / "inner"):
        with pytest.raises(UsageError, match=r"--out .*: (is|lies inside) --input .*rec; write the new dataset"):
            distill(probs, out, cfg(), generator=Scripted(rows), inputs=[rec_src.record], overwrite=True)
    assert (tmp_path / "rec" / "manifest.json").read_text() == snapshot and not (tmp_path / "rec" / "inner").exists()
    args = ["distill", "--input", str(tmp_path / "kk.jsonl"), "--out", str(tmp_path), "--backend", "replay",
            "--model", str(tmp_path / "rec"), "--column", "problem=quiz", "--column", "answer=solution_text_format",
            "--domain", "kk", "--overwrite", "--no-progress"]
    assert run_cli(args) == 2  # the folder holding the input file
    assert f"--out {tmp_path}: contains --input {tmp_path / 'kk.jsonl'}" in capsys.readouterr().err
    assert (tmp_path / "kk.jsonl").is_file()


def test_total_backend_failure_is_an_error_and_retries_never_lower_the_backend_default(tmp_path, capsys):
    """A dead server: the run stops with one line and exit 1, commits nothing, and --retries 0 does not
    cut the openai backend's own retries (six attempts); an explicit max_retries is taken as it is."""
    import socket

    pytest.importorskip("httpx")
    with socket.socket() as sock:  # a port nothing listens on: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "rec.jsonl").write_text("".join(json.dumps({"problem": f"{i}+1?", "answer": str(i + 1)}) + "\n" for i in range(2)))
    base = ["distill", "--input", str(tmp_path / "rec.jsonl"), "--domain", "math", "--backend", "openai", "--model", "x",
            "--backend-opt", f"base_url=http://127.0.0.1:{port}/v1", "--backend-opt", "backoff_base=0.0001", "--n", "4",
            "--no-progress"]
    assert run_cli(base + ["--out", str(tmp_path / "d0"), "--retries", "0"]) == 1
    err = capsys.readouterr().err
    assert "error: the teacher failed 8 of 8 completions" in err and "connection error" in err
    assert "gave up after 6 attempts" in err and "0 of 2 prompts are committed" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d0").exists()

    assert run_cli(base + ["--out", str(tmp_path / "d1"), "--retries", "7"]) == 1
    assert "gave up after 8 attempts" in capsys.readouterr().err
    assert run_cli(base + ["--out", str(tmp_path / "d2"), "--retries", "2", "--backend-opt", "max_retries=0",
                           "--max-error-rate", "1"]) == 1  # everything failed: exit 1, rows kept with the reason
    captured = capsys.readouterr()
    assert "0 accepted (0.0%), 8 failed to generate" in captured.out
    assert "error: every completion failed to generate (8 of 8); " in captured.err
    rows = table(tmp_path / "d2", "all")
    assert len(rows) == 8 and all(r["attempts"] == 1 and "gave up after 1 attempt)" in r["error"] for r in rows)


def test_some_failures_are_a_warning_not_an_error(tmp_path, problems, capsys):
    rows, _, probs = problems
    recorded = Flaky(rows, fail=0, sample_errors=True, permanent=True)  # sample 1 of each prompt: context length
    distill(probs, tmp_path / "recorded", cfg(), generator=recorded, retry_wait=0)
    args = ["distill", "--input", str(tmp_path / "kk.jsonl"), "--out", str(tmp_path / "cli"), "--backend", "replay",
            "--model", str(tmp_path / "recorded"), "--column", "problem=quiz", "--column", "answer=solution_text_format",
            "--domain", "kk", "--system", "Solve it.", "--user-template", "{problem}", "--n", "4", "--temperature", "0.6",
            "--top-p", "1.0", "--top-k", "-1", "--max-tokens", "50", "--no-progress"]
    assert run_cli(args) == 0
    captured = capsys.readouterr()
    assert "5 failed to generate" in captured.out
    assert "warning: 5 completions failed to generate (kept in `all` with the reason); most often (5): " in captured.err


def test_progress_reports_total_acceptance_and_throughput(tmp_path, problems):
    from cotforge.datagen.cli import distill_progress

    rows, _, probs = problems
    seen = []
    distill(probs, tmp_path / "out", cfg(), generator=Scripted(rows), batch_prompts=2,
            on_progress=lambda p: seen.append((p.total_prompts, p.prompts, p.completions, p.accepted, p.tokens)))
    assert seen[0] == (5, 0, 0, 0, 0) and seen[-1] == (5, 5, 20, 10, 5 * (20 + 21 + 50 + 40))
    assert len(seen) == 1 + 3  # once at the start, then after each batch of 2 prompts
    with distill_progress(True) as update:  # the rich bar renders without a terminal too
        for p in seen:
            from cotforge.datagen.distill import DistillProgress

            update(DistillProgress(prompts=p[1], completions=p[2], accepted=p[3], tokens=p[4], elapsed=1.0, total_prompts=5))
    with distill_progress(False) as update:
        assert update is None


def test_secrets_in_backend_options_never_reach_the_manifest(tmp_path, problems):
    from cotforge.datagen.distill import rebuild_command

    rows, _, probs = problems
    c = cfg(backend_options={"api_key": "sk-live-123", "base_url": "http://h:8000/v1", "hf_token": "hf_abc"})
    m = distill(probs, tmp_path / "out", c, generator=Scripted(rows), command=rebuild_command(tmp_path / "out", c, "in.jsonl", {}, "kk", None))
    text = (tmp_path / "out" / "manifest.json").read_text() + (tmp_path / "out" / "README.md").read_text()
    assert "sk-live-123" not in text and "hf_abc" not in text and "<redacted>" in text
    # where the server is cannot change a row: out of the build identity, still in the rebuild command
    assert m["build_config"]["backend_options"] == {"hf_token": "<redacted>"}
    assert "base_url=" in m["command"] and "http://h:8000/v1" in m["command"]


@pytest.mark.parametrize("command", ["distill", "pairs", "silver", "decontam", "demo"])
def test_help_texts_keep_their_defaults(command, capsys, monkeypatch):
    """Rich reads "[default: x]" inside help text as a markup tag and drops it ("Sampling seed .")."""
    monkeypatch.setenv("COLUMNS", "300")
    assert run_cli([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert " ." not in text and "()" not in text
    expected = {"distill": "Sampling seed (default: 0).", "decontam": "(default: all)."}
    assert expected.get(command, "") in text


def test_a_backend_that_wants_large_batches_gets_them_and_the_rows_do_not_change(problems, tmp_path):
    """vLLM batches continuously inside one call only: its min_batch_prompts overrides a smaller --batch-prompts."""
    rows, src, probs = problems

    class Sizes(Scripted):
        def __init__(self, rows, floor=None):
            super().__init__(rows)
            self.sizes = []
            if floor is not None:
                self.min_batch_prompts = floor

        def generate(self, requests, params):
            self.sizes.append(len(requests))
            return super().generate(requests, params)

    small, large = Sizes(rows), Sizes(rows, floor=4)
    a = distill(probs, tmp_path / "a", cfg(), generator=small, batch_prompts=2)
    b = distill(probs, tmp_path / "b", cfg(), generator=large, batch_prompts=2)
    assert small.sizes == [2, 2, 1] and large.sizes == [4, 1]
    assert a["content_hash"] == b["content_hash"]


def test_default_shards_are_small_so_a_kill_loses_little(tmp_path):
    """With N=4 a shard holds 64 prompts: a run stopped at prompt 68 of 70 keeps 64, and the rerun asks for 6."""
    from cotforge.datagen.inputs import Problem

    class Counting:
        name, model = "counting", "teacher"

        def __init__(self, stop_at=None):
            self.asked, self.stop_at = [], stop_at

        def generate(self, requests, params):
            indices = [int(r.messages[-1]["content"].split("+")[0]) for r in requests]
            if self.stop_at is not None and max(indices) >= self.stop_at:
                raise KeyboardInterrupt  # never retried, never recorded: like Ctrl-C mid-run
            self.asked += indices
            return [[Completion(f"\\boxed{{{i + 1}}}", None, 3, 4, "stop", None, j) for j in range(params.n)]
                    for i in indices]

    probs = [Problem(i, f"{i}+1=?", str(i + 1), "math") for i in range(70)]
    c = DistillConfig(backend="counting", model="teacher", sampling={"n": 4, "max_tokens": 8},
                      template={"system": None, "user": "{problem}"})
    with pytest.raises(KeyboardInterrupt):
        distill(probs, tmp_path / "out", c, generator=Counting(stop_at=68), batch_prompts=4)
    again = Counting()
    m = distill(probs, tmp_path / "out", c, generator=again, batch_prompts=4)
    assert again.asked == list(range(64, 70)) and m["stats"]["run"]["prompts_resumed"] == 64
    assert [s["rows"] for s in m["splits"]["all/train"]["shards"]] == [256, 24]
