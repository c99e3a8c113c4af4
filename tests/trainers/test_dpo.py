"""DPO wrapper on cotforge pairs rows: trains, saves a loadable model with its card, counts overlong pairs."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from cotforge.errors import UsageError  # noqa: E402


def _pairs(path, n=8):
    rows = []
    for a in range(n):
        rows.append({
            "prompt": [{"role": "user", "content": f"What is {a} + 2?"}],
            "chosen": [{"role": "assistant", "content": f"<think>{a} plus 2 is {a + 2}.</think> <answer>{a + 2}</answer>"}],
            "rejected": [{"role": "assistant", "content": f"<think>{a} plus 2 is {a + 5}.</think> <answer>{a + 5}</answer>"}],
        })
    rows.append({"prompt": [{"role": "user", "content": "What is " + " plus ".join(["1"] * 40) + "?"}],
                 "chosen": [{"role": "assistant", "content": "<answer>40</answer>"}],
                 "rejected": [{"role": "assistant", "content": "<answer>41</answer>"}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_run_dpo(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from cotforge.trainers.dpo import run_dpo

    data = _pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "dpo"
    cfg = {"model": str(tiny_model_dir), "data": str(data), "output_dir": str(out), "max_length": 60,
           "args": {"max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                    "learning_rate": 1e-3}}
    record = run_dpo(cfg, log=lambda s: None)
    f = record["report"]["data_filter"]
    assert (f["rows"], f["overlong"], f["kept"]) == (9, 1, 8)
    AutoModelForCausalLM.from_pretrained(out)
    history = json.loads((out / "log_history.json").read_text())
    assert any("rewards/margins" in h for h in history)
    assert "pairs.jsonl" in (out / "README.md").read_text()


def test_dpo_needs_preference_columns(tiny_model_dir, tmp_path):
    from cotforge.trainers.dpo import run_dpo

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "q", "completion": "a"}) + "\n")
    with pytest.raises(UsageError, match="prompt\\+chosen\\+rejected"):
        run_dpo({"model": str(tiny_model_dir), "data": str(bad), "output_dir": str(tmp_path / "o")})
