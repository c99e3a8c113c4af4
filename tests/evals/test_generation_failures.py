"""An outage is never a score: failed generations above --max-error-rate stop the run before the
shard is committed, a rerun resumes and asks again, and where the server is cannot change a run's
identity (so the rerun may point elsewhere)."""

import json

import pyarrow.parquet as pq
import pytest

from cotforge.cli import app
from cotforge.datagen.backends import Completion
from cotforge.datagen.backends.failures import GenerationFailed
from cotforge.errors import UsageError
from cotforge.evals import run_eval
from cotforge.evals.benchmarks import get_benchmark

from conftest import needs_shared

ARGS = dict(backend="openai", n=2, limit=6, batch_questions=1, shard_questions=2, plots=False)


class Server:
    """A stand-in OpenAI-compatible backend: answers every question right, except that the
    questions in ``down`` fail (after its own retries) with ``error``."""

    name = "openai"

    def __init__(self, golds: dict[str, str], down: set[int] = frozenset(), error: str = "ConnectError: connection refused"):
        self.golds, self.down, self.error = golds, set(down), error
        self.asked: list[str] = []
        self.index = {qid: i for i, qid in enumerate(golds)}

    def generate(self, requests, params):
        out = []
        for r in requests:
            self.asked.append(r.prompt_id)
            if self.index[r.prompt_id] in self.down:
                out.append([Completion.failed(self.error, j) for j in range(params.n)])
            else:
                out.append([Completion(text=f"\\boxed{{{self.golds[r.prompt_id]}}}", reasoning=None, prompt_tokens=3,
                                       completion_tokens=3, finish_reason="stop", error=None, sample_index=j)
                            for j in range(params.n)])
        return out

    def close(self):
        pass


def _golds():
    return {it.id: it.gold for it in get_benchmark("math500").load(limit=6).items}


def _rows(run):
    files = sorted((run / "data" / "math500").glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f, columns=["question_index", "status", "error"]).to_pylist()]


@needs_shared
def test_an_outage_stops_the_run_uncommitted_and_a_rerun_resumes_and_asks_again(tmp_path):
    golds = _golds()
    down = Server(golds, down={2, 3, 4, 5})  # the server goes away after question 1
    with pytest.raises(GenerationFailed, match=r"math500: the model failed 4 of 4 samples of questions 2-3 "
                                               r"\(100.0%, above --max-error-rate 1.0%\); most often \(4\): "
                                               r"ConnectError: connection refused\. 2 of 6 questions are committed"):
        run_eval("m", ["math500"], tmp_path / "run", generator=down, **ARGS)
    assert not (tmp_path / "run" / "results.json").exists()
    # the first shard (questions 0-1) was committed; the failed one was not
    journal = json.loads((tmp_path / "run" / ".cotforge" / "journal.json").read_text())
    assert [s["rows"] for s in journal["splits"]["math500/test"]["shards"]] == [4]

    back = Server(golds)
    results = run_eval("m", ["math500"], tmp_path / "run", generator=back, **ARGS)
    assert back.asked == list(golds)[2:]  # only the questions not committed are asked again
    assert results["benchmarks"]["math500"]["avg@n"] == 1.0
    assert {r["status"] for r in _rows(tmp_path / "run")} == {"correct"}


@needs_shared
def test_failures_within_the_rate_are_committed_as_error_rows(tmp_path):
    golds = _golds()
    results = run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds, down={3}), max_error_rate=0.5, **ARGS)
    rows = _rows(tmp_path / "run")
    assert [r["question_index"] for r in rows if r["status"] == "error"] == [3, 3]
    assert all(r["error"] == "ConnectError: connection refused" for r in rows if r["status"] == "error")
    assert results["benchmarks"]["math500"]["rates"]["error"] == pytest.approx(2 / 12)


@needs_shared
def test_a_prompt_over_the_context_limit_is_not_an_outage(tmp_path):
    # asking again cannot fix it: it is an error row whatever the rate, and the run finishes
    golds = _golds()
    server = Server(golds, down={0, 1, 2, 3, 4, 5}, error="prompt of 9,000 tokens exceeds the maximum context length 4,096")
    results = run_eval("m", ["math500"], tmp_path / "run", generator=server, **ARGS)
    assert results["benchmarks"]["math500"]["rates"]["error"] == 1.0


@needs_shared
def test_a_replay_missing_samples_finishes_whatever_the_rate(tmp_path, replay_file):
    # a recorded file lacks the same samples on every rerun: stopping to "retry" them would loop
    golds = _golds()
    f = replay_file([(qid, 0, f"\\boxed{{{g}}}") for qid, g in golds.items()])  # sample 1 of each missing
    results = run_eval(str(f), ["math500"], tmp_path / "run", backend="replay", n=2, limit=6, plots=False)
    assert results["benchmarks"]["math500"]["rates"]["error"] == 0.5


@needs_shared
def test_where_the_server_is_is_not_part_of_the_run_identity(tmp_path):
    golds = _golds()
    opts = dict(ARGS, shard_questions=1)
    with pytest.raises(GenerationFailed):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds, down={4, 5}),
                 backend_options={"base_url": "http://a:8000/v1", "max_concurrency": 8}, **opts)
    back = Server(golds)
    run_eval("m", ["math500"], tmp_path / "run", generator=back,
             backend_options={"base_url": "http://b:9000/v1", "max_concurrency": 64, "api_key": "sk-1"}, **opts)
    assert back.asked == list(golds)[4:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["build_config"]["backend_options"] == {}
    assert "sk-1" not in (tmp_path / "run" / "manifest.json").read_text()
    # an option that changes the samples is still the identity
    with pytest.raises(UsageError, match="different"):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds), backend_options={"top_k": 5}, **opts)


def test_max_error_rate_is_checked_and_named(tmp_path):
    with pytest.raises(UsageError, match=r"--max-error-rate 2: must be between 0 and 1"):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server({}), max_error_rate=2, **ARGS)


@needs_shared
@pytest.mark.parametrize("flag,value,option", [("--n", 0, "n"), ("--max-tokens", 0, "max_tokens"),
                                               ("--temperature", -1.0, "temperature")])
def test_a_bad_sampling_value_names_its_flag(tmp_path, flag, value, option):
    args = {**ARGS, option: value}
    with pytest.raises(UsageError, match=rf"^{flag} {value!r}: sampling {option} must be"):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server({}), **args)
    assert not (tmp_path / "run").exists()


def test_the_cli_exits_1_with_one_line_when_the_server_is_unreachable(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [
        "eval", "run", "--model", "m", "--backend", "openai", "--backend-opt", "base_url=http://127.0.0.1:9/v1",
        "--backend-opt", "max_retries=0", "--bench", "math500", "--limit", "2", "--out", str(tmp_path / "run"),
        "--no-progress",
    ])
    assert result.exit_code == 1, result.output
    assert "error: math500: the model failed 2 of 2 samples of questions 0-1" in result.output
    assert "rerun the same command" in result.output
    assert not (tmp_path / "run" / "results.json").exists()


@needs_shared
def test_retry_errors_regenerates_only_the_failed_samples_and_keeps_every_other_row(tmp_path):
    golds = _golds()
    run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds, down={3}), max_error_rate=0.5, **ARGS)
    before = {(r["question_index"], r["status"]) for r in _rows(tmp_path / "run")}
    assert (3, "error") in before
    files = sorted((tmp_path / "run" / "data" / "math500").glob("*.parquet"))
    kept = {f.name: pq.read_table(f).to_pylist() for f in files}

    flaky = Server(golds, down={5})  # question 3 answers now; 5 would fail, but it is not asked
    results = run_eval("m", ["math500"], tmp_path / "run", generator=flaky, retry_errors=True, **ARGS)
    assert flaky.asked == [list(golds)[3]]
    assert results["retried_errors"] == {"retried": 2, "still_failed": 0}
    assert results["benchmarks"]["math500"]["avg@n"] == 1.0
    assert results["benchmarks"]["math500"]["rates"]["error"] == 0.0
    after = {f.name: pq.read_table(f).to_pylist() for f in sorted((tmp_path / "run" / "data" / "math500").glob("*.parquet"))}
    assert list(after) == list(kept)  # the same shards
    for name, rows in kept.items():
        for old, new in zip(rows, after[name]):
            assert new == old or (old["question_index"] == 3 and new["status"] == "correct")
    assert not list(tmp_path.glob(".run.retry-*"))
    # nothing left to retry: no model call, the run as it is
    idle = Server(golds)
    again = run_eval("m", ["math500"], tmp_path / "run", generator=idle, retry_errors=True, **ARGS)
    assert idle.asked == [] and again["retried_errors"] == {"retried": 0, "still_failed": 0}
    # the same command without the flag still resumes the rewritten run (same identity)
    assert run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds), **ARGS)["benchmarks"]["math500"]["avg@n"] == 1.0


@needs_shared
def test_retry_errors_leaves_a_prompt_over_the_context_limit(tmp_path):
    golds = _golds()
    long = "prompt exceeds the maximum context length"
    run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds, down={1}, error=long), **ARGS)
    server = Server(golds)
    results = run_eval("m", ["math500"], tmp_path / "run", generator=server, retry_errors=True, **ARGS)
    assert server.asked == [] and results["retried_errors"]["retried"] == 0
    assert results["benchmarks"]["math500"]["rates"]["error"] == pytest.approx(2 / 12)


@needs_shared
def test_a_retry_stopped_mid_swap_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """Where the kernel has no atomic exchange the swap is two renames; killed between them, the
    run folder is missing for a moment, and the next command puts the finished new run in place."""
    from pathlib import Path

    from cotforge.store import atomic

    golds = _golds()
    run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds, down={3}), max_error_rate=0.5, **ARGS)
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real = Path.rename

    def rename(self, target):
        if self.name == ".run.retry-tmp":
            raise KeyboardInterrupt  # killed after the old run moved aside
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server(golds), retry_errors=True, **ARGS)
    monkeypatch.setattr(Path, "rename", real)
    assert not (tmp_path / "run").exists()
    server = Server(golds)
    results = run_eval("m", ["math500"], tmp_path / "run", generator=server, **ARGS)
    assert server.asked == []  # the retried run was finished: nothing to generate
    assert results["benchmarks"]["math500"]["rates"]["error"] == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@needs_shared
def test_options_for_a_verifier_no_benchmark_uses_are_refused_not_dropped(tmp_path):
    with pytest.raises(UsageError, match=r"--verifier-opt choice\.\*: no benchmark of this run uses the verifier "
                                         r"'choice' \(math500 uses math\)"):
        run_eval("m", ["math500"], tmp_path / "run", generator=Server({}), verifier_options={"choice": {"x": 1}}, **ARGS)
    assert not (tmp_path / "run").exists()
