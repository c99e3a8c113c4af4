"""The silver card renders from reasons its caller passes (no import of datagen), and a silver
folder publishes like any other cotforge dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cotforge.datagen.inputs import open_input
from cotforge.datagen.silver import DROP_REASONS, build_silver
from cotforge.hub.publish import publish

WEB = [
    {"question": "What is 2+3?", "solution": "We add. The answer is \\boxed{5}."},
    {"question": "Prove that sqrt(2) is irrational.", "solution": "Suppose not..."},
    {"question": "what is  2+3?", "solution": "5"},
]

RENDER = r"""
import json, sys
from cotforge.hub.silver_card import render_silver_card
manifest = json.load(open(sys.argv[1] + "/manifest.json"))
card = render_silver_card(manifest, sys.argv[1], reasons=json.loads(sys.argv[2]))
print(json.dumps({"datagen": sorted(m for m in sys.modules if m.startswith("cotforge.datagen")), "card": card}))
"""


def _silver(tmp_path):
    src = tmp_path / "web.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in WEB))
    build_silver(open_input(src), tmp_path / "silver")
    return tmp_path / "silver"


def test_silver_card_renders_from_passed_reasons_without_importing_datagen(tmp_path):
    folder = _silver(tmp_path)
    reasons = {code: f"meaning of {code} given by the caller" for code in DROP_REASONS}
    out = subprocess.run([sys.executable, "-c", RENDER, str(folder), json.dumps(reasons)], capture_output=True,
                         text=True, timeout=120, env={**os.environ})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["datagen"] == []
    assert "| `proof` | 1 | meaning of proof given by the caller |" in result["card"]
    assert "| `duplicate` | 1 | meaning of duplicate given by the caller |" in result["card"]


def test_a_silver_folder_publishes(tmp_path, hub, api):
    folder = _silver(tmp_path)
    result = publish(folder, "org/silver", api=api)
    assert result.tag == "v1.0.0" and result.load_line == 'load_dataset("org/silver", "default", revision="v1.0.0")'
    assert publish(folder, "org/silver", api=api).status == "unchanged"
