"""The distributed path on CPU: SFT (TRL) and PPO (our loop) under `accelerate launch`, two processes over gloo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("accelerate")

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _launch(tmp_path, kind, config_text):
    launcher = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
    cfg = tmp_path / "stage.yaml"
    cfg.write_text(config_text)
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([launcher, "launch", "--config_file", str(RECIPES / "accelerate" / "cpu_2proc.yaml"),
                           "-m", "cotforge.cli", "train", kind, "--config", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_sft_two_process_gloo_launch(tmp_path, sft_jsonl, tiny_model_dir):
    out = tmp_path / "out"
    _launch(tmp_path, "sft", f"model: {tiny_model_dir}\ndata: {sft_jsonl}\noutput_dir: {out}\nmax_length: 64\n"
                      "args: {max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, warmup_steps: 0}\n")
    report = json.loads((out / "cotforge_train.json").read_text())["report"]
    assert report["processes"] == 2 and report["distributed_backend"] == "gloo"
    assert report["global_steps"] == 2


@pytest.mark.slow
def test_ppo_two_process_gloo_launch(tmp_path, tiny_model_dir):
    """Our own PPO loop data-parallel: two processes, one card, metrics averaged over both."""
    from cotforge.testing.tiny_model import tiny_prompt

    data = tmp_path / "rl.jsonl"
    data.write_text("".join(json.dumps({"prompt": tiny_prompt(a, 3)}) + "\n" for a in range(8)))
    out = tmp_path / "out"
    proc = _launch(tmp_path, "ppo", json.dumps({
        "model": str(tiny_model_dir), "data": str(data), "output_dir": str(out), "variant": "ppo",
        "rewards": [{"type": "format", "gamma": 1.0, "func": "format_reward_func", "rule": "logic_rl"}],
        "args": {"max_steps": 2, "prompts_per_step": 2, "samples_per_prompt": 2, "max_new_tokens": 8}}))
    report = json.loads((out / "cotforge_train.json").read_text())["report"]
    assert report["processes"] == 2 and report["distributed_backend"] == "gloo"
    assert len(json.loads((out / "log_history.json").read_text())) == 2 == report["global_steps"]
    assert proc.stdout.count("ppo: saved") == 1  # the main process alone writes and says so
    assert (out / "critic.pt").is_file()


@pytest.mark.parametrize("name, kind, zero", [("cpu_2proc", "MULTI_GPU", None), ("zero2", "DEEPSPEED", 2),
                                              ("zero3", "DEEPSPEED", 3)])
def test_accelerate_configs_load_with_accelerate(name, kind, zero):
    """The launch configs in recipes/accelerate/ are read by accelerate's own loader as what they claim."""
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(RECIPES / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.name == kind
    if zero is None:
        assert cfg.num_processes == 2 and cfg.mixed_precision == "no"
    else:
        assert cfg.deepspeed_config["zero_stage"] == zero and cfg.mixed_precision == "bf16"
        assert cfg.deepspeed_config["gradient_accumulation_steps"] == "auto"  # taken from the stage's args
