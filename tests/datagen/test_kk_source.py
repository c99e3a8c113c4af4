"""KKSplitSource: schema, determinism, resume, seeds without overlap, dedup, exclusion, shortages."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from cotforge.errors import UsageError
from cotforge.records import KK_SCHEMA
from cotforge.datagen.kk import KKOptions, KKShortage, KKSplitSource, count_distinct
from cotforge.datagen.kk.solver import solutions
from cotforge.datagen.kk.statements import parse_statements


def rows(n, split="train", count=30, seed=0, **kw):
    options = kw.pop("options", KKOptions())
    return list(KKSplitSource(n, split, count, seed, options, **kw).rows())


def test_rows_match_the_schema_and_are_solved():
    out = rows(5, count=20)
    table = pa.Table.from_pylist(out, schema=KK_SCHEMA)
    assert table.num_rows == 20
    assert all(set(r) == set(KK_SCHEMA.names) for r in out)
    for i, r in enumerate(out):
        assert r["index"] == i and r["n_people"] == 5 and (r["depth"], r["width"]) == (2, 2)
        assert solutions(parse_statements(r["statements"])) == [tuple(r["solution"])]
        assert r["answer"] == r["solution_text_format"]
        assert r["perturbation"] is None and r["perturbed_from"] is None
        assert r["id"].startswith("kk-") and r["logic_key"].startswith("kk5-")
    assert len({r["id"] for r in out}) == 20


def test_deterministic_and_resumable():
    src = KKSplitSource(4, "train", 25, 7, KKOptions())
    first = list(src.rows())
    assert list(KKSplitSource(4, "train", 25, 7, KKOptions()).rows()) == first
    done = [pa.Table.from_pylist(first[:6], schema=KK_SCHEMA), pa.Table.from_pylist(first[6:11], schema=KK_SCHEMA)]
    assert list(src.rows(start=11, done=done)) == first[11:]
    assert src.keys() == [r["logic_key"] for r in first]
    with pytest.raises(UsageError, match="holds 6 rows but start is 11"):
        list(src.rows(start=11, done=done[:1]))


def test_resume_restores_dedup_state_at_small_sizes():
    # at 3 people duplicates are frequent, so a resume that forgot the taken keys would differ
    src = KKSplitSource(3, "train", 300, 1, KKOptions())
    first = list(src.rows())
    done = [pa.Table.from_pylist(first[:150], schema=KK_SCHEMA).select(["logic_key"])]
    assert list(src.rows(start=150, done=done)) == first[150:]


def test_neighbouring_seeds_splits_and_indices_share_nothing():
    a = rows(6, seed=0, count=40)
    b = rows(6, seed=1, count=40)
    c = rows(6, split="test", seed=0, count=40)
    for x, y in itertools.combinations((a, b, c), 2):
        assert not {r["logic_key"] for r in x} & {r["logic_key"] for r in y}
        assert not {r["quiz"] for r in x} & {r["quiz"] for r in y}


def test_dedup_within_split_by_logic_not_text():
    out = rows(3, count=400)
    assert len({r["logic_key"] for r in out}) == 400


def test_exclude_keys_make_splits_disjoint():
    test = KKSplitSource(3, "test", 100, 0, KKOptions())
    test_keys = frozenset(test.keys())
    train = rows(3, count=300, exclude_keys=test_keys)
    assert not {r["logic_key"] for r in train} & test_keys


def test_two_people_fail_fast_with_the_exact_count():
    assert len(rows(2, count=41)) == 41  # every identity can be reached
    with pytest.raises(KKShortage, match="only 41 distinct 2-person puzzles") as err:
        KKSplitSource(2, "train", 42, 0, KKOptions())
    assert err.value.available == 41
    some = frozenset(KKSplitSource(2, "test", 10, 0, KKOptions()).keys())
    with pytest.raises(KKShortage, match="10 of them are taken by other splits") as err:
        KKSplitSource(2, "train", 35, 0, KKOptions(), exclude_keys=some)
    assert err.value.available == 31
    assert len(rows(2, count=31, exclude_keys=some)) == 31


def test_stall_guard_when_the_count_is_unknown(monkeypatch):
    import cotforge.datagen.kk.source as source

    monkeypatch.setattr(source, "count_distinct", lambda n, options: None)  # pretend we cannot count
    src = KKSplitSource(2, "train", 42, 0, KKOptions(), stall_limit=20_000)
    with pytest.raises(KKShortage, match="stalled at item 41") as err:
        list(src.rows())
    assert err.value.available == 41


def test_degenerate_statements_are_counted_or_filtered():
    plain = rows(4, count=150)
    assert sum(r["n_degenerate"] for r in plain) > 0  # tautologies/contradictions do occur
    filtered = rows(4, count=150, options=KKOptions(filter_degenerate=True))
    assert all(r["n_degenerate"] == 0 for r in filtered)
    assert count_distinct(2, KKOptions(filter_degenerate=True)) == 28


def test_options_and_arguments_are_validated():
    cases = [
        (dict(depth=0), "depth"),
        (dict(width=1), "width"),
        (dict(role_pair="knight/villain"), "role_pair"),
        (dict(name_pool="rare"), "name_pool"),
        (dict(filter_degenerate="yes"), "filter_degenerate"),
    ]
    for kw, option in cases:
        with pytest.raises(UsageError, match=f"option '{option}'"):
            KKOptions(**kw)
    with pytest.raises(UsageError, match="n_people"):
        KKSplitSource(1, "train", 1, 0, KKOptions())
    with pytest.raises(UsageError, match="n_people"):
        KKSplitSource(21, "train", 1, 0, KKOptions())
    with pytest.raises(UsageError, match="count"):
        KKSplitSource(3, "train", -1, 0, KKOptions())
    with pytest.raises(KKShortage, match="only 0 distinct"):
        KKSplitSource(4, "train", 1, 0, KKOptions(depth=1))


def test_language_options_change_words_not_puzzles():
    base = rows(5, count=10)
    heroes = rows(5, count=10, options=KKOptions(role_pair="hero/villain", name_pool="uncommon"))
    assert [r["statements"] for r in base] == [r["statements"] for r in heroes]
    assert [r["logic_key"] for r in base] == [r["logic_key"] for r in heroes]
    assert all("heroes and villains" in r["quiz"] for r in heroes)
    assert not set(base[0]["names"]) & set(heroes[0]["names"])


def test_large_sizes_without_stored_tables():
    # above 12 people the catalogue stores no truth tables (2^n bits each) and evaluates on demand
    from cotforge.datagen.kk.sampler import CATALOGUE_TABLES_MAX_PEOPLE, StatementSampler

    n = CATALOGUE_TABLES_MAX_PEOPLE + 1
    assert StatementSampler(n, 2, 2).catalogue.tables is None
    out = rows(n, count=2)
    for r in out:
        stmts = parse_statements(r["statements"])
        consistent = [
            a
            for a in range(1 << n)
            if all(_holds(s, a) == bool(a >> p & 1) for p, s in enumerate(stmts))
        ]  # plain loop over all 8,192 assignments
        assert consistent == [sum(1 << p for p, v in enumerate(r["solution"]) if v)]
    assert len(rows(20, count=1)) == 1  # the largest size works (2^20-bit tables)


def _holds(s, a):
    op = s[0]
    if op in ("telling-truth", "lying"):
        return bool(a >> s[1] & 1) == (op == "telling-truth")
    if op == "not":
        return not _holds(s[1], a)
    if op == "and":
        return all(_holds(c, a) for c in s[1:])
    if op == "or":
        return any(_holds(c, a) for c in s[1:])
    if op == "->":
        return not _holds(s[1], a) or _holds(s[2], a)
    return _holds(s[1], a) == _holds(s[2], a)


def test_seeds_share_logic_at_three_people_as_docs_kk_says():
    # docs/kk.md and README: seeds 0 and 1 of the default 3-person build (train 1,000 + test 100)
    # share 696 of their 1,100 logic keys; only text and ids are unrelated
    def build_keys(seed):
        test = KKSplitSource(3, "test", 100, seed, KKOptions())
        test_keys = frozenset(test.keys())
        train = rows(3, count=1000, seed=seed, exclude_keys=test_keys)
        return {r["logic_key"] for r in train} | test_keys

    keys0, keys1 = build_keys(0), build_keys(1)
    assert len(keys0) == len(keys1) == 1100
    assert len(keys0 & keys1) == 696
