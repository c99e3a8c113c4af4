"""A cotforge K&K dataset feeds ``cotforge distill`` with no column mapping: quiz + R1 prompt, kk verifier."""

from __future__ import annotations

import json

from cotforge.cli import main
from cotforge.store.query import run_query


def test_kk_dataset_needs_no_column_mapping(tmp_path, tiny_model_dir):
    kk = tmp_path / "kk"
    assert main(["kk", "build", "--out", str(kk), "--people", "3", "--train", "3", "--test", "1", "--no-progress"]) == 0
    out = tmp_path / "distill"
    assert main(["distill", "--input", str(kk), "--config", "3ppl", "--backend", "hf",
                 "--model", str(tiny_model_dir), "--n", "1", "--max-tokens", "8", "--out", str(out),
                 "--no-progress"]) == 0
    _, rows = run_query(out, "SELECT domain, verifier, count(*) FROM all_train GROUP BY ALL")
    assert rows == [("kk", "kk", 3)]
    _, prompts = run_query(out, "SELECT prompt FROM all_train LIMIT 1")
    kk_prompt = run_query(kk, "SELECT prompt FROM \"3ppl_train\" LIMIT 1")[1][0][0]
    assert prompts[0][0] == kk_prompt  # the dataset's own R1-style prompt is what the teacher saw
    command = json.loads((out / "manifest.json").read_text())["command"]
    assert "--column problem=quiz" in command and "--domain kk" in command

    # a preset names its own prompt format: the teacher sees that, and the manifest says so
    from cotforge.datagen.presets import get_preset

    preset_out = tmp_path / "distill-preset"
    assert main(["distill", "--input", str(kk), "--config", "3ppl", "--preset", "kk-warmup", "--backend", "hf",
                 "--model", str(tiny_model_dir), "--n", "1", "--max-tokens", "8", "--out", str(preset_out),
                 "--no-progress"]) == 0
    _, rows = run_query(preset_out, "SELECT problem, prompt FROM all_train LIMIT 1")
    problem, prompt = rows[0]
    assert [dict(m) for m in prompt] == get_preset("kk-warmup").template.messages(problem)
    manifest = json.loads((preset_out / "manifest.json").read_text())
    assert manifest["build_config"]["prompt_source"] == "template" and "--column prompt=prompt" not in manifest["command"]
