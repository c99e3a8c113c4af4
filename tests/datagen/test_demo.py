"""The CPU demo: K&K build -> distill (hf, tiny model) -> pairs -> decontam leaves real datasets with cards."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cotforge.datagen.cli import DEMO_TEACHER, run_demo

pytestmark = pytest.mark.slow


def test_demo_builds_every_stage(tmp_path):
    from cotforge.datagen.decontam import shared_data_dir

    has_benchmarks = shared_data_dir().is_dir()  # the offline data folder is not part of the repository
    lines: list[str] = []
    result = run_demo(tmp_path, echo=lines.append, train=6, samples=2, max_tokens=16)
    text = "\n".join(lines)
    # the teacher's conversations fit the tiny model's context (the default 2,048 did not)
    import re

    from transformers import AutoConfig

    fits = re.search(r"longest teacher conversation \(prompt \+ trace\) has ([\d,]+) tiny-model tokens: it fits", text)
    context = AutoConfig.from_pretrained(tmp_path / "tiny-model").max_position_embeddings
    assert fits and int(fits.group(1).replace(",", "")) <= context
    from transformers import AutoTokenizer

    # the tokenizer's limit is the model's context (else transformers warns "longer than ... 2048")
    assert AutoTokenizer.from_pretrained(tmp_path / "tiny-model").model_max_length == context == 4096
    assert "essentially untrained" in text and "the point is the plumbing" in text.lower()
    assert "constructed CoT" in text and "replay backend" in text

    for name in ("kk", "distill-tiny", "distill-teacher", "pairs") + (("pairs-decontam",) if has_benchmarks else ()):
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert manifest["content_hash"] and (tmp_path / name / "README.md").read_text().startswith("---\n")
        assert not (tmp_path / name / ".cotforge").exists()  # finished builds leave no working files

    student = result["distill_tiny"]["stats"]
    assert student["completions"] == 12 and student["models"] == [str(tmp_path / "tiny-model")]
    teacher = result["distill_teacher"]["stats"]
    assert teacher["accepted"] == teacher["completions"] == 6 and teacher["models"] == [DEMO_TEACHER]

    pairs = result["pairs"]["stats"]
    rows = [r for f in sorted((tmp_path / "pairs" / "data" / "default").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert pairs["pairs"] == len(rows) > 0
    assert all(r["chosen_model"] == DEMO_TEACHER and r["rejected_model"] == str(tmp_path / "tiny-model") for r in rows)
    assert all(r["chosen"][0]["content"].startswith("<think>") for r in rows)
    if has_benchmarks:
        decontam_files = sorted((tmp_path / "pairs-decontam" / "data" / "default").glob("*.parquet"))
        assert "contaminated" in pq.read_table(decontam_files[0]).column_names
    else:
        assert result["decontam"] is None and "[5/5] decontam skipped" in text

    # a rerun reuses everything; without benchmark data it says so up front and skips decontam
    later: list[str] = []
    again = run_demo(tmp_path, echo=later.append, train=6, samples=2, max_tokens=16, data_dir=tmp_path / "no-data")
    assert again["pairs"]["content_hash"] == result["pairs"]["content_hash"] and again["decontam"] is None
    assert later[1].startswith(f"note: benchmark data folder {tmp_path / 'no-data'} not found")
    assert f"[5/5] decontam skipped: no benchmark data at {tmp_path / 'no-data'}" in later


def test_demo_command_is_registered(capsys):
    from cotforge import cli

    if "demo" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    assert cli.main(["demo", "--help"]) == 0
    assert "--out" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_demo_out_that_is_a_file_is_one_line_exit_2(tmp_path, capsys, where):
    from cotforge import cli

    if "demo" not in {c.name for c in cli.app.registered_commands}:
        from cotforge.datagen.cli import register

        register(cli.app)
    (tmp_path / "f.txt").write_text("x")
    out = tmp_path / "f.txt" if where == "file" else tmp_path / "f.txt" / "demo"
    assert cli.main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--out {out}" in err and (tmp_path / "f.txt").read_text() == "x"
