"""Shared pieces of the trainer tests: a tiny GRPO trainer and SFT rows in the tiny model's format."""

import json
import random

import pytest


@pytest.fixture(scope="module")
def sft_jsonl(tmp_path_factory):
    from cotforge.testing.tiny_model import _conversation

    rng = random.Random(1)
    path = tmp_path_factory.mktemp("sft") / "rows.jsonl"
    path.write_text("".join(json.dumps({"messages": _conversation(rng)}) + "\n" for _ in range(12)))
    return path


def make_grpo_trainer(model_dir, out, reward, **kw):
    """A CotforgeGRPOTrainer on the tiny model: 2 prompts x 4 generations per step, 12 new tokens."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig

    from cotforge.testing.tiny_model import tiny_prompt
    from cotforge.trainers.grpo import _trainer_class

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ds = datasets.Dataset.from_list([{"prompt": tiny_prompt(a, 2)} for a in range(8)])
    args = GRPOConfig(output_dir=str(out), use_cpu=True, bf16=False, beta=0.0, scale_rewards="none", loss_type="bnpo",
                      num_generations=4, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                      max_completion_length=12, max_steps=2, report_to="none", logging_steps=1, save_strategy="no",
                      temperature=0.7, seed=0)
    trainer = _trainer_class()(model=model, reward_funcs=[reward], args=args, train_dataset=ds, processing_class=tok, **kw)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); the tests call the steps directly
    trainer.model.train()
    return trainer, ds
