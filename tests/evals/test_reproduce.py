"""Published numbers through the harness itself (replay): the sets are read right and AIME24 matches."""

import pytest

from cotforge.evals.reproduce import markdown, published_sets, reproduce

from conftest import SHARED, needs_shared


@needs_shared
def test_published_sets_and_their_published_numbers():
    sets = {s.label: s for s in published_sets(SHARED / "outputs")}
    cot = sets["MATH 100 x 8 / Qwen2.5-Math math_cot_100"]
    assert cot.n == 8 and len(cot.replay) == 800 and len(cot.data_rows) == 100
    assert cot.published_headline["avg@n"] == pytest.approx(0.91)  # PROVENANCE.md: 91.0% of the 800 samples
    sky = sets["MATH-500 / Qwen2.5-14B-Instruct"]
    assert sky.published_headline["avg@n"] == pytest.approx(0.804) and len(sky.replay) == 500
    assert not sky.notes  # every question matched to a MATH-500 id by its text
    mmlu = sets["MMLU-Pro / Llama-3.1-8B-Instruct (5-shot CoT)"]
    assert mmlu.published_headline["avg@n"] == pytest.approx(0.4419, abs=5e-5)  # PROVENANCE.md: 44.19


@needs_shared
def test_aime24_reproduced_through_run_eval_replay(tmp_path):
    rows = reproduce(SHARED / "outputs", tmp_path, benches=("aime24",))
    assert len(rows) == 4
    for r in rows:
        assert r["questions"] == 30 and r["disagreeing"] == []
        assert abs(r["difference"]) < 0.001  # the published accuracies are rounded to 0.1
    assert "| AIME 2024 / Qwen2.5-14B-Instruct | avg@1 | 30 | 20.00 | 20.00 | +0.00 |" in markdown(rows)
