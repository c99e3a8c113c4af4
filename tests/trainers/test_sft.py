"""SFT wrapper: prompt tokens masked, filter counts, packed vs unpacked batches, a saved model with its card,
and the checks that fail before training."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from cotforge.errors import UsageError  # noqa: E402


def _cfg(model, data, out, **kw):
    cfg = {"model": str(model), "data": str(data), "output_dir": str(out), "max_length": 64,
           "args": {"max_steps": 2, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                    "warmup_steps": 0, "learning_rate": 1e-3}}
    cfg.update(kw)
    return cfg


def test_labels_masked_on_prompt_tokens(tiny_model_dir, sft_jsonl, tmp_path):
    from transformers import AutoTokenizer

    from cotforge.trainers.sft import build_sft_trainer

    trainer, tok, _, acc = build_sft_trainer(_cfg(tiny_model_dir, sft_jsonl, tmp_path / "o"))
    row = trainer.train_dataset[0]
    first = json.loads(sft_jsonl.read_text().splitlines()[0])["messages"]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert "generation" not in tok.chat_template.replace("add_generation_prompt", "")  # no {% generation %} markers
    assert trainer.args.completion_only_loss and not trainer.args.assistant_only_loss
    prompt_text = tok.apply_chat_template(first[:1], tokenize=False, add_generation_prompt=True)
    plen = len(tok(prompt_text, add_special_tokens=False)["input_ids"])
    labels = row["labels"]
    assert all(x == -100 for x in labels[:plen])
    assert labels[plen:] == row["input_ids"][plen:]
    decoded = tok.decode(row["input_ids"][plen:])
    assert decoded.startswith("<think>") and decoded.endswith("<|im_end|>\n")  # answer and stop token trained on


def test_filter_counts_dropped_and_cut(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    import datasets
    from cotforge.trainers.sft_data import prepare_sft

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    long_q = "What is " + " plus ".join(["1"] * 40) + "?"
    rows = [
        {"messages": [{"role": "user", "content": "What is 1 + 2?"},
                      {"role": "assistant", "content": "<think>1 plus 2 is 3.</think> <answer>3</answer>"}]},
        {"messages": [{"role": "user", "content": long_q}, {"role": "assistant", "content": "<answer>40</answer>"}]},
        {"messages": [{"role": "user", "content": "What is 2 + 2?"},
                      {"role": "assistant", "content": "<think>" + "Wait, " * 30 + "</think> <answer>4</answer>"}]},
    ]
    ds = datasets.Dataset.from_list(rows)
    cols, acc = prepare_sft(ds, tok, max_length=40)
    assert (acc.rows, acc.kept, acc.dropped_prompt, acc.dropped_overlong, acc.cut) == (3, 1, 1, 1, 0)
    assert acc.examples == {"prompt_fills_max_length": [1], "overlong": [2]}
    cols, acc = prepare_sft(ds, tok, max_length=40, overlong="cut")
    assert (acc.kept, acc.dropped_prompt, acc.cut) == (2, 1, 1)
    assert all(len(ids) <= 40 for ids in cols["input_ids"])
    full = len(tok(tok.apply_chat_template(rows[2]["messages"], tokenize=False), add_special_tokens=False)["input_ids"])
    assert acc.tokens_cut == full - 40
    assert acc.tokens_kept == sum(len(x) for x in cols["input_ids"])


def test_text_rows_with_response_template(tiny_model_dir):
    from transformers import AutoTokenizer

    import datasets
    from cotforge.trainers.sft_data import prepare_sft

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ds = datasets.Dataset.from_list([{"text": "What is 1 + 2? Assistant: <think>\n1 plus 2 is 3.</think> <answer>3</answer>"}])
    cols, acc = prepare_sft(ds, tok, max_length=200, response_template=" Assistant: <think>\n")
    mask, ids = cols["completion_mask"][0], cols["input_ids"][0]
    trained = tok.decode([t for t, m in zip(ids, mask) if m])
    assert trained.startswith("1 plus 2") and trained.endswith(tok.eos_token)
    with pytest.raises(UsageError, match="response_template"):
        prepare_sft(ds, tok, max_length=200)


def test_packed_vs_unpacked_batches(tiny_model_dir, sft_jsonl, tmp_path):
    from cotforge.trainers.sft import build_sft_trainer

    plain, _, _, acc = build_sft_trainer(_cfg(tiny_model_dir, sft_jsonl, tmp_path / "a"))
    packed, _, _, _ = build_sft_trainer(_cfg(tiny_model_dir, sft_jsonl, tmp_path / "b", packing=True))
    b = next(iter(plain.get_train_dataloader()))
    assert b["input_ids"].shape[0] == 4 and "attention_mask" in b  # one padded row per example
    p = next(iter(packed.get_train_dataloader()))
    assert p["input_ids"].shape[0] == 1  # padding-free: the examples of the batch are concatenated
    starts = (p["position_ids"][0] == 0).sum().item()
    assert starts > 1  # several sequences in one row, each restarting its positions
    assert packed.args.packing_strategy == "bfd" and packed.args.padding_free
    total = sum(len(x) for x in packed.train_dataset["input_ids"])
    assert total == acc.tokens_kept  # bfd keeps every token of the (already filtered) rows


def test_run_sft_saves_loadable_model_with_card(tiny_model_dir, sft_jsonl, tmp_path):
    from transformers import AutoModelForCausalLM

    from cotforge.trainers.sft import run_sft

    out = tmp_path / "sft"
    record = run_sft(_cfg(tiny_model_dir, sft_jsonl, out), log=lambda s: None)
    AutoModelForCausalLM.from_pretrained(out)
    card = (out / "README.md").read_text()
    assert str(sft_jsonl) in card and record["data"]["content_hash"] in card
    assert record["report"]["data_filter"]["kept"] == 12
    assert record["report"]["global_steps"] == 2
    with pytest.raises(UsageError, match="finished stage"):
        run_sft(_cfg(tiny_model_dir, sft_jsonl, out))


@pytest.mark.parametrize("patch, message", [
    ({"lr": 1}, "unknown key 'lr'"),
    ({"args": {"learnin_rate": 1}}, "'learnin_rate' is not a SFTConfig field"),
    ({"model": "/nonexistent/model"}, "cannot be loaded"),
])
def test_bad_config_fails_before_training(tiny_model_dir, sft_jsonl, tmp_path, patch, message):
    from cotforge.trainers.sft import run_sft

    cfg = _cfg(tiny_model_dir, sft_jsonl, tmp_path / "x")
    cfg.update(patch)
    with pytest.raises(UsageError, match=message):
        run_sft(cfg)
    assert not (tmp_path / "x").exists()


def test_data_without_needed_columns(tiny_model_dir, tmp_path):
    from cotforge.trainers.sft import run_sft

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(UsageError, match="needs column"):
        run_sft(_cfg(tiny_model_dir, bad, tmp_path / "x"))


def test_interrupted_stage_resumes_from_checkpoint(tiny_model_dir, sft_jsonl, tmp_path):
    from cotforge.trainers.card import RUN_RECORD
    from cotforge.trainers.sft import run_sft

    out = tmp_path / "sft"
    cfg = _cfg(tiny_model_dir, sft_jsonl, out)
    cfg["args"].update(max_steps=1, save_strategy="steps", save_steps=1)
    run_sft(cfg, log=lambda s: None)
    assert (out / "checkpoint-1").is_dir()
    (out / RUN_RECORD).unlink()  # as if the run had stopped after its first checkpoint
    cfg["args"]["max_steps"] = 2
    logs = []
    record = run_sft(cfg, log=logs.append)
    assert any("resuming from" in line and "checkpoint-1" in line for line in logs)
    assert record["report"]["global_steps"] == 2
