"""The datagen card renderers in ``hub/`` import nothing of ``datagen``: dependencies point one way
(datagen -> hub), so the builders pass in what a card needs (drop reasons, preset notes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cotforge.hub

HUB = Path(cotforge.hub.__file__).parent


@pytest.mark.parametrize("module", ["distill_card", "pairs_card", "silver_card"])
def test_card_renderer_imports_nothing_of_datagen(module):
    tree = ast.parse((HUB / f"{module}.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported and not [m for m in imported if m.startswith("cotforge.datagen")]
