"""DPO pairs from verified rollouts: strategies, caps, dedup, margins, TRL format, several inputs."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cotforge.datagen.pairs import PairsConfig, build_pairs
from cotforge.errors import UsageError
from cotforge.records import MESSAGES

PROMPT = [{"role": "user", "content": "Solve it."}]


def rollout(pid, rid, status, tokens, text=None, finish="stop", model="m1", index=0):
    return {"id": rid, "prompt_id": pid, "prompt": PROMPT, "completion": text if text is not None else f"{rid} " + "x" * tokens,
            "status": status, "finish_reason": finish, "completion_tokens": tokens, "model": model, "score": float(status == "correct"),
            "domain": "math", "answer": "42", "verifier": "math", "verifier_version": "1", "prompt_index": index}


SCHEMA = pa.schema([("id", pa.string()), ("prompt_id", pa.string()), ("prompt", MESSAGES), ("completion", pa.string()),
                    ("status", pa.string()), ("finish_reason", pa.string()), ("completion_tokens", pa.int32()),
                    ("model", pa.string()), ("score", pa.float64()), ("domain", pa.string()), ("answer", pa.string()),
                    ("verifier", pa.string()), ("verifier_version", pa.string()), ("prompt_index", pa.int64())])


def rollouts(path):
    rows = [
        rollout("p1", "c1", "correct", 10, text="short right"),
        rollout("p1", "c2", "correct", 30),
        rollout("p1", "c3", "correct", 10, text="short right"),  # same text as c1: one candidate
        rollout("p1", "w1", "incorrect", 50),
        rollout("p1", "w2", "incorrect", 20),
        rollout("p1", "n1", "no_answer", 5),
        rollout("p1", "e1", "error", 0, text="", finish="error"),
        rollout("p1", "t1", "correct", 60, finish="length"),  # cannot be chosen: it never finished
        rollout("p2", "c4", "correct", 12, index=1),
        rollout("p3", "w3", "incorrect", 12, index=2),
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    return path


def pairs_of(root):
    files = sorted((root / "data" / "default").glob("train-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def ids(root):
    return [(p["chosen_id"], p["rejected_id"]) for p in pairs_of(root)]


def test_shortest_longest_with_cap_and_reuse(tmp_path):
    src = rollouts(tmp_path / "r.parquet")
    m = build_pairs([src], tmp_path / "a", PairsConfig(strategy="shortest_longest", max_per_prompt=1))
    assert ids(tmp_path / "a") == [("c1", "w1")]
    build_pairs([src], tmp_path / "b", PairsConfig(strategy="shortest_longest", max_per_prompt=3))
    assert ids(tmp_path / "b") == [("c1", "w1"), ("c2", "w2"), ("c1", "w2")]  # disjoint pairs first, then reuse
    build_pairs([src], tmp_path / "c", PairsConfig(strategy="shortest_longest", max_per_prompt=3, reuse=False))
    assert ids(tmp_path / "c") == [("c1", "w1"), ("c2", "w2")]
    s = m["stats"]
    assert (s["pairs"], s["prompts"], s["prompts_with_pairs"], s["prompts_without_correct"], s["prompts_without_rejected"]) == (1, 3, 1, 1, 1)
    assert s["length_units"] == {"tokens": 1} and s["lengths"]["tokens"]["mean_margin"] == 40
    assert s["lengths"]["tokens"]["share_chosen_shorter"] == 1.0


def test_margin_min_margin_and_random(tmp_path):
    src = rollouts(tmp_path / "r.parquet")
    build_pairs([src], tmp_path / "m", PairsConfig(strategy="margin", max_per_prompt=2))
    assert ids(tmp_path / "m") == [("c1", "w1"), ("c2", "w2")]  # |10-50| = 40 first; then the best disjoint pair
    m = build_pairs([src], tmp_path / "mm", PairsConfig(strategy="margin", max_per_prompt=4, min_margin=25))
    assert ids(tmp_path / "mm") == [("c1", "w1")] and m["stats"]["combinations_below_margin"] == 3

    a = build_pairs([src], tmp_path / "r1", PairsConfig(strategy="random", max_per_prompt=4, seed=1))
    b = build_pairs([src], tmp_path / "r2", PairsConfig(strategy="random", max_per_prompt=4, seed=1))
    assert a["content_hash"] == b["content_hash"] and sorted(ids(tmp_path / "r1")) == sorted(
        [("c1", "w1"), ("c1", "w2"), ("c2", "w1"), ("c2", "w2")])


def test_rejected_statuses_and_trl_format(tmp_path):
    src = rollouts(tmp_path / "r.parquet")
    m = build_pairs([src], tmp_path / "out", PairsConfig(strategy="shortest_longest", max_per_prompt=10,
                                                          rejected_statuses=("incorrect", "no_answer")))
    rows = pairs_of(tmp_path / "out")
    assert len(rows) == 6 and {r["rejected_id"] for r in rows} == {"w1", "w2", "n1"}
    assert len({r["id"] for r in rows}) == 6  # no pair repeats
    r = rows[0]
    assert r["prompt"] == PROMPT
    assert r["chosen"] == [{"role": "assistant", "content": "short right"}]
    assert r["rejected"][0]["role"] == "assistant" and r["rejected"][0]["content"].startswith("w1 ")
    assert r["length_margin"] == r["rejected_tokens"] - r["chosen_tokens"] == 40
    assert (r["chosen_status"], r["rejected_status"], r["chosen_model"], r["verifier"]) == ("correct", "incorrect", "m1", "math")
    assert m["stats"]["rejected_statuses"] == {"incorrect": 4, "no_answer": 2}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**6 pairs**" in card and "| mean margin | 5.0 |" in card and "config_name: default" in card
    assert f'load_dataset("{tmp_path / "out"}", split="train")' in card and "cotforge-pairs\"" not in card

    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert set(ds.column_names) >= {"prompt", "chosen", "rejected"} and ds[0]["chosen"][0]["role"] == "assistant"


def test_several_inputs_and_a_distill_dataset(tmp_path):
    """Chosen from one run, rejected from another: rows are joined by prompt id across inputs."""
    from cotforge.datagen.backends.base import Completion
    from cotforge.datagen.distill import DistillConfig, distill
    from cotforge.datagen.inputs import Problem

    gold = "(1) Ann is a knight\n(2) Bob is a knave"
    problems = [Problem(0, "Ann and Bob: who is who?", gold, "kk"), Problem(1, "Ann and Bob again?", gold, "kk")]

    class Fixed:
        name = "fixed"

        def __init__(self, model, text):
            self.model, self.text = model, text

        def generate(self, requests, params):
            return [[Completion(self.text + f" ({j})", None, 5, 7 + j, "stop", None, j) for j in range(params.n)] for _ in requests]

        def close(self):
            pass

    def cfg(model):
        return DistillConfig(backend="fixed", model=model, sampling={"n": 2}, template={"system": None, "user": "{problem}"},
                             keep="all")

    distill(problems, tmp_path / "strong", cfg("strong"), generator=Fixed("strong", f"<answer>{gold}</answer>"))
    distill(problems, tmp_path / "weak", cfg("weak"), generator=Fixed("weak", "<answer>(1) Ann is a knave\n(2) Bob is a knave</answer>"))
    m = build_pairs([tmp_path / "strong", tmp_path / "weak"], tmp_path / "pairs", PairsConfig(max_per_prompt=2))
    rows = pairs_of(tmp_path / "pairs")
    assert len(rows) == 4 and {(r["chosen_model"], r["rejected_model"]) for r in rows} == {("strong", "weak")}
    assert rows[0]["prompt"] == [{"role": "user", "content": "Ann and Bob: who is who?"}]
    assert [i["name"] for i in m["inputs"]] == ["cotforge-distill", "cotforge-distill"]

    only_strong = build_pairs([tmp_path / "strong"], tmp_path / "none", PairsConfig())
    assert only_strong["stats"]["pairs"] == 0 and "empty" in only_strong["notes"][0]


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt_id": "p", "completion": "x"}) + "\n")
    with pytest.raises(UsageError, match=r"missing column\(s\) id, prompt, status, finish_reason"):
        build_pairs([bad], tmp_path / "out")
    with pytest.raises(UsageError, match="--strategy 'best'"):
        build_pairs([bad], tmp_path / "out", PairsConfig(strategy="best"))
    with pytest.raises(UsageError, match="--rejected-status 'correct'"):
        build_pairs([bad], tmp_path / "out", PairsConfig(rejected_statuses=("correct",)))
    with pytest.raises(UsageError, match="expected a distill dataset folder"):
        build_pairs([tmp_path / "nowhere"], tmp_path / "out")


def run_cli(args):
    from cotforge import cli

    if "pairs" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    return cli.main(args)


def test_jsonl_rollouts_and_cli(tmp_path, capsys):
    rows = [rollout("p1", "c1", "correct", 3), rollout("p1", "w1", "incorrect", 9)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_cli(["pairs", "--input", str(path), "--out", str(tmp_path / "out"), "--strategy", "margin"]) == 0
    assert "wrote 1 pairs from 1 of 1 prompts" in capsys.readouterr().out
    assert ids(tmp_path / "out") == [("c1", "w1")]
    assert run_cli(["pairs", "--input", str(path), "--out", str(tmp_path / "x"), "--max-per-prompt", "0"]) == 2


def test_out_may_not_be_or_hold_an_input(tmp_path, capsys):
    """`pairs --input dt --out dt --overwrite` used to delete the rollouts it was reading."""
    src = rollouts(tmp_path / "r.parquet")
    build_pairs([src], tmp_path / "dt", PairsConfig())
    before = sorted(p.read_bytes() for p in (tmp_path / "dt").rglob("*") if p.is_file())
    for out in ("dt", "dt/sub"):
        assert run_cli(["pairs", "--input", str(tmp_path / "dt"), "--out", str(tmp_path / out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'dt'}: is --input {tmp_path / 'dt'}" in err and "lies inside --input" in err
    assert sorted(p.read_bytes() for p in (tmp_path / "dt").rglob("*") if p.is_file()) == before  # input untouched
    with pytest.raises(UsageError, match=r"contains --input .*r.parquet; write the new dataset to a separate folder"):
        build_pairs([src], tmp_path, PairsConfig(), overwrite=True)
    assert src.is_file()


def test_one_length_unit_per_pair(tmp_path):
    """A chosen side without token counts (a replayed teacher) is never compared with a rejected
    side in tokens: such pairs are measured in characters on both sides, and the stats keep units apart."""
    rows = [
        rollout("p1", "c1", "correct", -1, text="a" * 100),  # no token count
        rollout("p1", "w1", "incorrect", 40, text="b" * 300),  # 40 tokens, 300 characters
        rollout("p2", "c2", "correct", 10, text="c" * 50, index=1),
        rollout("p2", "w2", "incorrect", 25, text="d" * 90, index=1),
    ]
    src = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), src)
    m = build_pairs([src], tmp_path / "out", PairsConfig())
    got = {r["chosen_id"]: (r["chosen_tokens"], r["rejected_tokens"], r["length_margin"]) for r in pairs_of(tmp_path / "out")}
    assert got == {"c1": (-1, 40, 200), "c2": (10, 25, 15)}  # 300 - 100 characters, not 40 - 100
    s = m["stats"]
    assert s["length_units"] == {"tokens": 1, "characters": 1}
    assert (s["lengths"]["characters"]["mean_chosen"], s["lengths"]["characters"]["mean_rejected"]) == (100, 300)
    assert (s["lengths"]["tokens"]["mean_chosen"], s["lengths"]["tokens"]["mean_margin"]) == (10, 15)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| | tokens | characters |" in card and "| mean margin | 15.0 | 200.0 |" in card
    assert "Mean length in characters (1 pairs: a side had no token count): chosen 100.0, rejected 300.0" in card

    # the margin filter works in the pair's unit too: 200 characters pass, 15 tokens do not
    build_pairs([src], tmp_path / "mm", PairsConfig(min_margin=100))
    assert ids(tmp_path / "mm") == [("c1", "w1")]


def test_prompts_without_usable_completions_are_counted_one_by_one(tmp_path, capsys):
    rows = [rollout("p1", "c1", "correct", 3), rollout("p1", "w1", "incorrect", 9),
            rollout("p2", "e2", "error", 0, text="", finish="error", index=1),
            rollout("p3", "e3", "error", 0, text="", finish="error", index=2)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = build_pairs([path], tmp_path / "out", PairsConfig())
    s = m["stats"]
    assert (s["prompts"], s["prompts_with_pairs"], s["prompts_without_either"]) == (3, 1, 2)
    assert run_cli(["pairs", "--input", str(path), "--out", str(tmp_path / "cli")]) == 0
    assert "wrote 1 pairs from 1 of 3 prompts" in capsys.readouterr().out
    card = (tmp_path / "cli" / "README.md").read_text()
    header = card.index("| pairs |") if "| pairs |" in card else -1
    table_start = card.rindex("\n|", 0, header)
    table = card[card.rindex("\n\n", 0, table_start) + 2 : header]
    assert "\n\n" not in table.strip("\n") and "|---|" in table  # header and separator rows stay together

    # nothing usable: no pairs is an error with the reason, not a silent exit 0
    assert run_cli(["pairs", "--input", str(path), "--out", str(tmp_path / "none"), "--rejected-status", "truncated"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no pairs: of 3 prompts") and "none with status 'truncated'" in err


def test_non_distill_dataset_input_is_named(tmp_path, capsys):
    src = rollouts(tmp_path / "r.parquet")
    build_pairs([src], tmp_path / "pairs", PairsConfig())  # a cotforge dataset, but with a `default` config only
    assert run_cli(["pairs", "--input", str(tmp_path / "pairs"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--input {tmp_path / 'pairs'}: not a distill dataset (no `all` config)") and "--config" not in err
