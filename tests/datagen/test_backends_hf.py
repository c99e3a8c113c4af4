"""The hf backend on the tiny locally built model: seeding, finish reasons, stop strings, limits."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from cotforge.datagen.backends import get_backend  # noqa: E402
from cotforge.datagen.backends.base import GenerationRequest, SamplingParams  # noqa: E402
from cotforge.errors import UsageError  # noqa: E402
from cotforge.testing.tiny_model import tiny_prompt  # noqa: E402

SAMPLE = SamplingParams(n=3, temperature=1.0, max_tokens=48, seed=11)


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
    g = get_backend("hf", model=str(tiny_model_dir), device="cpu", batch_size=8, num_threads=1)
    yield g
    g.close()


def requests(k: int = 4) -> list[GenerationRequest]:
    return [GenerationRequest(f"q{i}", tiny_prompt(i, 3 * i + 1)) for i in range(k)]


def texts(rows):
    return [[c.text for c in row] for row in rows]


@pytest.fixture(scope="module")
def baseline(gen):
    return gen.generate(requests(), SAMPLE)


def test_shape_indices_and_token_counts(baseline, gen):
    assert [len(row) for row in baseline] == [3, 3, 3, 3]
    for i, row in enumerate(baseline):
        rendered = gen.tokenizer.apply_chat_template(tiny_prompt(i, 3 * i + 1), add_generation_prompt=True, tokenize=False)
        prompt_len = len(gen.tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert [c.sample_index for c in row] == [0, 1, 2]
        for c in row:
            assert c.ok and c.finish_reason in ("stop", "length")
            assert 1 <= c.completion_tokens <= 48
            assert c.prompt_tokens == prompt_len
    # the model was trained on <think>..</think> <answer>..</answer>: most samples carry a reasoning part
    assert sum(c.reasoning is not None for row in baseline for c in row) >= 6


def test_same_seed_same_completions_other_seed_other_completions(gen, baseline):
    assert texts(gen.generate(requests(), SAMPLE)) == texts(baseline)
    other = gen.generate(requests(), SAMPLE.replace(seed=12))
    assert texts(other) != texts(baseline)
    # samples of one prompt differ from each other (each has its own seed)
    assert len({c.text for row in baseline for c in row}) > 6


def test_a_sample_does_not_depend_on_batch_n_or_neighbours(tiny_model_dir, baseline):
    # batch of one row at a time, only two prompts in reverse order, and n=2 instead of 3
    with get_backend("hf", model=str(tiny_model_dir), device="cpu", batch_size=1, num_threads=1) as solo:
        rows = solo.generate(list(reversed(requests()[:2])), SAMPLE.replace(n=2))
    assert texts(rows) == [texts(baseline)[1][:2], texts(baseline)[0][:2]]


def test_sampling_leaves_the_global_torch_rng_alone(gen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    gen.generate(requests(2), SAMPLE)
    assert torch.equal(torch.rand(3), expected)


def test_greedy_samples_agree_and_top_k_one_is_greedy(gen):
    greedy = gen.generate(requests(2), SamplingParams(n=2, temperature=0.0, max_tokens=32))
    for row in greedy:
        assert row[0].text == row[1].text
    top1 = gen.generate(requests(2), SamplingParams(n=1, temperature=1.3, top_k=1, max_tokens=32, seed=5))
    assert [r[0].text for r in top1] == [r[0].text for r in greedy]


def test_tiny_top_p_is_greedy_too(gen):
    greedy = gen.generate(requests(2), SamplingParams(temperature=0.0, max_tokens=24))
    nucleus = gen.generate(requests(2), SamplingParams(temperature=1.0, top_p=1e-6, max_tokens=24, seed=3))
    assert texts(nucleus) == texts(greedy)


def test_max_tokens_gives_finish_reason_length(gen):
    rows = gen.generate(requests(2), SamplingParams(n=2, temperature=1.0, max_tokens=3, seed=1))
    for row in rows:
        for c in row:
            assert c.finish_reason == "length" and c.completion_tokens == 3


def test_eos_gives_finish_reason_stop_without_the_eos_text(gen, baseline):
    stopped = [c for row in baseline for c in row if c.finish_reason == "stop"]
    assert stopped, "the tiny model should end some samples on its own"
    for c in stopped:
        assert "<|im_end|>" not in c.text and c.completion_tokens < 48


@pytest.mark.parametrize("include", [True, False])
def test_stop_string_cuts_and_is_kept_or_dropped(gen, baseline, include):
    # Each sample is seeded on its own, so the run without a stop string (``baseline``) says what
    # every sample would have been: one that reaches </think> must be cut right there (finish
    # reason "stop", the stop string kept or dropped); one that ends by EOS or at the token limit
    # before any </think> must come out unchanged, with its own finish reason (EOS is "stop" too,
    # which is why the finish reason alone cannot tell a cut sample).
    params = SAMPLE.replace(stop=("</think>",), include_stop=include)
    rows = gen.generate(requests(), params)
    reached = 0
    for row, full_row in zip(rows, baseline):
        for c, full in zip(row, full_row):
            if "</think>" in full.text:
                reached += 1
                head = full.text.split("</think>", 1)[0]
                assert c.finish_reason == "stop"
                assert c.text == head + ("</think>" if include else "")
                assert "<answer>" not in c.text  # nothing after the stop string survives
            else:
                assert (c.text, c.finish_reason) == (full.text, full.finish_reason)
    assert reached, "some samples should reach </think>"


def test_stop_string_saves_tokens(gen, baseline):
    rows = gen.generate(requests(), SAMPLE.replace(stop=("</think>",)))
    assert sum(c.completion_tokens for r in rows for c in r) < sum(c.completion_tokens for r in baseline for c in r)


def test_prefill_is_continued_and_reasoning_read_from_an_open_think(gen):
    prefilled = GenerationRequest("pre", tiny_prompt(2, 2) + [{"role": "assistant", "content": "<think>"}])
    [row] = gen.generate([prefilled], SamplingParams(n=2, temperature=1.0, max_tokens=40, seed=4))
    for c in row:
        assert not c.text.startswith("<think>")  # it continues after the prefill
        assert c.reasoning is not None  # the completion starts inside <think>
        if "</think>" in c.text:
            assert c.reasoning == c.text.split("</think>")[0]


def test_prompt_over_the_context_is_an_error_result_not_a_crash(tiny_model_dir):
    with get_backend("hf", model=str(tiny_model_dir), device="cpu", max_model_len=24, num_threads=1) as small:
        long = GenerationRequest("long", [{"role": "user", "content": "What is 1 + 2? " * 12}])
        rows = small.generate([long, *requests(1)], SamplingParams(n=2, temperature=1.0, max_tokens=40, seed=1))
    assert [c.finish_reason for c in rows[0]] == ["error", "error"]
    assert "context length exceeded" in rows[0][0].error and rows[0][0].prompt_tokens > 24
    # the short prompt still runs; its budget is what the context leaves, so it cannot overrun
    for c in rows[1]:
        assert c.ok and c.prompt_tokens + c.completion_tokens <= 24


def test_a_template_error_fails_only_that_prompt(gen):
    bad = GenerationRequest("bad", [{"role": "tool", "content": "x"}])
    rows = gen.generate([bad, *requests(1)], SamplingParams(max_tokens=8, seed=0))
    assert rows[0][0].finish_reason == "error" and "unsupported role: tool" in rows[0][0].error
    assert rows[1][0].ok


def test_duplicate_prompt_ids_are_refused(gen):
    with pytest.raises(UsageError, match="duplicate prompt_id 'q0'"):
        gen.generate(requests(1) * 2, SAMPLE)


def test_unloadable_model_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot load model"):
        get_backend("hf", model=str(tmp_path / "nothing-here"))


# ---------------------------------------------------------------------- the tiny model itself


def test_tiny_model_loads_offline_with_a_full_chat_template(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "V"},
    ]
    assert tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
        "<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n"
    )
    # reasoning tags are single tokens that decoding keeps; the end-of-turn token is the EOS and is dropped
    ids = tok("<think>x</think><|im_end|>", add_special_tokens=False)["input_ids"]
    assert len(ids) == 4 and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "<think>x</think>"


def test_tiny_model_folder_is_reused(tiny_model_dir):
    from cotforge.testing.tiny_model import build_tiny_model

    before = {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()}
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir
    assert {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()} == before
