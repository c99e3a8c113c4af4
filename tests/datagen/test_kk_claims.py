"""Every statement the K&K card makes, checked against the data of a build (logic keys recomputed
from the statements, never read from the rows' own column)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main
from cotforge.datagen.kk.files import row_logic_key
from cotforge.datagen.kk.solver import solutions
from cotforge.datagen.kk.statements import parse_statements

ARGS = ["--people", "3-4", "--train", "60", "--test", "20", "--no-progress",
        "--perturb", "leaf", "--perturb", "statement", "--perturb", "flip_role", "--perturb", "role_pair",
        "--perturb-train"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("claims") / "ds"
    assert main(["kk", "build", "--out", str(out), *ARGS]) == 0
    return out


def rows(out: Path, config: str, split: str) -> list[dict]:
    files = sorted((out / "data" / config).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def keys(rs: list[dict]) -> list[str]:
    return [row_logic_key(Path("?"), i, r) for i, r in enumerate(rs)]


def test_every_puzzle_has_exactly_one_solution_the_gold_one(built):
    manifest = json.loads((built / "manifest.json").read_text())
    for key in manifest["splits"]:
        for r in rows(built, *key.split("/")):
            assert solutions(parse_statements(r["statements"])) == [tuple(r["solution"])], key


def test_original_configs_are_deduplicated_and_disjoint_by_logic(built):
    card = (built / "README.md").read_text()
    assert "no two puzzles share the same logic up to renaming" in card and "disjoint by logic" in card
    for n in (3, 4):
        test, train = keys(rows(built, f"{n}ppl", "test")), keys(rows(built, f"{n}ppl", "train"))
        assert len(set(test)) == len(test) == 20 and len(set(train)) == len(train) == 60
        assert not set(test) & set(train)
        assert [r["logic_key"] for r in rows(built, f"{n}ppl", "train")] == train  # the column is right too


def test_logical_perturbations_have_new_logic(built):
    card = (built / "README.md").read_text()
    assert "a logic that differs from its original's and from every puzzle of `<n>ppl` (train and test)" in card
    for n in (3, 4):
        originals = {r["id"]: r for split in ("test", "train") for r in rows(built, f"{n}ppl", split)}
        original_keys = set(keys(list(originals.values())))
        seen: set[str] = set()
        for kind in ("leaf", "statement"):
            for split in ("test", "train"):
                perturbed = rows(built, f"{n}ppl_perturbed_{kind}", split)
                assert perturbed, (n, kind, split)
                for r, k in zip(perturbed, keys(perturbed)):
                    source = originals[r["perturbed_from"]]
                    assert k != row_logic_key(Path("?"), 0, source)
                    assert r["solution"] != source["solution"]
                    assert k not in original_keys and k not in seen
                    seen.add(k)


def test_skipped_perturbations_are_counted_exactly(built):
    manifest = json.loads((built / "manifest.json").read_text())
    card = (built / "README.md").read_text()
    for n in (3, 4):
        for kind in ("leaf", "statement"):
            for split, count in (("test", 20), ("train", 60)):
                got = manifest["splits"][f"{n}ppl_perturbed_{kind}/{split}"]["rows"]
                notes = [x for x in manifest["notes"] if x.startswith(f"{n}ppl_perturbed_{kind}/{split}:")]
                if got == count:
                    assert not notes
                else:
                    assert notes == [f"{n}ppl_perturbed_{kind}/{split}: {count - got} of {count} {split} puzzles admit "
                                     f"no {kind} perturbation with a unique, different solution and new logic, and are left out."]
                    assert notes[0] in card


def test_language_perturbations_keep_their_originals_logic(built):
    card = (built / "README.md").read_text()
    assert "each puzzle keeps its original's\nlogic (the same `logic_key`)" in card
    originals = {r["id"]: r for split in ("test", "train") for r in rows(built, "3ppl", split)}
    for kind in ("flip_role", "role_pair"):
        perturbed = rows(built, f"3ppl_perturbed_{kind}", "test")
        assert len(perturbed) == 20
        for r, k in zip(perturbed, keys(perturbed)):
            assert k == row_logic_key(Path("?"), 0, originals[r["perturbed_from"]])
            assert r["quiz"] != originals[r["perturbed_from"]]["quiz"]


def test_card_warns_about_logic_rl_reward_on_role_pair_sets_and_the_reason_holds(built):
    import re

    from cotforge.verifiers.kk import KKVerifier

    card = (built / "README.md").read_text()
    assert "Logic-RL's reward cannot grade these role words" in card
    v = KKVerifier()
    odd = [r for r in rows(built, "3ppl_perturbed_role_pair", "test") if r["knight_knave"]["knight"] != "knight"]
    assert odd
    for r in odd:
        # Logic-RL's reward finds the gold names by the words knight/knave: these golds have none
        assert not any(re.search(r"\b(knight|knave)\b", line, re.I) for line in r["solution_text_format"].split("\n"))
        wrong = {"names": r["names"], "solution": [not s for s in r["solution"]], "knight_knave": r["knight_knave"]}
        assert not v.verify(wrong, f"<think>x</think><answer>{r['answer']}</answer>").correct
        assert v.verify(r, f"<think>x</think><answer>{r['answer']}</answer>").correct


def test_plain_knight_knave_card_has_no_logic_rl_warning(tmp_path):
    out = tmp_path / "plain"
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "4", "--test", "2", "--no-progress"]) == 0
    assert "Logic-RL's reward cannot grade" not in (out / "README.md").read_text()


def test_identical_data_in_two_folders_gives_identical_cards(built, tmp_path):
    other = tmp_path / "elsewhere" / "copy"
    assert main(["kk", "build", "--out", str(other), *ARGS]) == 0
    card = (built / "README.md").read_bytes()
    assert card == (other / "README.md").read_bytes()
    assert str(built).encode() not in card and str(built.parent).encode() not in card


def test_combined_config_loads_every_size(built):
    datasets = pytest.importorskip("datasets")
    card = (built / "README.md").read_text()
    assert "config_name: 3-4ppl" in card
    mixed = datasets.load_dataset(str(built), "3-4ppl", split="train")
    assert mixed.num_rows == 120 and sorted(set(mixed["n_people"])) == [3, 4]


def test_fidelity_table_compares_crowded_sizes_with_the_grammar(tmp_path):
    out = tmp_path / "crowded"
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "400", "--test", "50", "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    ref = manifest["stats"]["reference/3ppl"]
    train = manifest["stats"]["3ppl/train"]["shape"]
    assert ref["drafts"] == 4000 and train["rows"] == 400
    card = (out / "README.md").read_text()
    assert "Distribution shift from logic dedup" in card
    assert f"| 3ppl | train | 400 / 2,430 | {train['roots']['leaf']:.3f} |" in card
    assert f"| 3ppl | grammar, no dedup | - | {ref['roots']['leaf']:.3f} |" in card
    # recompute the dataset's shares from its rows
    rs = rows(out, "3ppl", "train")
    stmts = [s for r in rs for s in parse_statements(r["statements"])]
    leaf = sum(1 for s in stmts if s[0] in ("telling-truth", "lying")) / len(stmts)
    assert leaf == pytest.approx(train["roots"]["leaf"])
    # text dedup is the grammar's distribution: no comparison table, logic may repeat
    text = tmp_path / "text"
    assert main(["kk", "build", "--out", str(text), "--people", "3", "--train", "400", "--test", "50",
                 "--dedup", "text", "--no-progress"]) == 0
    card = (text / "README.md").read_text()
    assert "Distribution shift" not in card and "--dedup text" in card
    t = json.loads((text / "manifest.json").read_text())["stats"]
    assert t["3ppl/train"]["distinct_logic"] < 400  # 400 puzzles out of 2,430 identities repeat some logic
    test_stmts = {r["statements"] for r in rows(text, "3ppl", "test")}
    train_stmts = [r["statements"] for r in rows(text, "3ppl", "train")]
    assert len(set(train_stmts)) == 400 and not test_stmts & set(train_stmts)


def test_copied_folder_still_verifies(built, tmp_path):
    from cotforge.store.dataset import verify_dataset

    copy = tmp_path / "c"
    shutil.copytree(built, copy)
    assert verify_dataset(copy) == []
