"""The card's load snippet and rebuild command do what they say: the snippet loads (every config and
split it names exists), and running the rebuild command gives the same bytes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from cotforge.cli import main

CASES = [
    ["--people", "3-4", "--train", "0", "--test", "6", "--perturb", "leaf", "--perturb", "reorder"],
    ["--people", "2,5", "--train", "7", "--test", "3", "--style", "public", "--dedup", "text", "--combined", "2,5",
     "--role-pair", "saint/sinner", "--filter-degenerate"],
]


def snippet_and_command(card: str) -> tuple[str, str]:
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    command = re.search(r"```bash\n(.*?)```", card, re.S).group(1).strip()
    return code, command


@pytest.mark.parametrize("args", CASES, ids=["test-only", "public-text"])
def test_card_snippet_loads_and_rebuild_command_gives_the_same_bytes(tmp_path, args):
    out = tmp_path / "ds"
    assert main(["kk", "build", "--out", str(out), "--no-progress", *args]) == 0
    card = (out / "README.md").read_text()
    code, command = snippet_and_command(card)
    loads = re.findall(r'load_dataset\("PATH", "([^"]+)", split="([^"]+)"\)', code)
    assert loads
    from datasets import load_dataset

    for config, split in loads:
        assert load_dataset(str(out), config, split=split).num_rows > 0
    argv = shlex.split(command.replace("--out OUT", f"--out {tmp_path / 'again'}"))
    assert argv[:3] == ["cotforge", "kk", "build"]
    assert main([*argv[1:], "--no-progress"]) == 0
    again = tmp_path / "again"
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (out, again))
    assert first["content_hash"] == second["content_hash"]
    assert (again / "README.md").read_bytes() == (out / "README.md").read_bytes()
    files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.parquet"))
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes()
