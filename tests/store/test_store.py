"""The dataset store: determinism, atomic resumable shards, corruption repair, Hub-layout loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.errors import UsageError
from cotforge.store import layout
from cotforge.store.dataset import DatasetWriter, verify_dataset
from cotforge.store.manifest import read_manifest
from cotforge.store.shards import ShardLimits

SCHEMA = pa.schema([("idx", pa.int64()), ("text", pa.string()), ("tags", pa.list_(pa.string()))])


class CountingSource:
    """Rows idx=0..n-1; remembers where each call started and what it was told was done."""

    schema = SCHEMA

    def __init__(self, n: int, crash_at: int | None = None):
        self.n, self.crash_at = n, crash_at
        self.starts: list[int] = []
        self.done_rows: list[int] = []

    def rows(self, start=0, done=()):
        self.starts.append(start)
        self.done_rows.append(sum(t.num_rows for t in done))
        for i in range(start, self.n):
            if self.crash_at is not None and i == self.crash_at:
                raise KeyboardInterrupt("simulated crash")
            yield {"idx": i, "text": f"row {i} " + "x" * (i % 7), "tags": [str(i % 3)]}


def build(root: Path, n=2500, crash_at=None, overwrite=False, config=None, limits=ShardLimits(max_rows=1000)):
    w = DatasetWriter(
        root, name="toy", family="toy", version="1.0.0",
        build_config=config or {"n": n}, seeds={"seed": 0}, command="test", overwrite=overwrite, limits=limits,
    )
    src = CountingSource(n, crash_at)
    w.write_split("main", "train", src)
    w.write_split("main", "test", CountingSource(10))
    manifest = w.finish(render_card=lambda m: "---\nconfigs:\n- config_name: main\n  data_files:\n"
                        "  - split: train\n    path: data/main/train-*.parquet\n"
                        "  - split: test\n    path: data/main/test-*.parquet\n---\n# toy\n")
    return manifest, src


def test_shards_are_named_sized_and_deterministic(tmp_path):
    m1, _ = build(tmp_path / "a")
    m2, _ = build(tmp_path / "b")
    assert m1["content_hash"] == m2["content_hash"]
    paths = [s["path"] for s in m1["splits"]["main/train"]["shards"]]
    assert paths == [f"data/main/train-0000{i}-of-00003.parquet" for i in range(3)]
    assert [s["rows"] for s in m1["splits"]["main/train"]["shards"]] == [1000, 1000, 500]
    for p in paths:
        assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes()
    assert not (tmp_path / "a" / layout.WORK_DIR).exists()
    assert verify_dataset(tmp_path / "a") == []
    umask = os.umask(0o022)
    os.umask(umask)
    for name in (layout.CARD, layout.MANIFEST):  # readable like any file the user creates (mkstemp gives 0600)
        assert (tmp_path / "a" / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_byte_limit_cuts_shards(tmp_path):
    m, _ = build(tmp_path / "a", limits=ShardLimits(max_rows=10**6, max_bytes=20_000))
    assert len(m["splits"]["main/train"]["shards"]) > 1
    assert m["splits"]["main/train"]["rows"] == 2500


def test_resume_after_crash_continues_exactly(tmp_path):
    root = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        build(root, crash_at=2100)
    # two shards were committed; no half-written shard is visible under data/
    assert not list((root / "data").glob("**/*.parquet")) or all(
        "-of-" in p.name for p in (root / "data").glob("**/*.parquet"))
    journal = json.loads((root / layout.JOURNAL).read_text())
    assert [s["rows"] for s in journal["splits"]["main/train"]["shards"]] == [1000, 1000]
    assert not list(root.glob("**/.*.writing"))
    manifest, src = build(root)
    assert src.starts == [2000] and src.done_rows == [2000]
    clean, _ = build(tmp_path / "clean")
    assert manifest["content_hash"] == clean["content_hash"]


def test_finished_build_is_verified_not_rebuilt_and_corruption_is_repaired(tmp_path):
    root = tmp_path / "ds"
    m1, _ = build(root)
    _, src = build(root)
    assert src.starts == []  # nothing regenerated: every shard verified by hash
    victim = root / m1["splits"]["main/train"]["shards"][1]["path"]
    victim.write_bytes(b"garbage" + victim.read_bytes()[7:])
    assert verify_dataset(root) == [f"{m1['splits']['main/train']['shards'][1]['path']}: sha256 mismatch (corrupted)"]
    m2, src = build(root)
    assert src.starts == [1000]
    assert m2["content_hash"] == m1["content_hash"]
    assert verify_dataset(root) == []


def test_different_build_is_refused_without_overwrite(tmp_path):
    root = tmp_path / "ds"
    build(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(UsageError, match="different build.*--overwrite"):
        build(root, config={"n": 99})
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    m, _ = build(root, n=30, config={"n": 30}, overwrite=True)
    assert m["splits"]["main/train"]["rows"] == 30
    assert len(list((root / "data/main").glob("train-*.parquet"))) == 1


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        build(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_load_dataset_reads_the_folder_offline(tmp_path):
    datasets = pytest.importorskip("datasets")
    root = tmp_path / "ds"
    build(root)
    ds = datasets.load_dataset(str(root), "main", split="test")
    assert ds.num_rows == 10 and ds[3]["idx"] == 3
    streamed = datasets.load_dataset(str(root), "main", split="train", streaming=True)
    assert sum(1 for _ in streamed) == 2500
    assert read_manifest(root)["splits"]["main/train"]["rows"] == 2500


def test_a_full_shard_is_committed_before_the_next_row_is_asked_for(tmp_path):
    """A crash right after a shard fills must not lose that shard (batches never cross shards)."""
    from cotforge.store.shards import ShardInfo, write_shards

    committed: list[ShardInfo] = []

    def rows():
        for i in range(25):
            if i == 10:
                assert [s.rows for s in committed] == [4, 4], "shards 0 and 1 must already be on disk"
            yield {"idx": i, "text": "t", "tags": []}

    write_shards(rows(), SCHEMA, root=tmp_path, staging_name=lambda k: f"s-{k}.parquet", first_shard=0,
                 limits=ShardLimits(max_rows=4), on_shard=committed.append)
    assert [s.rows for s in committed] == [4] * 6 + [1]
    assert pq.read_table(tmp_path / "s-6.parquet").column("idx").to_pylist() == [24]


def test_an_empty_split_has_no_shard_and_is_left_out_of_the_card_configs(tmp_path):
    datasets = pytest.importorskip("datasets")
    from cotforge.hub.cards import configs_yaml

    w = DatasetWriter(tmp_path / "ds", name="toy", family="toy", version="1.0.0", build_config={},
                      seeds={}, command="test")
    w.write_split("main", "train", CountingSource(5))
    w.write_split("main", "test", CountingSource(0))
    w.write_split("other", "train", CountingSource(0))
    m = w.finish(render_card=lambda m: "---\n" + __import__("yaml").safe_dump({"configs": configs_yaml(m)}) + "---\n")
    assert m["splits"]["main/test"] == {"rows": 0, "shards": []}
    assert configs_yaml(m) == [{"config_name": "main", "data_files": [{"split": "train", "path": "data/main/train-*.parquet"}]}]
    assert any(n.startswith("main/test is empty") for n in m["notes"])
    assert not list((tmp_path / "ds/data").glob("*/test-*"))
    assert datasets.load_dataset(str(tmp_path / "ds"), "main", split="train").num_rows == 5
    assert verify_dataset(tmp_path / "ds") == []


def test_a_build_that_fails_before_committing_anything_leaves_no_trace(tmp_path):
    root = tmp_path / "ds"

    class Broken(CountingSource):
        def rows(self, start=0, done=()):
            yield {"idx": 0, "text": "x", "tags": []}
            raise RuntimeError("backend not installed")

    w = DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"backend": "nope"},
                      seeds={}, command="test")
    # opening takes the folder's lock and writes nothing else
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [".cotforge", ".cotforge/lock"]
    with pytest.raises(RuntimeError):
        w.write_split("main", "train", Broken(5))
    assert not root.exists()
    # the corrected command can use the same folder: no "different build" refusal
    m, _ = build(root, n=20, config={"backend": "fixed"})
    assert m["splits"]["main/train"]["rows"] == 20


def test_a_failure_in_an_existing_empty_folder_keeps_the_folder(tmp_path):
    class Broken(CountingSource):
        def rows(self, start=0, done=()):
            raise RuntimeError("boom")
            yield

    w = DatasetWriter(tmp_path, name="toy", family="toy", version="1.0.0", build_config={}, seeds={}, command="t")
    with pytest.raises(RuntimeError):
        w.write_split("main", "train", Broken(5))
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []
