"""--engine ray: batches split over Ray actors give exactly the rows of the local engine."""

import pyarrow.parquet as pq
import pytest

from cotforge.evals import run_eval
from cotforge.evals.benchmarks import get_benchmark

from conftest import needs_shared


def _rows(run):
    return [(r["id"], r["response"], r["status"]) for f in sorted((run / "data" / "aime24").glob("*.parquet"))
            for r in pq.read_table(f).to_pylist()]


@pytest.mark.slow
@needs_shared
def test_ray_engine_matches_the_local_engine(tmp_path, replay_file):
    pytest.importorskip("ray")
    items = get_benchmark("aime24").load(limit=6).items
    f = replay_file([(it.id, j, f"\\boxed{{{it.gold if j else 1}}}") for it in items for j in range(2)])
    args = dict(backend="replay", n=2, limit=6, batch_questions=3, plots=False)
    res = run_eval(str(f), ["aime24"], tmp_path / "ray", engine="ray", workers=2, ray_options={"num_cpus": 2}, **args)
    run_eval(str(f), ["aime24"], tmp_path / "local", **args)
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local") and len(_rows(tmp_path / "ray")) == 12
    assert res["benchmarks"]["aime24"]["avg@n"] == 0.5
    with pytest.raises(ValueError, match="--engine 'spark'"):
        run_eval(str(f), ["aime24"], tmp_path / "x", engine="spark", **args)
