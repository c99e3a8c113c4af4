"""What a K&K build promises about its inputs: which options move which rows, --exclude, seeds,
impossible requests, and the CLI's edges (bad --out, Ctrl-C, crowded sizes, check on folders)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main


def rows(out: Path, config: str, split: str) -> list[dict]:
    files = sorted((out / "data" / config).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def build(out: Path, *args: str) -> int:
    return main(["kk", "build", "--out", str(out), "--no-progress", *args])


def test_train_size_leaves_test_alone_and_a_larger_train_extends_a_smaller(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert build(a, "--people", "3", "--train", "30", "--test", "10") == 0
    assert build(b, "--people", "3", "--train", "50", "--test", "10") == 0
    assert rows(a, "3ppl", "test") == rows(b, "3ppl", "test")
    assert rows(b, "3ppl", "train")[:30] == rows(a, "3ppl", "train")
    card = (a / "README.md").read_text()
    assert "changing `--train` leaves test as it is" in card and "changing `--test` changes\nsome train rows" in card
    assert "A larger `--train` starts with the rows of a smaller one" in card


def test_seeds_share_no_text_but_do_share_logic_at_small_sizes(tmp_path):
    a, b = tmp_path / "s0", tmp_path / "s1"
    assert build(a, "--people", "3", "--train", "300", "--test", "10") == 0
    assert build(b, "--people", "3", "--train", "300", "--test", "10", "--seed", "1") == 0
    ra, rb = rows(a, "3ppl", "train"), rows(b, "3ppl", "train")
    assert not {r["id"] for r in ra} & {r["id"] for r in rb}
    assert not {r["quiz"] for r in ra} & {r["quiz"] for r in rb}
    assert {r["logic_key"] for r in ra} & {r["logic_key"] for r in rb}  # what the card warns about
    assert "They are not\ndisjoint by logic" in (a / "README.md").read_text()


def test_exclude_builds_a_train_set_disjoint_from_an_eval_set(tmp_path):
    from cotforge.datagen.kk.count import identity_keys

    evalset = tmp_path / "eval"
    assert build(evalset, "--people", "3", "--train", "0", "--test", "40") == 0
    eval_keys = {r["logic_key"] for r in rows(evalset, "3ppl", "test")}
    out = tmp_path / "train"
    assert build(out, "--people", "3", "--train", "200", "--test", "20", "--seed", "1",
                 "--perturb", "leaf", "--exclude", str(evalset)) == 0
    for config, split in (("3ppl", "train"), ("3ppl", "test"), ("3ppl_perturbed_leaf", "test")):
        got = {r["logic_key"] for r in rows(out, config, split)}
        assert got and not got & eval_keys, (config, split)
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["build_config"]["exclude_record"]
    assert record["logic_keys"] == 40 and record["files"] == 1
    card = (out / "README.md").read_text()
    assert "any of the 40 puzzles of the 1 dataset(s) passed to `--exclude`" in card
    assert "--exclude EXCLUDE_1" in card and str(evalset) not in card
    # the exclusion is identified by its keys, not its path: a copy elsewhere is the same build
    moved = tmp_path / "moved" / "eval"
    shutil.copytree(evalset, moved)
    again = tmp_path / "again"
    assert build(again, "--people", "3", "--train", "200", "--test", "20", "--seed", "1",
                 "--perturb", "leaf", "--exclude", str(moved)) == 0
    assert json.loads((again / "manifest.json").read_text())["content_hash"] == manifest["content_hash"]
    assert (again / "README.md").read_bytes() == (out / "README.md").read_bytes()
    # public-format files work too, and the shortage count accounts for the excluded keys
    assert len(identity_keys(3, 2, 2, False)) == 2430
    capped = tmp_path / "capped"
    assert build(capped, "--people", "3", "--train", "2380", "--test", "20", "--exclude", str(evalset)) == 2
    assert not capped.exists()


def test_exclude_public_files(tmp_path):
    public = Path("/work/shared/data/kk/3ppl/test.parquet")
    if not public.is_file():
        pytest.skip("public K&K data not present")
    from cotforge.datagen.kk.files import row_logic_key

    keys = {row_logic_key(public, i, r) for i, r in enumerate(pq.read_table(public).to_pylist())}
    out = tmp_path / "ds"
    assert build(out, "--people", "3", "--train", "300", "--test", "20", "--exclude", str(public.parent)) == 0
    assert not {r["logic_key"] for r in rows(out, "3ppl", "train")} & keys


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--people", "3", "--depth", "1"], "only 0 distinct"),
        (["--people", "3", "--depth", "1", "--shortage", "clip"], "only 0 distinct"),
        (["--people", "3", "--train", "0", "--test", "0"], "nothing to build"),
        (["--people", "3", "--train", "5", "--test", "0", "--perturb", "leaf"], "--perturb with --test 0"),
        (["--people", "3", "--perturb-train"], "--perturb-train"),
        (["--people", "3", "--combined", "3-5"], "--combined"),
        (["--people", "3", "--dedup", "words"], "--dedup"),
        (["--people", "3", "--style", "fancy"], "--style"),
        (["--people", "3", "--exclude", "/nonexistent/kk"], "--exclude"),
    ],
)
def test_impossible_requests_fail_before_writing(tmp_path, capsys, args, fragment):
    out = tmp_path / "x"
    assert build(out, *args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_out_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert build(blocker / "ds", "--people", "3", "--train", "3", "--test", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "which is a file" in err and str(blocker) in err
    assert build(blocker, "--people", "3", "--train", "3", "--test", "1") == 2
    assert "is a file" in capsys.readouterr().err


def test_ctrl_c_says_a_rerun_resumes_and_it_does(tmp_path, capsys, monkeypatch):
    from cotforge.datagen.kk import build as kkbuild

    args = ["--people", "3", "--train", "20", "--test", "5", "--perturb", "leaf"]
    clean = tmp_path / "clean"
    assert build(clean, *args) == 0

    def interrupted(self, start=0, done=()):
        raise KeyboardInterrupt
        yield  # pragma: no cover

    out = tmp_path / "ds"
    monkeypatch.setattr(kkbuild.PerturbedSource, "rows", interrupted)
    assert build(out, *args) == 130
    err = capsys.readouterr().err
    assert "rerun the same command to resume" in err and err.count("\n") == 1
    monkeypatch.undo()
    assert build(out, *args) == 0
    a = json.loads((clean / "manifest.json").read_text())["content_hash"]
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == a


def test_crowded_size_warns_before_building(tmp_path, capsys):
    assert build(tmp_path / "two", "--people", "2", "--train", "30", "--test", "5") == 0
    err = capsys.readouterr().err
    assert "warning: 2ppl: asks for 35 of the 41 distinct puzzles (85%)" in err
    assert build(tmp_path / "roomy", "--people", "3", "--train", "30", "--test", "5") == 0
    assert "warning" not in capsys.readouterr().err


def test_clip_shrinks_both_splits_and_says_so(tmp_path):
    out = tmp_path / "two"
    assert build(out, "--people", "2") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    note = manifest["notes"][0]
    train, test = manifest["splits"]["2ppl/train"]["rows"], manifest["splits"]["2ppl/test"]["rows"]
    assert train + test == 41 and test < 100
    assert f"train {train} / test {test} instead of the 1000 / 100 asked (--shortage clip shrinks both splits in proportion)" in note


def test_text_dedup_gives_the_public_two_person_sizes(tmp_path):
    out = tmp_path / "two"
    assert build(out, "--people", "2", "--dedup", "text") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["2ppl/train"]["rows"] == 200 and manifest["splits"]["2ppl/test"]["rows"] == 100
    card = (out / "README.md").read_text()
    assert "--people 2 --seed 0" in card and "--dedup text" in card  # the defaults rebuild the defaults


def test_check_accepts_dataset_folders_and_folders_of_files(tmp_path, capsys):
    out = tmp_path / "ds"
    assert build(out, "--people", "3", "--train", "6", "--test", "2") == 0
    capsys.readouterr()
    assert main(["kk", "check", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("agree with gold" in line for line in lines)
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(next((out / "data/3ppl").glob("train-*.parquet")), loose / "a.parquet")
    assert main(["kk", "check", str(loose)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["kk", "check", str(empty)]) == 2
    assert "holds no K&K data" in capsys.readouterr().err


def test_readers_of_a_dataset_folder_name_a_damaged_shard_and_the_rebuild_command(tmp_path, capsys):
    # check, export and distill's input reader go through the manifest's hashes, never a traceback
    out = tmp_path / "ds"
    assert build(out, "--people", "3", "--train", "6", "--test", "2") == 0
    shard = next((out / "data/3ppl").glob("train-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0xFF
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    said = f"{shard}: damaged (its size or SHA-256 is not the one in manifest.json); rerun the command that built the folder to repair it: cotforge kk build"
    assert main(["kk", "check", str(out)]) == 2
    assert said in capsys.readouterr().err
    assert main(["kk", "export", str(out), "--format", "verl", "--out", str(tmp_path / "ex")]) == 2
    assert said in capsys.readouterr().err
    from cotforge.datagen.inputs import open_input
    from cotforge.errors import UsageError

    with pytest.raises(UsageError, match="damaged"):
        open_input(str(out), config="3ppl", split="train")
    shard.unlink()
    assert main(["kk", "check", str(out)]) == 2
    assert f"{shard}: missing" in capsys.readouterr().err
