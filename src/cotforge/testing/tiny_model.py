"""A tiny chat model built locally, for tests and the CPU demo (design principle 7).

``build_tiny_model(dir)`` writes a Llama-architecture causal LM (hidden 64, 2 layers, about 100k
parameters) and a byte-level BPE tokenizer trained here on a small built-in corpus, with a ChatML chat
template, all with ``save_pretrained``. Nothing is downloaded, so it works with ``HF_HUB_OFFLINE=1``.

The model is trained for a hundred steps (single-threaded) on R1-style arithmetic conversations
(``<think>...</think> <answer>...</answer>`` then ``<|im_end|>``), so its samples end on their own
sometimes, run into ``max_tokens`` other times and carry a reasoning part: enough to exercise every
finish reason and the reasoning split without a real model. Everything is seeded: the same seed
gives the same files and the same completions.

The build takes 2-6 seconds on two (busy) CPU cores; a finished folder is reused (a marker file
records the builder version and settings). Loading it with ``from_pretrained`` takes well under a second.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

#: Bump when the recipe changes, so cached folders are rebuilt.
BUILDER_VERSION = 2  # 2: the tokenizer's model_max_length follows the model's context
MARKER = "cotforge_tiny_model.json"

PAD, IM_START, IM_END = "<pad>", "<|im_start|>", "<|im_end|>"
#: Added as whole tokens but not "special": decoding keeps them (as Qwen/QwQ tokenizers do).
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

SYSTEM_PROMPT = (
    "You are a helpful assistant. Think first inside <think> </think>, then give the answer inside <answer> </answer>."
)

_NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack"]
_KK_LINES = [
    "A very special island is inhabited only by knights and knaves.",
    "Knights always tell the truth, and knaves always lie.",
    "So who is a knight and who is a knave?",
    "{a} said that {b} is a knight.",
    '"{b} is a knave," {a} declared.',
    "{a} told you that {b} is a knight if and only if {a} is a knave.",
    "Assume {a} is a knight. Then {b} is a knave. This contradicts the statement, so go back and reconsider.",
]


def _conversation(rng: random.Random) -> list[dict[str, str]]:
    """One R1-style training conversation: a small arithmetic question, reasoning, answer."""
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    op = rng.choice(["+", "-", "*"])
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    word = {"+": "plus", "-": "minus", "*": "times"}[op]
    steps = " ".join(rng.choice(["First,", "Then", "Wait,", "So", "Check:"]) for _ in range(rng.randint(1, 4)))
    think = f"{steps} {a} {word} {b} is {value}."
    return [
        {"role": "user", "content": f"What is {a} {op} {b}?"},
        {"role": "assistant", "content": f"<think>{think}</think> <answer>{value}</answer>"},
    ]


def _corpus(rng: random.Random, n: int) -> list[str]:
    lines = []
    for _ in range(n):
        a, b = rng.sample(_NAMES, 2)
        lines.append(rng.choice(_KK_LINES).format(a=a, b=b))
    return lines


def _render(messages: list[dict[str, str]]) -> str:
    return "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)


def _train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=IM_END,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[IM_START],
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )
    from tokenizers import AddedToken

    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return fast


def _train(model, optimizer, encoded: list[list[int]], pad_id: int, batch: int, steps: int, gen) -> None:
    """Plain next-token training on randomly drawn conversations (right padding, padded labels masked)."""
    import torch

    for _ in range(steps):
        idx = torch.randint(len(encoded), (batch,), generator=gen).tolist()
        rows = [encoded[i] for i in idx]
        width = max(len(r) for r in rows)
        ids = torch.full((batch, width), pad_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for k, r in enumerate(rows):
            ids[k, : len(r)] = torch.tensor(r)
            mask[k, : len(r)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def build_tiny_model(
    directory: str | Path,
    *,
    seed: int = 0,
    train_steps: int = 100,
    max_position_embeddings: int = 2048,
) -> Path:
    """Build (or reuse) the tiny chat model in ``directory``; returns the folder to ``from_pretrained``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(directory)
    spec = {
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "train_steps": train_steps,
        "max_position_embeddings": max_position_embeddings,
    }
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return out
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(seed)
    conversations = [_conversation(rng) for _ in range(2000)]
    texts = [_render(c) for c in conversations] + _corpus(rng, 400)
    tokenizer = _train_tokenizer(texts, vocab_size=448)
    # the tokenizer's length limit is the model's context, so a longer context warns at the right length
    tokenizer.model_max_length = max_position_embeddings

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)

    # Train on whole conversations (loss on every token: the model also learns the template).
    encoded = [tokenizer(_render(c), add_special_tokens=False)["input_ids"] for c in conversations]
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    model.train()
    batch = 16
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains faster on one thread than on contended cores
    try:
        _train(model, optimizer, encoded, tokenizer.pad_token_id, batch, train_steps, gen)
    finally:
        torch.set_num_threads(threads)
    model.eval()

    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # Check the folder loads on its own before declaring it built.
    AutoTokenizer.from_pretrained(out)
    AutoModelForCausalLM.from_pretrained(out)
    marker.write_text(json.dumps(spec))
    return out


def tiny_prompt(a: int, b: int, op: str = "+", system: bool = False) -> list[dict[str, str]]:
    """A chat prompt in the tiny model's training format (an arithmetic question, optionally a system turn)."""
    user = {"role": "user", "content": f"What is {a} {op} {b}?"}
    return [{"role": "system", "content": SYSTEM_PROMPT}, user] if system else [user]
