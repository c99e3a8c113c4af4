"""The card statistics' fast paths give exactly what the plain computations give, on real rows;
and the Logic-RL warning names only the role words Logic-RL cannot read."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main
from cotforge.datagen.kk import KKOptions, KKSplitSource
from cotforge.datagen.kk.stats import mean_words, shape, text_shape
from cotforge.datagen.kk.statements import parse_statements
from cotforge.errors import UsageError


@pytest.mark.parametrize("n,depth,count", [(2, 2, 40), (3, 3, 120), (5, 2, 120), (9, 2, 120)])
def test_text_shape_equals_parsing_every_row(n, depth, count):
    rows = list(KKSplitSource(n, "train", count, 3, KKOptions(depth=depth)).rows())
    texts = [r["statements"] for r in rows]
    fast = text_shape(texts)
    assert fast == shape(parse_statements(t) for t in texts)
    assert fast["statements"] == n * len(rows)


def test_text_shape_mixed_sizes_and_bad_text():
    texts = ["(('telling-truth', 1), ('lying', 0))", "(('not', ('lying', 2)), ('telling-truth', 0), ('lying', 1))",
             "(('telling-truth', 0),)"]
    assert text_shape(texts) == shape(parse_statements(t) for t in texts)
    with pytest.raises(UsageError, match="statements"):
        text_shape(["(('telling-truth', 1), ('lying', 0))", "(('telling-truth', 5), ('lying', 0))"])
    with pytest.raises(UsageError, match="statements"):
        text_shape(["(('telling-truth', 1), ('lying', 0)"])  # unbalanced


def test_mean_words_counts_spaces_like_python(tmp_path):
    import pyarrow as pa

    texts = ["a b c", "é ü  x", "", "one", "deux mots"] * 700  # several row groups, non-ASCII
    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"cot": texts}), f, row_group_size=1000)
    assert mean_words([f], "cot", len(texts)) == pytest.approx(sum(t.count(" ") + 1 for t in texts) / len(texts))


def test_built_card_statistics_match_the_rows(tmp_path):
    out = tmp_path / "ds"
    assert main(["kk", "build", "--out", str(out), "--people", "4", "--train", "50", "--test", "10", "--no-progress"]) == 0
    stats = json.loads((out / "manifest.json").read_text())["stats"]["4ppl/train"]
    rows = [r for f in sorted((out / "data" / "4ppl").glob("train-*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert stats["mean_cot_words"] == pytest.approx(sum(r["cot"].count(" ") + 1 for r in rows) / len(rows))
    assert stats["shape"]["roots"] == shape(parse_statements(r["statements"]) for r in rows)["roots"]


@pytest.mark.parametrize("args,named,not_named", [
    (["--perturb", "role_pair"], "`role_pair` perturbation's pairs", "knight/knave"),
    (["--role-pair", "saint/sinner"], "saint/sinner in every config", "perturbation's pairs"),
])
def test_logic_rl_warning_names_only_unreadable_role_words(tmp_path, args, named, not_named):
    out = tmp_path / "ds"
    assert main(["kk", "build", "--out", str(out), "--people", "3", "--train", "4", "--test", "3", "--no-progress", *args]) == 0
    card = (out / "README.md").read_text()
    section = card.split("## Logic-RL's reward cannot grade these role words", 1)[1].split("\n## ", 1)[0]
    assert named in section and not_named not in section
