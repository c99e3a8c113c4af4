"""Locks, unlisted files, repairs that touch only what is bad, manifests recovered from shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main
from cotforge.errors import UsageError
from cotforge.store import layout
from cotforge.store.dataset import DatasetWriter, verify_dataset
from cotforge.store.lock import FolderLock, FolderLockedError
from cotforge.store.manifest import read_manifest
from cotforge.store.repair import STUB_CARD
from cotforge.store.resume import KeptShard
from cotforge.store.shards import ShardLimits

from test_store import CountingSource, build


class Tally(CountingSource):
    """CountingSource that also counts the rows it yields (what a teacher would be paid for)."""

    def __init__(self, n, crash_at=None, salt=""):
        super().__init__(n, crash_at)
        self.yielded, self.salt = 0, salt

    def rows(self, start=0, done=()):
        for row in super().rows(start, done):
            self.yielded += 1
            if self.salt:
                row["text"] += self.salt
            yield row


def writer(root, limits=ShardLimits(max_rows=1000)):
    return DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"n": 2500}, seeds={},
                         command="cotforge toy build", limits=limits)


def card(_m):
    return ("---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: data/main/train-*.parquet\n"
            "  - split: test\n    path: data/main/test-*.parquet\n---\n# toy\n")


def finish(w, train, test=None):
    w.write_split("main", "train", train)
    w.write_split("main", "test", test or CountingSource(10))
    return w.finish(render_card=card)


def shard_paths(root, key="main/train"):
    return [root / s["path"] for s in read_manifest(root)["splits"][key]["shards"]]


# ---------------------------------------------------------------------------------------------- lock

def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_the_folder(tmp_path):
    root = tmp_path / "ds"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from cotforge.store.lock import FolderLock; "
         "FolderLock(sys.argv[1], 'cotforge kk build --out ds').acquire(); print('held', flush=True); time.sleep(60)",
         str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError) as info:
            build(root)
        msg = str(info.value)
        assert f"pid {holder.pid}" in msg and "cotforge kk build --out ds" in msg and "UTC" in msg and "\n" not in msg
        assert sorted(p.name for p in root.iterdir()) == [".cotforge"]  # the refused writer touched nothing
    finally:
        holder.kill()  # SIGKILL: the kernel drops the flock
        holder.wait()
    manifest, _ = build(root)
    assert manifest["splits"]["main/train"]["rows"] == 2500 and not (root / layout.WORK_DIR).exists()


def test_the_lock_is_refused_within_one_process_too_and_released_by_finish(tmp_path, capsys):
    root = tmp_path / "ds"
    first = writer(root)
    with pytest.raises(UsageError, match=f"pid {os.getpid()}.*cotforge toy build"):
        writer(root)
    finish(first, CountingSource(2500))
    assert not (root / layout.WORK_DIR).exists()
    finish(writer(root), CountingSource(2500))  # free again


def test_a_waiter_never_shares_the_lock_with_a_new_holder(tmp_path):
    """Release unlinks the file; a process that opened the old file must not think it holds the lock."""
    a = FolderLock(tmp_path, "a").acquire()
    stale_fd = os.open(a.path, os.O_RDWR)  # a waiter that opened the file before the release
    a.release()
    b = FolderLock(tmp_path, "b").acquire()
    import fcntl

    fcntl.flock(stale_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # succeeds on the unlinked inode...
    assert os.fstat(stale_fd).st_ino != os.stat(b.path).st_ino  # ...which is why acquire() compares inodes
    os.close(stale_fd)
    with pytest.raises(FolderLockedError, match="pid"):
        FolderLock(tmp_path, "c").acquire()
    b.release()


# ---------------------------------------------------------------------------------------------- unlisted files

def test_unlisted_files_in_data_are_reported_and_moved_aside_never_loaded_or_deleted(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    root = tmp_path / "ds"
    m1, _ = build(root)
    extra = root / "data/main/train-00009-of-00010.parquet"
    shutil.copy(shard_paths(root)[0], extra)
    (root / "data/notes.txt").write_text("mine")
    problems = verify_dataset(root)
    assert problems == [f"data/main/train-00009-of-00010.parquet: not listed in manifest.json (unlisted; the build "
                        f"command moves it aside)", "data/notes.txt: not listed in manifest.json (unlisted; the build "
                        f"command moves it aside)"]
    m2, src = build(root)
    assert src.starts == []  # nothing regenerated
    err = capsys.readouterr().err
    assert "2 file(s) under data/" in err and "train-00009-of-00010.parquet" in err
    moved = list(tmp_path.glob("ds.unlisted-*"))
    assert len(moved) == 1
    assert (moved[0] / "data/notes.txt").read_text() == "mine"
    assert (moved[0] / "data/main/train-00009-of-00010.parquet").read_bytes() == shard_paths(root)[0].read_bytes()
    assert not extra.exists() and verify_dataset(root) == []
    assert m2["content_hash"] == m1["content_hash"] and any("moved to" in n for n in m2["notes"])
    assert datasets.load_dataset(str(root), "main", split="train", cache_dir=str(tmp_path / "c")).num_rows == 2500


# ---------------------------------------------------------------------------------------------- repair

def test_repair_regenerates_only_the_damaged_shard_and_keeps_the_rest(tmp_path):
    root = tmp_path / "ds"
    m1 = finish(writer(root, limits=ShardLimits(max_rows=500)), Tally(2500))
    paths = shard_paths(root)
    assert len(paths) == 5
    paths[1].write_bytes(b"garbage" + paths[1].read_bytes()[7:])
    paths[3].unlink()
    kept = {p: p.stat().st_ino for p in (paths[0], paths[2], paths[4])}
    src = Tally(2500)
    m2 = finish(writer(root, limits=ShardLimits(max_rows=500)), src)
    assert src.starts == [500, 1500] and src.yielded == 1000  # two shards' rows, not everything after shard 1
    assert {p: p.stat().st_ino for p in kept} == kept  # the intact shards were not rewritten or moved
    assert m2["content_hash"] == m1["content_hash"] and verify_dataset(root) == []


def test_a_replacement_that_differs_rebuilds_the_rest_of_its_split(tmp_path):
    root = tmp_path / "ds"
    finish(writer(root), Tally(2500))
    paths = shard_paths(root)
    paths[0].write_bytes(b"x")
    m = finish(writer(root), Tally(2500, salt="!"))  # a source that is not deterministic
    assert m["splits"]["main/train"]["rows"] == 2500 and verify_dataset(root) == []
    texts = [t for p in shard_paths(root) for t in pq.read_table(p).column("text").to_pylist()]
    assert all(t.endswith("!") for t in texts)  # every train shard follows from the new first one


def test_an_interrupted_repair_leaves_a_folder_that_does_not_load_then_finishes(tmp_path):
    datasets = pytest.importorskip("datasets")
    root = tmp_path / "ds"
    m1 = finish(writer(root), CountingSource(2500))
    paths = shard_paths(root)
    paths[1].write_bytes(b"garbage")
    with pytest.raises(KeyboardInterrupt):
        finish(writer(root), CountingSource(2500, crash_at=1500))
    assert (root / layout.CARD).read_text() == STUB_CARD and not (root / layout.MANIFEST).exists()
    assert (root / layout.JOURNAL).exists()
    with pytest.raises(FileNotFoundError, match="BUILD-UNFINISHED"):
        datasets.load_dataset(str(root), "main", split="train", cache_dir=str(tmp_path / "c"))
    assert main(["query", str(root), "SELECT count(*) FROM main_train", "-f", "csv"]) == 0
    m2 = finish(writer(root), CountingSource(2500))
    assert m2["content_hash"] == m1["content_hash"] and (root / layout.CARD).read_text() == card(m2)
    assert not (root / layout.WORK_DIR).exists()


def test_a_damaged_shard_is_named_when_it_is_regenerated(tmp_path, capsys):
    root = tmp_path / "ds"
    m1 = finish(writer(root), CountingSource(2500))
    damaged = shard_paths(root)[1]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    capsys.readouterr()
    m2 = finish(writer(root), CountingSource(2500))
    err = capsys.readouterr().err
    assert f"warning: {damaged}: missing or damaged" in err and err.count("warning:") == 1, err
    assert m2["content_hash"] == m1["content_hash"]


def test_a_deleted_manifest_is_recovered_from_the_shards_and_a_foreign_folder_still_refused(tmp_path, capsys):
    root = tmp_path / "ds"
    m1 = finish(writer(root), CountingSource(2500))
    (root / layout.MANIFEST).unlink()
    src = CountingSource(2500)
    m2 = finish(writer(root), src)
    assert src.starts == [] and m2["content_hash"] == m1["content_hash"]
    assert "manifest.json is missing; recovered 2 split(s)" in capsys.readouterr().err
    assert (root / layout.CARD).read_text() == card(m2) and not (root / layout.WORK_DIR).exists()
    # shards of another build (or none that name this one) are not ours: refused, nothing touched
    (root / layout.MANIFEST).unlink()
    before = sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file())
    with pytest.raises(UsageError, match="holds no cotforge dataset"):
        DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"n": 7}, seeds={},
                      command="cotforge toy build", limits=ShardLimits(max_rows=1000))
    assert sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file()) == before


def test_a_truncated_or_non_object_manifest_is_recovered_from_the_shards(tmp_path, capsys):
    root = tmp_path / "ds"
    m1 = finish(writer(root), CountingSource(2500))
    for broken in (json.dumps(m1)[:100], "[]", ""):
        (root / layout.MANIFEST).write_text(broken)
        src = CountingSource(2500)
        m2 = finish(writer(root), src)
        assert src.starts == [] and m2["content_hash"] == m1["content_hash"], broken
        assert "recovered 2 split(s)" in capsys.readouterr().err
    # a shard damaged as well is not trusted: that split is rebuilt, the other one kept
    (root / layout.MANIFEST).write_text("{")
    shard_paths_train = sorted((root / "data/main").glob("train-*"))
    data = bytearray(shard_paths_train[1].read_bytes())
    data[len(data) // 3] ^= 0xFF
    shard_paths_train[1].write_bytes(bytes(data))
    src = CountingSource(2500)
    m3 = finish(writer(root), src)
    assert src.starts == [0] and m3["content_hash"] == m1["content_hash"]


def test_a_manifest_of_another_shape_is_one_line_for_every_reader(tmp_path, capsys):
    root = tmp_path / "ds"
    build(root)
    (root / layout.MANIFEST).write_text("[]")
    with pytest.raises(UsageError, match="manifest.json: malformed manifest: a JSON list"):
        verify_dataset(root)
    with pytest.raises(UsageError, match="different build|unreadable|malformed"):
        DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"other": 1}, seeds={}, command="t")


# ---------------------------------------------------------------------------------------------- resume

def test_resume_gives_the_source_lazy_shards_that_read_one_column(tmp_path):
    root = tmp_path / "ds"
    seen = []

    class KeyOnly(CountingSource):
        def rows(self, start=0, done=()):
            for table in done:
                seen.append(table)
                assert table.num_rows == 1000 and "idx" in table.column_names
                assert table.column("idx").to_pylist()[:2] in ([0, 1], [1000, 1001])
            yield from super().rows(start, ())

    with pytest.raises(KeyboardInterrupt):
        build(root, crash_at=2100)
    w = writer(root)
    w.write_split("main", "train", KeyOnly(2500))
    assert len(seen) == 2 and all(isinstance(t, KeptShard) and t._table is None for t in seen)

    class Declared(CountingSource):
        resume_columns = ("idx",)

        def rows(self, start=0, done=()):
            tables = list(done)
            seen.append(tables)
            yield from super().rows(start, ())

    shutil.rmtree(root)
    with pytest.raises(KeyboardInterrupt):
        build(root, crash_at=1100)
    writer(root).write_split("main", "train", Declared(2500))
    assert [t.column_names for t in seen[-1]] == [["idx"]]


def test_a_writer_dropped_before_committing_leaves_no_trace_and_no_lock(tmp_path):
    import gc

    root = tmp_path / "ds"
    w = writer(root)
    assert (root / ".cotforge/lock").exists()
    del w
    gc.collect()
    assert not root.exists()
    finish(writer(root), CountingSource(2500))  # nobody holds the folder


def test_a_damaged_journal_of_an_interrupted_build_is_recovered_from_its_finished_splits(tmp_path, capsys):
    root = tmp_path / "ds"
    w = writer(root)
    w.write_split("main", "train", CountingSource(2500))  # finished split, in data/
    with pytest.raises(KeyboardInterrupt):
        w.write_split("main", "test", CountingSource(10, crash_at=5))
    (root / layout.JOURNAL).write_text('{"build_')
    train, test = CountingSource(2500), CountingSource(10)
    m = finish(writer(root), train, test)
    assert train.starts == [] and test.starts == [0]  # the finished split is kept, the other rebuilt
    assert "unreadable journal; recovered 1 split(s)" in capsys.readouterr().err
    assert m["content_hash"] == finish(writer(tmp_path / "clean"), CountingSource(2500))["content_hash"]


def test_overwrite_replaces_the_old_build_but_moves_files_it_did_not_list_aside(tmp_path, capsys):
    root = tmp_path / "ds"
    build(root)
    (root / "data/main/mine.parquet").write_bytes(b"user data")
    m, _ = build(root, n=30, config={"n": 30}, overwrite=True)
    assert m["splits"]["main/train"]["rows"] == 30
    assert sorted(p.name for p in (root / "data/main").iterdir()) == ["test-00000-of-00001.parquet",
                                                                      "train-00000-of-00001.parquet"]
    (aside,) = tmp_path.glob("ds.unlisted-*")
    assert (aside / "data/main/mine.parquet").read_bytes() == b"user data"
    assert verify_dataset(root) == []


def test_a_refused_second_writer_leaves_the_running_build_alone(tmp_path):
    """The issue's race: the second run's clean-up deleted the first one's work. Now it cannot start."""
    root = tmp_path / "ds"
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_store import CountingSource\n"
        "from test_store_safety import writer, finish\n"
        "class Pausing(CountingSource):\n"
        "    def rows(self, start=0, done=()):\n"
        "        for row in super().rows(start, done):\n"
        "            if row['idx'] == 1500:\n"
        "                print('mid', flush=True); sys.stdin.readline()\n"
        "            yield row\n"
        "m = finish(writer(sys.argv[1]), Pausing(2500))\n"
        "print(m['splits']['main/train']['rows'], flush=True)\n"
    )
    first = subprocess.Popen([sys.executable, "-c", script, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert first.stdout.readline().strip() == "mid"
        before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert ".cotforge/journal.json" in before
        second = CountingSource(2500)
        with pytest.raises(FolderLockedError, match=f"pid {first.pid}"):
            finish(writer(root), second)
        assert second.starts == []  # its source (a teacher, say) was never called
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == before
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "2500"
    finally:
        first.kill()
        first.wait()
    assert verify_dataset(root) == [] and not (root / layout.WORK_DIR).exists()
