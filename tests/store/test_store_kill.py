"""kill -9 at every file operation of a build and of a repair: the folder never loads with rows
missing or extra, and rerunning the command finishes it with the clean build's content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cotforge.store import layout
from cotforge.store.dataset import DatasetWriter, verify_dataset
from cotforge.store.shards import ShardLimits

from test_store import CountingSource
from test_store_safety import card

HERE = Path(__file__).parent


def _writer(root):
    return DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"n": 2500}, seeds={},
                         command="cotforge toy build", limits=ShardLimits(max_rows=1000))


def _build(root):
    w = _writer(root)
    w.write_split("main", "train", CountingSource(2500))
    w.write_split("main", "test", CountingSource(10))
    return w.finish(render_card=card)


def _load_state(datasets, root: Path, cache: Path) -> str:
    """'refused' if load_dataset fails, 'whole' if it gives exactly the dataset; anything else fails the test."""
    try:
        ds = datasets.load_dataset(str(root), cache_dir=str(cache))
    except Exception:
        return "refused"
    assert sorted(ds) == ["test", "train"], f"{root}: loaded splits {sorted(ds)}"
    assert sorted(ds["train"]["idx"]) == list(range(2500)), f"{root}: train rows missing or extra"
    assert sorted(ds["test"]["idx"]) == list(range(10)), f"{root}: test rows missing or extra"
    return "whole"


@pytest.mark.parametrize("mode", ["build", "repair"])
def test_kill_9_at_every_point_never_leaves_a_folder_that_loads_wrong(tmp_path, mode, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr("os.fsync", lambda fd: None)  # speed: the kill points are process deaths, not power cuts
    datasets.disable_progress_bars()
    clean = _build(tmp_path / "clean")
    base = tmp_path / "base"
    if mode == "repair":
        _build(base)
        train = sorted((base / "data/main").glob("train-*.parquet"))
        train[0].write_bytes(b"damaged")  # the first shard: a repair that once deleted all after it
        (base / "data/main/train-00007-of-00009.parquet").write_bytes(train[1].read_bytes())  # unlisted extra
    out = tmp_path / "runs"
    done = subprocess.run([sys.executable, str(HERE / "killpoints.py"), mode, str(base), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    points = int(done.stdout.strip())
    assert points > (15 if mode == "build" else 8)  # really several points, inside shards, renames and finish
    states = set()
    for k in range(1, points + 1):
        root = out / str(k) / "ds"
        if not root.exists():  # killed before the first commit of a fresh build: nothing was created
            states.add("absent")
            continue
        states.add(_load_state(datasets, root, tmp_path / "cache" / str(k)))
        resumed = _build(root)
        assert resumed["content_hash"] == clean["content_hash"], f"kill point {k}"
        assert verify_dataset(root) == [] and not (root / layout.WORK_DIR).exists()
        assert not list(root.glob(".*.tmp")) and not list(tmp_path.glob("runs/*/ds.unlisted-*/data/main/train-0000[0-2]*"))
    assert _load_state(datasets, root, tmp_path / "cache" / "last") == "whole"
    assert "refused" in states  # some kill points did fall mid-build, and those folders did not load
