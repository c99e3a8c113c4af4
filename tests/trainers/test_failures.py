"""Every stage fails before training, with one line naming what is wrong, on: a bad config key, a bad
trainer argument, data without the columns it needs, a model that cannot load, a missing extra."""

import json
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from cotforge.cli import main  # noqa: E402

ROWS = {
    "sft": {"messages": [{"role": "user", "content": "What is 1 + 2?"},
                         {"role": "assistant", "content": "<think>1 plus 2 is 3.</think> <answer>3</answer>"}]},
    "dpo": {"prompt": [{"role": "user", "content": "What is 1 + 2?"}],
            "chosen": [{"role": "assistant", "content": "<answer>3</answer>"}],
            "rejected": [{"role": "assistant", "content": "<answer>4</answer>"}]},
    "grpo": {"prompt": [{"role": "user", "content": "What is 1 + 2?"}], "answer": "3"},
    "ppo": {"prompt": [{"role": "user", "content": "What is 1 + 2?"}], "answer": "3"},
}
REWARDS = {"grpo": [{"func": "format_reward_func"}],
           "ppo": [{"type": "format", "gamma": 1.0, "func": "format_reward_func"}]}
ARGS_CLASS = {"sft": "SFTConfig", "dpo": "DPOConfig", "grpo": "GRPOConfig", "ppo": "PPOSettings"}
STAGES = list(ROWS)


def _config(tmp_path, stage, model, *, rows=None, **extra):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in (rows or [ROWS[stage]] * 4)))
    cfg = {"model": str(model), "data": str(data), "output_dir": str(tmp_path / "out"), "args": {"max_steps": 1}}
    if stage in REWARDS:
        cfg["rewards"] = REWARDS[stage]
    cfg.update(extra)
    path = tmp_path / "stage.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _fails(capsys, tmp_path, stage, cfg, *sets):
    rc = main(["train", stage, "--config", str(cfg), *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1, err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
    return err[0]


@pytest.mark.parametrize("stage", STAGES)
def test_bad_keys(stage, tmp_path, capsys, tiny_model_dir):
    cfg = _config(tmp_path, stage, tiny_model_dir)
    assert "unknown key 'learning_rate'" in _fails(capsys, tmp_path, stage, cfg, "learning_rate=1e-5")
    line = _fails(capsys, tmp_path, stage, cfg, "args.learnin_rate=1e-5")
    assert f"'learnin_rate' is not a {ARGS_CLASS[stage]} field" in line
    assert "data: unknown key 'spilt'" in _fails(capsys, tmp_path, stage, cfg, "data.spilt=test")


@pytest.mark.parametrize("stage", STAGES)
def test_data_without_needed_columns(stage, tmp_path, capsys, tiny_model_dir):
    cfg = _config(tmp_path, stage, tiny_model_dir, rows=[{"question": "q", "solution": "a"}])
    line = _fails(capsys, tmp_path, stage, cfg)
    assert f"a {stage} stage needs column(s)" in line and "it has question, solution" in line


@pytest.mark.parametrize("stage", ["grpo", "ppo"])
def test_reward_reading_a_missing_gold_column(stage, tmp_path, capsys, tiny_model_dir):
    row = {k: v for k, v in ROWS[stage].items() if k != "answer"}
    reward = {"func": "correctness_reward_func", "verifier": "math"}
    rewards = [reward] if stage == "grpo" else [{"type": "correctness", "gamma": 1.0, **reward}]
    cfg = _config(tmp_path, stage, tiny_model_dir, rows=[row] * 4, rewards=rewards)
    assert "reads column(s) answer, which the data lacks" in _fails(capsys, tmp_path, stage, cfg)


def _broken_models(root, good):
    import shutil

    empty = root / "empty"
    empty.mkdir(parents=True)
    bad_json = root / "bad-json"
    shutil.copytree(good, bad_json)
    (bad_json / "config.json").write_text("{not json")
    torn = root / "torn-weights"
    shutil.copytree(good, torn)
    for w in torn.glob("*.safetensors"):
        w.write_bytes(w.read_bytes()[:64])
    encoder = root / "not-causal"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 10, "hidden_size": 8,
                                                     "num_hidden_layers": 1, "num_attention_heads": 2,
                                                     "intermediate_size": 8}))
    return {"missing": root / "nope", "empty": empty, "bad-json": bad_json, "torn-weights": torn,
            "not-causal": encoder}


@pytest.mark.parametrize("stage", STAGES)
def test_model_that_cannot_load(stage, tmp_path, capsys, tiny_model_dir):
    models = _broken_models(tmp_path / "models", tiny_model_dir)
    for what, model in models.items():
        cfg = _config(tmp_path, stage, model)
        line = _fails(capsys, tmp_path, stage, cfg)
        assert "cannot be loaded as a causal LM" in line and str(model) in line, (what, line)


@pytest.mark.parametrize("stage, module", [("sft", "trl"), ("dpo", "trl"), ("grpo", "trl"), ("ppo", "accelerate"),
                                           ("sft", "transformers"), ("ppo", "transformers")])
def test_missing_extra(stage, module, tmp_path, capsys, monkeypatch, tiny_model_dir):
    cfg = _config(tmp_path, stage, tiny_model_dir)
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now raises ImportError
    line = _fails(capsys, tmp_path, stage, cfg)
    assert module in line and "pip install 'cotforge[train]'" in line


def test_training_data_from_a_folder_with_a_damaged_shard_is_refused_naming_it(tmp_path):
    # the stage reads a cotforge folder through the manifest's hashes, never a decompression traceback
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk
    from cotforge.errors import UsageError
    from cotforge.trainers.data import load_data

    out = tmp_path / "kk"
    build_kk(out, KKBuildConfig(people=(3,), train=6, test=2))
    assert load_data({"path": str(out), "config": "3ppl"}, "sft")[1]["rows"] == 6
    shard = next((out / "data/3ppl").glob("train-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=f"{shard}: damaged"):
        load_data({"path": str(out), "config": "3ppl"}, "sft")


def test_a_missing_config_or_recipe_file_is_named_as_it_was_given(tmp_path, capsys):
    assert main(["train", "sft", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --config: {tmp_path / 'nope.yaml'}: no such file"
    assert main(["recipe", "run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == f"error: recipe FILE: {tmp_path / 'nope.yaml'}: no such file"
