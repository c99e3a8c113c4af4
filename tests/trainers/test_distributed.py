"""The distributed path on CPU: SFT under `accelerate launch` with two processes over gloo."""

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


@pytest.mark.slow
def test_sft_two_process_gloo_launch(tmp_path, sft_jsonl, tiny_model_dir):
    launcher = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
    cfg = tmp_path / "sft.yaml"
    out = tmp_path / "out"
    cfg.write_text(f"model: {tiny_model_dir}\ndata: {sft_jsonl}\noutput_dir: {out}\nmax_length: 64\n"
                   "args: {max_steps: 2, per_device_train_batch_size: 2, gradient_accumulation_steps: 1, warmup_steps: 0}\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([launcher, "launch", "--config_file", str(RECIPES / "accelerate" / "cpu_2proc.yaml"),
                           "-m", "cotforge.cli", "train", "sft", "--config", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "cotforge_train.json").read_text())["report"]
    assert report["processes"] == 2 and report["distributed_backend"] == "gloo"
    assert report["global_steps"] == 2
