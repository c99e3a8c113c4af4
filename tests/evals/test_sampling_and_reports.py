"""Benchmark default sampling under presets and flags; progress; compare, leaderboard and report on
two small runs with hand-computed scores."""

import json

import pytest

from cotforge.cli import main as cli
from cotforge.errors import UsageError
from cotforge.evals import compare_runs, run_eval
from cotforge.evals.benchmarks import REGISTRY, get_benchmark
from cotforge.evals.leaderboard import leaderboard
from cotforge.evals.presets import PRESETS, resolve_sampling

from conftest import needs_shared


def test_every_benchmark_declares_its_default_sampling_and_presets_and_flags_override_it():
    for name in REGISTRY:
        assert get_benchmark(name).default_sampling["max_tokens"] >= 1024, name
    kk = get_benchmark("kk").default_sampling
    s = resolve_sampling(None, kk, {}, seed=3)
    assert s["stop"] == ["</answer>"] and s["include_stop"] and s["temperature"] == 0.0 and s["seed"] == 3
    s = resolve_sampling("warmup", kk, {}, seed=0)  # the preset moves what it names, keeps the stop
    assert (s["n"], s["temperature"], s["top_p"], s["max_tokens"], s["stop"]) == (4, 0.7, 0.95, 8192, ["</answer>"])
    s = resolve_sampling("phi4_mini", get_benchmark("aime24").default_sampling, {"max_tokens": 100, "n": None}, seed=0)
    assert (s["n"], s["temperature"], s["max_tokens"]) == (3, 0.6, 100)  # None is "flag not given"
    assert resolve_sampling(None, get_benchmark("aime24").default_sampling, {}, seed=0)["max_tokens"] == 8192
    assert PRESETS["long_cot"]["max_tokens"] == 16384
    with pytest.raises(UsageError, match="--preset 'fast': choose one of warmup, long_cot, phi4_mini, greedy"):
        resolve_sampling("fast", {}, {}, seed=0)


def _run(tmp_path, replay_file, name, right, *, progress=None):
    """aime24, 4 questions x 2 samples; ``right[q]`` = how many of question q's samples are correct."""
    items = get_benchmark("aime24").load(limit=4).items
    rows = [(it.id, j, f"\\boxed{{{it.gold if j < right[q] else 1}}}") for q, it in enumerate(items) for j in range(2)]
    f = replay_file(rows, name=f"{name}.jsonl")
    return run_eval(str(f), ["aime24"], tmp_path / "runs" / name, backend="replay", n=2, limit=4, plots=False,
                    batch_questions=2, on_progress=progress)


@needs_shared
def test_progress_compare_leaderboard_and_report_on_two_runs(tmp_path, replay_file, capsys):
    seen = []
    a = _run(tmp_path, replay_file, "a", [2, 1, 0, 2], progress=lambda p: seen.append((p.done_samples, p.graded, p.correct, p.score)))
    assert seen[0] == (0, 0, 0, 0.0)
    assert seen[-1] == (8, 8, 5, 5 / 8)  # after every batch: samples done, graded, correct, running score
    assert len(seen) == 3  # the start, then one call per batch of 2 questions
    b = _run(tmp_path, replay_file, "b", [1, 1, 1, 0])
    assert a["benchmarks"]["aime24"]["avg@n"] == pytest.approx(5 / 8)
    assert b["benchmarks"]["aime24"]["avg@n"] == pytest.approx(3 / 8)

    d = compare_runs(tmp_path / "runs" / "a", tmp_path / "runs" / "b")["benchmarks"]["aime24"]
    # per-question differences: 1 - 0.5, 0.5 - 0.5, 0 - 0.5, 1 - 0 = [0.5, 0, -0.5, 1]; mean 0.25
    # sample variance ((0.25)^2 + 0.25^2 + 0.75^2 + 0.75^2) / 3 = 1.25 / 3; se = sqrt(1.25 / 3 / 4)
    assert d["questions"] == 4 and d["difference"] == pytest.approx(0.25)
    assert d["stderr"] == pytest.approx((1.25 / 12) ** 0.5)
    assert d["ci95"][0] < 0.25 < d["ci95"][1] and d["bootstrap_ci95"][0] <= 0.25 <= d["bootstrap_ci95"][1]

    header, rows = leaderboard(tmp_path / "runs")
    assert header == ["run", "model", "aime24", "mean"]
    assert [r[0] for r in rows] == ["a", "b"]  # best mean first
    lo, hi = a["benchmarks"]["aime24"]["ci95"]
    assert rows[0][2] == f"62.5 [{100 * lo:.1f}, {100 * hi:.1f}] (n=2)" and rows[1][3] == "37.5"

    assert cli(["eval", "report", str(tmp_path / "runs" / "a"), "--plots", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "| aime24 | 4 | 2 | 62.5 |" in out
    for png in ("aime24_pass_at_k.png", "aime24_by_contest.png", "aime24_lengths.png", "reflection_words.png"):
        assert (tmp_path / "figs" / "a" / png).stat().st_size > 1000, png
    assert cli(["eval", "compare", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b"), "--bench", "math500"]) == 2
    assert "--bench math500: not in both runs (shared: aime24)" in capsys.readouterr().err


@needs_shared
def test_the_run_card_and_manifest_record_the_kk_stop(tmp_path, replay_file):
    items = get_benchmark("kk").load(limit=2).items
    f = replay_file([(it.id, 0, "<answer>x</answer>") for it in items])
    run_eval(str(f), ["kk"], tmp_path / "kk", backend="replay", limit=2, plots=False)
    manifest = json.loads((tmp_path / "kk" / "manifest.json").read_text())
    assert manifest["build_config"]["benchmarks"]["kk"]["sampling"]["stop"] == ["</answer>"]
    assert "max=4096, stop=`</answer>`, seed=0" in (tmp_path / "kk" / "README.md").read_text()
