"""render_card: one compiled environment per templates folder, and an edited template is re-read."""

from __future__ import annotations

import os
import time


def test_card_environment_is_reused_and_an_edited_template_is_reread(tmp_path, monkeypatch):
    from cotforge.hub import cards

    (tmp_path / "t.md.j2").write_text("v1 {{ manifest.name }}\n")
    monkeypatch.setenv("COTFORGE_CARDS_DIR", str(tmp_path))
    manifest = {"name": "x", "splits": {}}
    assert cards.render_card("t.md.j2", manifest, meta={}).endswith("v1 x\n")
    env = cards._environment(str(tmp_path))
    assert cards._environment(str(tmp_path)) is env  # compiled once per folder
    (tmp_path / "t.md.j2").write_text("v2 {{ manifest.name }}\n")
    later = time.time() + 5
    os.utime(tmp_path / "t.md.j2", (later, later))  # a visibly newer file
    assert cards.render_card("t.md.j2", manifest, meta={}).endswith("v2 x\n")
