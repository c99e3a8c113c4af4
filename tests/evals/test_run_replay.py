"""run_eval through the replay backend: gold answers score 100%, results as data, rescore, compare."""

import gzip
import json

import pytest

from cotforge.cli import main as cli
from cotforge.errors import UsageError
from cotforge.evals import rescore, run_eval
from cotforge.evals.benchmarks import get_benchmark

from conftest import SHARED, needs_shared


@needs_shared
def test_replay_of_kk_gold_answers_scores_100(tmp_path, replay_file):
    rows = [json.loads(line) for line in open(SHARED / "kk" / "kk_test_3to7ppl.jsonl")]
    f = replay_file([(r["id"], 0, f"<think>check each person</think>\n<answer>{r['solution_text_format']}</answer>") for r in rows])
    res = run_eval(str(f), ["kk"], tmp_path / "run", backend="replay", plots=False)
    b = res["benchmarks"]["kk"]
    assert b["questions"] == 500 and b["avg@n"] == 1.0
    assert set(b["breakdowns"]["people"]) == {"3", "4", "5", "6", "7"}


@needs_shared
def test_humaneval_canonical_solutions_score_100_via_replay(tmp_path, replay_file):
    tasks = [json.loads(line) for line in gzip.open(SHARED / "humaneval" / "HumanEval.jsonl.gz", "rt")]
    f = replay_file([(t["task_id"], 0, f"Here it is:\n```python\n{t['prompt']}{t['canonical_solution']}```") for t in tasks])
    # use_reference=False: one fixed, generous timeout instead of timing each reference first (halves
    # the runs; a loaded CI machine must not turn a slow start into a timeout verdict)
    res = run_eval(str(f), ["humaneval_plus"], tmp_path / "run", backend="replay", plots=False,
                   verifier_options={"code": {"use_reference": False, "timeout": 120.0}})
    b = res["benchmarks"]["humaneval_plus"]
    assert b["questions"] == 164 and b["avg@n"] == 1.0, b["rates"]
    assert "maj@1" not in b  # no majority vote over programs
    assert b["data"]["variant"].startswith("HumanEval (original")


def _math_run(tmp_path, replay_file, **kw):
    items = get_benchmark("math500").load(limit=4).items
    g = [it.gold for it in items]
    rows = [
        # q0: correct, then two equivalent wrong answers written differently: maj@3 must group them
        (items[0].id, 0, f"<think>wait</think> \\boxed{{{g[0]}}}"), (items[0].id, 1, "\\boxed{\\frac{1}{7}}"),
        (items[0].id, 2, "so \\boxed{1/7}"),
        (items[1].id, 0, f"\\boxed{{{g[1]}}}"), (items[1].id, 1, f"The answer is \\boxed{{{g[1]}}}"), (items[1].id, 2, "no idea"),
        (items[2].id, 0, "<think>Alternatively, retry", "length"), (items[2].id, 1, f"\\boxed{{{g[2]}}}"), (items[2].id, 2, "\\boxed{0}"),
        (items[3].id, 0, f"\\boxed{{{g[3]}}}"), (items[3].id, 1, f"\\boxed{{{g[3]}}}"),  # sample 2 missing: an error row
    ]
    f = replay_file(rows)
    return f, run_eval(str(f), "math500", tmp_path / "run", backend="replay", n=3, limit=4, **kw)


@needs_shared
def test_results_metrics_statuses_and_majority_by_verifier_equivalence(tmp_path, replay_file):
    _, res = _math_run(tmp_path, replay_file, plots=False)
    b = res["benchmarks"]["math500"]
    assert b["n"] == 3 and b["questions"] == 4 and b["samples"] == 12
    # per-question correct: 1/3, 2/3, 1/3, 2/3
    assert b["avg@n"] == pytest.approx(0.5)
    assert b["pass@k"]["3"] == pytest.approx(1.0)
    # maj@3: q0 -> 1/7 group (2 votes, wrong); q1 -> gold; q2 -> tie, first seen = gold; q3 -> gold
    assert b["maj@3"] == pytest.approx(0.75)
    assert b["rates"]["no_answer"] == pytest.approx(1 / 12)
    assert b["rates"]["truncated"] == pytest.approx(1 / 12)
    assert b["rates"]["error"] == pytest.approx(1 / 12)
    assert b["analysis"]["truncation_rate"] == pytest.approx(1 / 12)


@needs_shared
def test_run_folder_is_a_loadable_dataset_with_everything_that_moves_a_score(tmp_path, replay_file):
    from datasets import load_dataset

    _, res = _math_run(tmp_path, replay_file)
    run = tmp_path / "run"
    ds = load_dataset(str(run), "math500", split="test")
    assert ds.num_rows == 12
    row = ds[0]
    for col in ("prompt", "response", "extracted", "status", "reason", "completion_tokens", "finish_reason",
                "think_tokens", "answer_tokens", "reflection", "branching"):
        assert col in row
    manifest = json.loads((run / "manifest.json").read_text())
    bench = manifest["build_config"]["benchmarks"]["math500"]
    assert bench["data"]["sha256"] == "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"
    assert bench["prompt"]["name"] == "boxed" and len(bench["prompt"]["sha256"]) == 64
    assert bench["sampling"]["n"] == 3 and bench["sampling"]["seed"] == 0
    assert bench["verifier"]["name"] == "math" and bench["verifier"]["version"]
    assert manifest["stats"]["environment"]["libraries"]["math-verify"]
    card = (run / "README.md").read_text()
    assert "| math500 | 4 | 3 | 50.0 |" in card
    assert (run / "plots" / "math500_pass_at_k.png").stat().st_size > 0
    assert json.loads((run / "results.json").read_text()) == json.loads(json.dumps(res))


@needs_shared
def test_rescore_regrades_without_generating_and_records_the_options(tmp_path, replay_file):
    f, res = _math_run(tmp_path, replay_file, plots=False)
    f.unlink()  # nothing can be generated any more
    again = rescore(tmp_path / "run", plots=False)
    assert again["benchmarks"]["math500"]["avg@n"] == res["benchmarks"]["math500"]["avg@n"]
    other = rescore(tmp_path / "run", out=tmp_path / "strict", verifier_options={"math": {"fallback": False}}, plots=False)
    assert other["benchmarks"]["math500"]["verifier"]["options"] == {"fallback": False}
    manifest = json.loads((tmp_path / "strict" / "manifest.json").read_text())
    assert manifest["build_config"]["benchmarks"]["math500"]["verifier"]["options"] == {"fallback": False}
    assert (tmp_path / "run" / "manifest.json").is_file() and not list(tmp_path.glob(".run.rescore-*"))


@needs_shared
def test_rescore_and_compare_name_a_damaged_or_missing_shard(tmp_path, replay_file, capsys):
    _math_run(tmp_path, replay_file, plots=False)
    shard = next((tmp_path / "run" / "data" / "math500").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    said = f"{shard}: damaged (its size or SHA-256 is not the one in manifest.json); rerun the command that built the folder to repair it: cotforge eval run"
    with pytest.raises(UsageError) as err:
        rescore(tmp_path / "run", plots=False)
    assert str(err.value).startswith(said)
    capsys.readouterr()
    assert cli(["eval", "compare", str(tmp_path / "run"), str(tmp_path / "run")]) == 2
    assert said in capsys.readouterr().err
    shard.unlink()
    with pytest.raises(UsageError, match=f"{shard}: missing"):
        rescore(tmp_path / "run", plots=False)


@needs_shared
def test_a_changed_setting_does_not_resume_an_older_run(tmp_path, replay_file):
    f, _ = _math_run(tmp_path, replay_file, plots=False)
    with pytest.raises(UsageError, match="holds a different build"):
        run_eval(str(f), "math500", tmp_path / "run", backend="replay", n=3, limit=4, temperature=0.5, plots=False)


@needs_shared
def test_cli_report_compare_leaderboard(tmp_path, replay_file, capsys):
    _math_run(tmp_path, replay_file, plots=False)
    assert cli(["eval", "report", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "| math500 | 4 | 3 | 50.0 |" in out and "math500 by level" in out
    assert cli(["eval", "compare", str(tmp_path / "run"), str(tmp_path / "run"), "--format", "json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert cmp["benchmarks"]["math500"]["difference"] == 0.0 and cmp["benchmarks"]["math500"]["questions"] == 4
    assert cli(["eval", "leaderboard", str(tmp_path)]) == 0
    assert "| run | " in capsys.readouterr().out
    assert cli(["eval", "run", "--model", "m", "--bench", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown benchmark 'nope'; known:" in capsys.readouterr().err


@needs_shared
def test_several_batches_are_graded_at_once(tmp_path, replay_file, monkeypatch):
    # A slow item must not stall the pool: batches are graded concurrently (four here, each held
    # until the four have all arrived), not one or two at a time behind the oldest.
    import threading

    from cotforge.evals import grading
    from cotforge.evals.runner import default_overlap

    assert default_overlap(grading.Grader(get_benchmark("math500"), workers=1)) >= 4
    barrier = threading.Barrier(4, timeout=20)
    real = grading.Grader.grade

    def grade(self, rows):
        barrier.wait()  # BrokenBarrierError (the run fails) unless four batches are in flight together
        return real(self, rows)

    monkeypatch.setattr(grading.Grader, "grade", grade)
    items = get_benchmark("math500").load(limit=8).items
    f = replay_file([(it.id, 0, f"\\boxed{{{it.gold}}}") for it in items])
    res = run_eval(str(f), "math500", tmp_path / "run", backend="replay", n=1, limit=8, batch_questions=1, plots=False)
    assert res["benchmarks"]["math500"]["avg@n"] == 1.0
