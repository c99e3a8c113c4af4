"""``cotforge kk build`` end to end: layout, card, load_dataset, determinism, disjointness, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main
from cotforge.datagen.kk.build import KKBuildConfig, build_kk
from cotforge.store.dataset import verify_dataset
from cotforge.store.shards import ShardLimits

SMALL = ["--people", "3-4", "--train", "40", "--test", "12", "--no-progress"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("kk") / "ds"
    assert main(["kk", "build", "--out", str(out), *SMALL, "--perturb", "leaf", "--perturb", "flip_role"]) == 0
    return out


def _rows(out: Path, config: str, split: str) -> list[dict]:
    files = sorted((out / "data" / config).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_layout_manifest_and_card(small):
    manifest = json.loads((small / "manifest.json").read_text())
    assert set(manifest["splits"]) == {
        "3ppl/test", "3ppl/train", "4ppl/test", "4ppl/train",
        "3ppl_perturbed_leaf/test", "3ppl_perturbed_flip_role/test",
        "4ppl_perturbed_leaf/test", "4ppl_perturbed_flip_role/test",
    }
    assert manifest["splits"]["4ppl/train"]["rows"] == 40
    assert manifest["build_config"]["people"] == [3, 4] and manifest["seeds"] == {"seed": 0}
    shard = manifest["splits"]["3ppl/test"]["shards"][0]
    assert shard["path"] == "data/3ppl/test-00000-of-00001.parquet" and len(shard["sha256"]) == 64
    card = (small / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: 4ppl" in card and "path: data/4ppl/train-*.parquet" in card
    assert manifest["content_hash"] in card
    # the card names no local path: the rebuild command writes OUT, the load snippet PATH
    assert str(small) not in card and "cotforge kk build --out OUT --people 3-4 --train 40 --test 12" in card
    assert 'load_dataset("PATH", "3ppl", split="test")' in card
    assert "On Memorization of Large Language Models in Logical Reasoning" in card
    assert "| 4ppl | train | 40 | 1 |" in card
    assert not (small / ".cotforge").exists()
    assert verify_dataset(small) == []


def test_rows_are_unique_disjoint_and_solved(small):
    from cotforge.datagen.kk.solver import solutions
    from cotforge.datagen.kk.statements import parse_statements

    for n in (3, 4):
        test, train = _rows(small, f"{n}ppl", "test"), _rows(small, f"{n}ppl", "train")
        keys_test, keys_train = {r["logic_key"] for r in test}, {r["logic_key"] for r in train}
        assert len(keys_test) == 12 and len(keys_train) == 40
        assert not keys_test & keys_train
        for r in test + train:
            assert r["n_people"] == n and len(r["names"]) == n
            assert solutions(parse_statements(r["statements"])) == [tuple(r["solution"])]
            assert r["answer"] == r["solution_text_format"]
        assert [r["index"] for r in train] == list(range(40))


def test_perturbed_tests_point_at_their_originals(small):
    originals = {r["id"]: r for r in _rows(small, "3ppl", "test")}
    leaf = _rows(small, "3ppl_perturbed_leaf", "test")
    assert 6 <= len(leaf) <= 12
    notes = json.loads((small / "manifest.json").read_text())["notes"]
    if len(leaf) < 12:  # puzzles with no leaf perturbation are left out, and the card says how many
        assert any(n.startswith(f"3ppl_perturbed_leaf/test: {12 - len(leaf)} of 12") for n in notes)
    assert len(_rows(small, "3ppl_perturbed_flip_role", "test")) == 12
    for r in leaf:
        assert r["perturbation"] == "leaf" and r["perturbed_from"] in originals
        assert r["solution"] != originals[r["perturbed_from"]]["solution"]


def test_load_dataset_offline(small):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(str(small), "4ppl", split="test")
    assert ds.num_rows == 12 and ds[0]["prompt"][0]["role"] in ("system", "user")
    streamed = datasets.load_dataset(str(small), "4ppl", streaming=True)
    assert sum(1 for _ in streamed["train"]) == 40


def test_same_seed_same_bytes_other_seed_no_overlap(small, tmp_path):
    again = tmp_path / "again"
    assert main(["kk", "build", "--out", str(again), *SMALL, "--perturb", "leaf", "--perturb", "flip_role"]) == 0
    m1 = json.loads((small / "manifest.json").read_text())
    m2 = json.loads((again / "manifest.json").read_text())
    assert m1["content_hash"] == m2["content_hash"]
    f = "data/4ppl/train-00000-of-00001.parquet"
    assert (small / f).read_bytes() == (again / f).read_bytes()
    other = tmp_path / "seed1"
    assert main(["kk", "build", "--out", str(other), *SMALL, "--seed", "1"]) == 0
    ids0 = {r["id"] for r in _rows(small, "4ppl", "train")}
    ids1 = {r["id"] for r in _rows(other, "4ppl", "train")}
    assert not ids0 & ids1


def test_resume_after_crash_matches_clean_build(tmp_path):
    cfg = KKBuildConfig(people=(4,), train=90, test=10)
    limits = ShardLimits(max_rows=20)
    clean = build_kk(tmp_path / "clean", cfg, limits=limits)

    class Crash(Exception):
        pass

    def crash_after(label, total):
        seen = [0]

        def tick(n):
            seen[0] += n
            if label.endswith("train") and seen[0] >= 50:
                raise Crash

        return tick

    with pytest.raises(Crash):
        build_kk(tmp_path / "ds", cfg, limits=limits, progress=crash_after)
    journal = json.loads((tmp_path / "ds/.cotforge/journal.json").read_text())
    assert sum(s["rows"] for s in journal["splits"]["4ppl/train"]["shards"]) >= 40
    resumed = build_kk(tmp_path / "ds", cfg, limits=limits)
    assert resumed["content_hash"] == clean["content_hash"]


def test_impossible_request_fails_fast_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["kk", "build", "--out", str(out), "--people", "2", "--train", "1000", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only" in err and "distinct" in err and "1100" in err
    assert not out.exists()


def test_default_layout_clips_small_sizes_and_says_so(tmp_path, capsys):
    out = tmp_path / "two"
    assert main(["kk", "build", "--out", str(out), "--people", "2", "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    train, test = manifest["splits"]["2ppl/train"]["rows"], manifest["splits"]["2ppl/test"]["rows"]
    assert 30 < train + test < 60 and test >= 1
    assert manifest["notes"] and "distinct" in manifest["notes"][0]
    assert manifest["notes"][0] in (out / "README.md").read_text()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--people", "1"], "--people"),
        (["--people", "2-x"], "--people"),
        (["--people", "21"], "--people"),
        (["--train", "-1"], "--train"),
        (["--depth", "0"], "--depth"),
        (["--width", "1"], "--width"),
        (["--perturb", "sideways"], "--perturb"),
        (["--shortage", "maybe"], "--shortage"),
    ],
)
def test_invalid_options_are_one_line_exit_2(tmp_path, capsys, args, fragment):
    out = tmp_path / "bad"
    assert main(["kk", "build", "--out", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_different_build_refused_unless_overwrite(small, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "5", "--test", "2", "--no-progress"]) == 0
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "6", "--test", "2", "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "6", "--test", "2",
                 "--no-progress", "--overwrite"]) == 0
    assert json.loads((out / "manifest.json").read_text())["splits"]["3ppl/train"]["rows"] == 6
