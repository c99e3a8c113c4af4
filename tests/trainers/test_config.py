"""Stage configs: --set parsing, key checks, CPU arguments, and the CLI's one-line errors."""

import pytest

from cotforge.errors import UsageError
from cotforge.trainers.config import apply_overrides, check_stage, parse_set


def test_parse_set_values():
    assert parse_set("args.learning_rate=1e-5") == (["args", "learning_rate"], 1e-5)
    assert parse_set("packing=true") == (["packing"], True)
    assert parse_set("data.limit=100") == (["data", "limit"], 100)
    assert parse_set("model=Qwen/Qwen2.5-3B") == (["model"], "Qwen/Qwen2.5-3B")
    with pytest.raises(UsageError, match="key=value"):
        parse_set("learning_rate")


def test_apply_overrides_nested_and_conflicts():
    cfg = apply_overrides({"args": {"a": 1}, "model": "m"}, ["args.b=2", "data.path=x"])
    assert cfg == {"args": {"a": 1, "b": 2}, "model": "m", "data": {"path": "x"}}
    assert apply_overrides({"data": "f.jsonl"}, ["data.limit=5"])["data"] == {"path": "f.jsonl", "limit": 5}
    with pytest.raises(UsageError, match="not a mapping"):
        apply_overrides({"model": "m"}, ["model.x=1"])


def test_check_stage_messages():
    with pytest.raises(UsageError, match="missing 'data'"):
        check_stage({"model": "m", "output_dir": "o"}, (), "cfg")
    with pytest.raises(UsageError, match="data: unknown key 'paths'"):
        check_stage({"model": "m", "output_dir": "o", "data": {"path": "x", "paths": 1}}, (), "cfg")


def test_build_args_forces_cpu_settings(tmp_path):
    pytest.importorskip("trl")
    from trl import SFTConfig

    from cotforge.trainers.config import build_args, on_cpu

    if not on_cpu():
        pytest.skip("a GPU is visible")
    args = build_args(SFTConfig, {"bf16": True, "gradient_checkpointing": True}, output_dir=tmp_path, defaults={},
                      where="cfg")
    assert args.use_cpu and not args.bf16 and not args.gradient_checkpointing


def test_cli_bad_key_is_one_line(tmp_path, capsys, sft_jsonl, tiny_model_dir):
    from cotforge.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ndata: {sft_jsonl}\noutput_dir: {tmp_path / 'o'}\nlr: 3\n")
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'lr'" in err[0]
    assert main(["train", "dpo", "--config", str(cfg), "--set", "stage=sft"]) == 2
    assert "this is `cotforge train dpo`" in capsys.readouterr().err


def test_cli_train_sft_with_set(tmp_path, sft_jsonl, tiny_model_dir):
    pytest.importorskip("trl")
    import json

    from cotforge.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ndata: {sft_jsonl}\noutput_dir: {tmp_path / 'o'}\nmax_length: 64\n"
                   "args: {max_steps: 5, warmup_steps: 0, per_device_train_batch_size: 2}\n")
    assert main(["train", "sft", "--config", str(cfg), "--set", "args.max_steps=1"]) == 0
    record = json.loads((tmp_path / "o" / "cotforge_train.json").read_text())
    assert record["report"]["global_steps"] == 1


@pytest.mark.parametrize("stage", ["sft", "dpo", "grpo"])
def test_missing_extra_fails_before_training(monkeypatch, tmp_path, stage):
    import sys

    from cotforge.errors import MissingExtraError
    from cotforge.trainers import get_stage

    run = get_stage(stage)
    monkeypatch.setitem(sys.modules, "trl", None)  # `import trl` now raises ImportError
    cfg = {"model": "m", "data": "d.jsonl", "output_dir": str(tmp_path / "o")}
    with pytest.raises(MissingExtraError, match=r"pip install 'cotforge\[train\]'"):
        run(cfg)
    assert not (tmp_path / "o").exists()
