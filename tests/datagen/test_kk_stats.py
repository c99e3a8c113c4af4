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
    cells = [v for r in rows for v in r["solution"]]
    assert stats["knight_share"] == pytest.approx(sum(cells) / len(cells))
    assert stats["degenerate_statements"] == sum(r["n_degenerate"] for r in rows)
    assert stats["distinct_logic"] == len({r["logic_key"] for r in rows}) == 50
    assert stats["operators"]["not"] == sum(r["statements"].count("'not'") for r in rows)
    card = (out / "README.md").read_text()
    assert f"| 4ppl | train | {100 * stats['knight_share']:.1f}% | {stats['degenerate_statements']} (" in card


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


def _table(keys):
    import pyarrow as pa

    n = len(keys)
    return pa.table({
        "n_people": pa.array([3] * n, pa.int16()), "n_degenerate": pa.array([i % 2 for i in range(n)], pa.int16()),
        "solution": [[True, False, i % 3 == 0] for i in range(n)],
        "statements": ["(('not', ('lying', 1)), ('telling-truth', 0), ('and', ('lying', 0), ('lying', 1)))"] * n,
        "logic_key": keys, "cot": ["a b"] * n,
    })


@pytest.mark.parametrize("keys", [
    [f"kk3-{i % 700:032x}" for i in range(2500)],              # cotforge's form: packed digests
    [f"kk3-{i % 700:032x}" for i in range(2400)] + ["odd"] * 100,  # another form in a later row group
    [f"kk{3 + i % 2}-{i % 700:032x}" for i in range(2500)],    # two prefixes
    [f"kk3-{i % 700:032X}" for i in range(2500)],              # upper-case hex is not cotforge's
])
def test_split_counts_are_exact(tmp_path, keys):
    from cotforge.datagen.kk.stats import split_counts

    f = tmp_path / "s.parquet"
    pq.write_table(_table(keys), f, row_group_size=1000)
    c = split_counts([f], len(keys))
    assert c["distinct"] == len(set(keys))
    assert c["people"] == 3 * len(keys) and c["degenerate"] == len(keys) // 2
    assert c["knights"] == len(keys) + sum(1 for i in range(len(keys)) if i % 3 == 0) and c["cells"] == 3 * len(keys)
    assert c["ops"]["not"] == c["ops"]["and"] == c["ops"]["is a knight (leaf)"] == len(keys)
    assert c["ops"]["is a knave (leaf)"] == 3 * len(keys) and c["ops"]["or"] == 0
    assert c["spaces"] == len(keys)


def test_row_texts_match_the_render_functions():
    from cotforge.datagen.kk.render import role_pair_from_words, solution_text, solution_text_format

    for n, opts in ((3, KKOptions()), (7, KKOptions(role_pair="saint/sinner"))):
        for r in KKSplitSource(n, "test", 20, 1, opts).rows():
            roles = role_pair_from_words(r["knight_knave"])
            assert r["solution_text"] == solution_text(r["names"], roles, r["solution"])
            assert r["solution_text_format"] == r["answer"] == solution_text_format(r["names"], roles, r["solution"])
