"""kill -9 in the middle of a run, then the same call: no lost and no duplicated samples."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq

from cotforge.evals import run_eval
from cotforge.evals.benchmarks import get_benchmark

from conftest import needs_shared

ARGS = dict(backend="replay", n=2, limit=12, batch_questions=1, shard_questions=2, plots=False)


def _rows(run):
    files = sorted((run / "data" / "math500").glob("*.parquet"))
    return [(r["id"], r["response"], r["status"]) for f in files for r in pq.read_table(f).to_pylist()]


@needs_shared
def test_kill_9_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path, replay_file):
    items = get_benchmark("math500").load(limit=12).items
    f = replay_file([(it.id, j, f"step {j}: \\boxed{{{it.gold if j else 0}}}") for it in items for j in range(2)])
    script = tmp_path / "slow_run.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from cotforge.datagen.backends import get_backend
        from cotforge.evals import run_eval

        class Slow:
            name, model = "replay", {str(f)!r}
            def __init__(self):
                self.inner = get_backend("replay", path={str(f)!r})
            def generate(self, requests, params):
                time.sleep(0.4)
                return self.inner.generate(requests, params)
            def close(self):
                pass

        if __name__ == "__main__":
            run_eval({str(f)!r}, ["math500"], {str(tmp_path / "run")!r}, generator=Slow(), **{ARGS!r})
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    journal = tmp_path / "run" / ".cotforge" / "journal.json"
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            committed = len(json.loads(journal.read_text())["splits"]["math500/test"]["shards"])
        except (FileNotFoundError, KeyError, ValueError):
            committed = 0
        if committed >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert committed >= 2, "the run never committed two shards"
    assert not (tmp_path / "run" / "manifest.json").exists()  # really interrupted

    res = run_eval(str(f), ["math500"], tmp_path / "run", **ARGS)
    resumed = _rows(tmp_path / "run")
    run_eval(str(f), ["math500"], tmp_path / "clean", **ARGS)
    clean = _rows(tmp_path / "clean")
    assert len(resumed) == 24 and len({r[0] for r in resumed}) == 24
    assert resumed == clean
    assert res["benchmarks"]["math500"]["avg@n"] == 0.5
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stats"]["run"]["samples_generated_this_run"]["math500"] < 24  # committed shards were kept
