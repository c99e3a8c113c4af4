"""Shared helpers of the eval tests: the offline benchmark folder and replay files."""

import json

import pytest

from cotforge.evals.benchmark import shared_data_dir

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared benchmark data not found at {SHARED}")


def write_replay(path, rows):
    """rows: (prompt_id, sample_index, completion[, finish_reason])."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            d = {"prompt_id": r[0], "sample_index": r[1], "completion": r[2]}
            if len(r) > 3:
                d["finish_reason"] = r[3]
            fh.write(json.dumps(d) + "\n")
    return path


@pytest.fixture
def replay_file(tmp_path):
    return lambda rows, name="replay.jsonl": write_replay(tmp_path / name, rows)
