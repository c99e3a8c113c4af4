"""Version arithmetic, change summaries and the card's Versions section."""

from __future__ import annotations

import pytest

from cotforge.errors import UsageError
from cotforge.hub import versions


@pytest.mark.parametrize("start, part, expected", [
    ("1.2.3", "patch", "1.2.4"), ("1.2.3", "minor", "1.3.0"), ("1.2.3", "major", "2.0.0"), ("0.0.0", "minor", "0.1.0"),
])
def test_bump(start, part, expected):
    assert versions.bump(start, part) == expected


@pytest.mark.parametrize("bad", ["1.2", "v1.2.3", "1.2.3-rc1", "01.2.3", ""])
def test_a_version_that_is_not_semver_is_refused_with_its_value(bad):
    with pytest.raises(UsageError, match="is not a semantic version"):
        versions.parse_version(bad)


def test_latest_orders_numerically_and_ignores_other_tags():
    assert versions.latest(["v1.9.0", "v1.10.0", "v1.2.11", "nightly", "release-2"]) == "v1.10.0"
    assert versions.latest(["nightly"]) is None


def test_changes_name_added_and_removed_configs_and_row_counts():
    before = {"3ppl/train": 10, "3ppl/test": 2, "old/train": 5}
    after = {"3ppl/train": 12, "3ppl/test": 2, "5ppl/train": 7}
    assert versions.changes(before, after) == "configs added: 5ppl; configs removed: old; 3ppl/train 10 -> 12 rows"
    assert versions.changes(None, {"a/train": 1200}) == "first version: a/train 1,200 rows"
    assert versions.changes({"a/train": 1}, {"a/train": 1}) == "same configs and row counts; file contents changed"
    assert versions.changes({"a/train": 1}, {"a/train": 1, "a/test": 3}) == "a/test added (3 rows)"


def test_the_section_is_replaced_not_appended():
    entry = {"tag": "v1.0.0", "date": "2026-01-01", "content_hash": "a" * 64, "changes": "first", "first_config": "x"}
    card = versions.with_section("---\nlicense: mit\n---\n# t\n", versions.render_section("o/n", [entry], "dataset"))
    entry2 = dict(entry, tag="v1.1.0", content_hash="b" * 64)
    card2 = versions.with_section(card + "\nafter\n", versions.render_section("o/n", [entry, entry2], "dataset"))
    assert card2.count("## Versions") == 1 and card2.count(versions.SECTION_START) == 1
    assert 'load_dataset("o/n", "x", revision="v1.1.0")' in card2 and "| `v1.0.0` |" in card2
    assert card2.rstrip().endswith("after")  # text after the section is kept


def test_a_malformed_history_is_an_error_not_a_silent_reset():
    with pytest.raises(UsageError, match="o/n/versions.json: malformed version history"):
        versions.parse_history('{"versions": [{"no": "tag"}]}', "o/n/versions.json")
    with pytest.raises(UsageError, match="malformed version history"):
        versions.parse_history("not json")
    assert versions.parse_history(None) == []


def test_model_load_line_is_snapshot_download():
    assert versions.load_line("o/m", "v1.0.0", None, "model") == 'snapshot_download("o/m", revision="v1.0.0")'
    assert versions.load_line("o/d", "v1.0.0", None, "dataset") == 'load_dataset("o/d", revision="v1.0.0")'


def test_retitle_changes_only_the_title_version():
    from cotforge.hub.publish import _retitle

    card = "---\n# a YAML comment v1.0.0\nlicense: mit\n---\n# Eval run: m (cotforge-eval v1.0.0)\nsee v1.0.0\n"
    out = _retitle(card, "1.0.0", "1.1.0")
    assert "# Eval run: m (cotforge-eval v1.1.0)" in out
    assert "# a YAML comment v1.0.0" in out and "see v1.0.0" in out
    assert _retitle("# t (v1.0.01)", "1.0.0", "2.0.0") == "# t (v1.0.01)"
