"""``--style public``: exactly the public generator's attribution templates and name pools."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotforge.cli import main
from cotforge.datagen.kk import KKOptions, KKSplitSource, perturb_row
from cotforge.datagen.kk.render import COMMON_NAMES, TEMPLATES, parse_layout, render_statements, role_pair_from_words
from cotforge.datagen.kk.statements import parse_statements
from cotforge.datagen.kk.style import PUBLIC_COMMON_NAMES, PUBLIC_TEMPLATES, PUBLIC_UNCOMMON_NAMES

PUBLIC = Path("/work/shared/data/kk/kk_test_3to7ppl.jsonl")


def template_hits(rows: list[dict], templates, names) -> tuple[list[int], int]:
    """How often each template occurs in the quizzes' bodies, and how many sentences there are.
    (Statements hold no quotes or full stops, so a template's content is [^".]+.)"""
    pats = []
    for t in templates:
        rx = re.escape(t.replace("{Content}", "{content}"))
        rx = rx.replace(re.escape("{name}"), "(?:" + "|".join(map(re.escape, names)) + ")")
        pats.append(re.compile(rx.replace(re.escape("{content}"), '[^".]+')))
    counts = [0] * len(pats)
    sentences = 0
    for r in rows:
        body = r["quiz"].split(": ", 1)[1]
        body = body[body.index(". ") + 2 : body.rindex(" So who is")]
        sentences += len(r["names"])
        for i, p in enumerate(pats):
            counts[i] += len(p.findall(body))
    return counts, sentences


@pytest.mark.skipif(not PUBLIC.is_file(), reason="public K&K data not present")
def test_public_templates_and_names_are_those_of_the_public_data():
    rows = [json.loads(line) for line in PUBLIC.read_text().splitlines()]
    counts, sentences = template_hits(rows, PUBLIC_TEMPLATES, PUBLIC_COMMON_NAMES)
    assert sum(counts) == sentences == 2500 and min(counts) > 0  # every sentence, every template
    assert {n for r in rows for n in r["names"]} == set(PUBLIC_COMMON_NAMES)  # all 51, nothing else
    assert len(PUBLIC_TEMPLATES) == 18 and len(PUBLIC_UNCOMMON_NAMES) == 50


def test_public_style_build_uses_exactly_the_public_wording(tmp_path):
    out = tmp_path / "pub"
    assert main(["kk", "build", "--out", str(out), "--people", "8", "--train", "60", "--test", "10",
                 "--style", "public", "--no-progress"]) == 0
    rows = [r for f in sorted((out / "data/8ppl").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    counts, sentences = template_hits(rows, PUBLIC_TEMPLATES, PUBLIC_COMMON_NAMES)
    assert sum(counts) == sentences == 560 and min(counts) > 0
    assert {n for r in rows for n in r["names"]} <= set(PUBLIC_COMMON_NAMES)
    card = (out / "README.md").read_text()
    assert "--style public" in card
    assert "no third-party text" not in card  # the license section credits the public generator's wording
    assert "are those of the public K&K generator" in " ".join(card.split())
    for r in rows[:10]:
        roles = role_pair_from_words(r["knight_knave"])
        contents = render_statements(parse_statements(r["statements"]), r["names"], roles)
        assert parse_layout(r["quiz"], r["names"], roles, contents, ("public",)).style == "public"


def test_cotforge_style_is_not_the_public_wording():
    rows = list(KKSplitSource(8, "test", 20, 0, KKOptions()).rows())
    counts, sentences = template_hits(rows, PUBLIC_TEMPLATES, COMMON_NAMES)
    assert sum(counts) < sentences  # cotforge's own phrasings ("X claimed that ...") are not public ones
    assert len(TEMPLATES) == 19


def test_public_style_perturbations_stay_public():
    rows = list(KKSplitSource(4, "test", 6, 0, KKOptions(style="public")).rows())
    for r in rows:
        renamed = perturb_row(r, "uncommon_names", 0, style="public")
        assert set(renamed["names"]) <= set(PUBLIC_UNCOMMON_NAMES)
        reordered = perturb_row(r, "reorder", 0, style="public")
        counts, sentences = template_hits([reordered], PUBLIC_TEMPLATES, PUBLIC_COMMON_NAMES)
        assert sum(counts) == sentences
