"""PPO with a critic: multi-gamma returns and advantages against a hand-computed example, and short
runs of both variants on the tiny model."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from cotforge.errors import UsageError  # noqa: E402
from cotforge.trainers.ppo import gae_advantages, last_token_rewards, multi_gamma_returns  # noqa: E402


def test_two_gamma_returns_and_advantages_by_hand():
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    correctness = last_token_rewards([2.0, 1.0], mask.long())
    assert correctness.tolist() == [[0, 0, 2], [0, 1, 0]]
    repetition = torch.tensor([[0.0, -0.05, -0.05], [-0.05, 0.0, -0.05]])  # the padded token's -0.05 must not count
    values = torch.tensor([[0.5, 1.0, 1.5], [0.2, 0.4, 9.0]])
    rewards = {"correctness": correctness, "repetition": repetition}
    gammas = {"correctness": 1.0, "repetition": 0.9}
    adv, ret = gae_advantages(rewards, gammas, values, mask)
    # row 0: correctness return [2, 2, 2]; repetition t2 = -0.05, t1 = -0.05 + 0.9 * -0.05 = -0.095,
    # t0 = 0.9 * -0.095 = -0.0855
    want_ret0 = [2 - 0.0855, 2 - 0.095, 2 - 0.05]
    # row 1 (2 tokens): correctness [1, 1]; repetition t1 = 0, t0 = -0.05
    want_ret1 = [1 - 0.05, 1.0, 0.0]
    assert ret[0].tolist() == pytest.approx(want_ret0)
    assert ret[1].tolist() == pytest.approx(want_ret1)
    assert adv[0].tolist() == pytest.approx([want_ret0[i] - values[0, i].item() for i in range(3)])
    assert adv[1].tolist() == pytest.approx([want_ret1[0] - 0.2, 1.0 - 0.4, 0.0])
    # the critic-free variant: advantage = return
    adv_r, _ = gae_advantages(rewards, gammas, None, mask)
    assert torch.allclose(adv_r, ret)
    # one gamma for every type would differ: the per-type discount matters
    same = multi_gamma_returns(rewards, {"correctness": 0.9, "repetition": 0.9}, mask)
    assert not torch.allclose(same, ret)


def test_recipe_gammas_with_kl_by_hand():
    """The study's setting: cosine reward (gamma 1.0) on the last token, repetition penalty (gamma 0.999)
    on its tokens, the KL penalty (gamma 1) on every token; lambda 1, so advantage = return - value."""
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    cosine = last_token_rewards([1.5], mask.long())
    repetition = torch.tensor([[0.0, 0.0, -0.05, -0.05]])
    kl = torch.tensor([[-0.01, 0.02, 0.0, -0.03]])  # -kl_coef * (log pi - log pi_ref), per token
    values = torch.tensor([[1.0, 1.2, 1.4, 1.6]])
    adv, ret = gae_advantages({"correctness": cosine, "repetition": repetition, "kl": kl},
                              {"correctness": 1.0, "repetition": 0.999, "kl": 1.0}, values, mask)
    rep = [-0.05 * 0.999 ** 2 - 0.05 * 0.999 ** 3, -0.05 * 0.999 - 0.05 * 0.999 ** 2, -0.05 - 0.05 * 0.999, -0.05]
    kls = [-0.02, -0.01, -0.03, -0.03]  # undiscounted suffix sums of kl
    want = [1.5 + r + k for r, k in zip(rep, kls)]
    assert ret[0].tolist() == pytest.approx(want, abs=1e-7)
    assert adv[0].tolist() == pytest.approx([w - v for w, v in zip(want, values[0].tolist())], abs=1e-6)


def test_critic_learns_the_return(tiny_model_dir):
    """Value head learning: with a constant reward 1 on the last token (gamma 1, no KL) every token's return
    is 1; the critic's value loss on fresh rollouts falls as it is trained, the policy's update is real."""
    import copy

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cotforge.testing.tiny_model import tiny_prompt
    from cotforge.trainers.ppo import PPOSettings, ppo_step, value_model

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    critic = value_model(str(tiny_model_dir))
    s = PPOSettings(critic_learning_rate=3e-3, learning_rate=1e-4, kl_coef=0.0, prompts_per_step=2,
                    samples_per_prompt=2, max_new_tokens=8)
    opt_a = torch.optim.AdamW(policy.parameters(), lr=s.learning_rate)
    opt_c = torch.optim.AdamW(critic.parameters(), lr=s.critic_learning_rate)
    one = ("one", "sequence", (lambda completions=None, **kw: [1.0] * len(completions), 1.0), 1.0)
    rows = [{"prompt": tiny_prompt(a, 2)} for a in range(2)]
    before = [p.detach().clone() for p in policy.parameters()]
    losses = [ppo_step(policy, ref, critic, opt_a, opt_c, tok, rows, [one], s, "cpu")["value_loss"] for _ in range(8)]
    assert losses[0] == pytest.approx(0.5)  # zero-initialised head: 0.5 * (1 - 0)^2 on every token
    assert losses[-1] < 0.1 * losses[0]
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.parameters()))


def test_left_padded_rows_score_as_sampled(tmp_path):
    """A left-padded row (batched generation pads prompts on the left) gets the log-probs and values of
    the same row alone: positions start at its first real token. GPT-2 has absolute positions, so a
    forward that numbered the padding would differ (RoPE models hide it: a shift keeps relative positions)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from cotforge.trainers.ppo import token_logprobs, value_model

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=2)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "gpt2")
    model = GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2").eval()
    critic = value_model(str(tmp_path / "gpt2")).eval()
    torch.nn.init.normal_(critic.head.weight)
    ids = torch.tensor([[5, 9, 14, 30, 41, 7]])
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones_like(ids)], dim=1)
    with torch.no_grad():
        alone = token_logprobs(model, ids, torch.ones_like(ids), 3, 0.7)
        left = token_logprobs(model, padded, mask, 3, 0.7)
        v_alone, v_left = critic(ids, torch.ones_like(ids)), critic(padded, mask)[:, 3:]
        naive = torch.log_softmax(model(input_ids=padded, attention_mask=mask).logits[:, -4:-1] / 0.7, -1)
    assert torch.allclose(alone, left, atol=1e-5)
    assert torch.allclose(v_alone, v_left, atol=1e-5)
    naive = naive.gather(-1, padded[:, -3:].unsqueeze(-1)).squeeze(-1)
    assert not torch.allclose(alone, naive, atol=1e-3)  # the numbering matters for this model


def _rl_rows(path, n=6):
    from cotforge.testing.tiny_model import tiny_prompt

    rows = [{"prompt": tiny_prompt(a, 3), "answer": str(a + 3)} for a in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cfg(model, data, out, variant):
    return {"model": str(model), "data": str(data), "output_dir": str(out), "variant": variant,
            # a text-only sequence reward keeps the test off the verifier pool (its start-up costs seconds)
            "rewards": [{"type": "format", "gamma": 1.0, "func": "format_reward_func", "rule": "logic_rl"},
                        {"type": "repetition", "gamma": 0.999, "dense": "repetition", "ngram_size": 4}],
            "args": {"max_steps": 2, "prompts_per_step": 2, "samples_per_prompt": 2, "max_new_tokens": 16,
                     "learning_rate": 1e-4, "critic_learning_rate": 1e-3}}


@pytest.mark.parametrize("variant", ["ppo", "reinforce"])
def test_run_ppo_variants(tiny_model_dir, tmp_path, variant):
    from transformers import AutoModelForCausalLM

    from cotforge.trainers.ppo import run_ppo

    out = tmp_path / variant
    record = run_ppo(_cfg(tiny_model_dir, _rl_rows(tmp_path / "rl.jsonl"), out, variant), log=lambda s: None)
    AutoModelForCausalLM.from_pretrained(out)
    history = json.loads((out / "log_history.json").read_text())
    assert len(history) == 2 and all("reward/format" in h and "kl" in h for h in history)
    assert ("value_loss" in history[0]) == (variant == "ppo")
    assert (out / "critic.pt").is_file() == (variant == "ppo")
    assert record["report"]["gammas"] == {"format": 1.0, "repetition": 0.999, "kl": 1.0}


def test_ppo_config_errors(tiny_model_dir, tmp_path):
    from cotforge.trainers.ppo import run_ppo

    data = _rl_rows(tmp_path / "rl.jsonl")
    cfg = _cfg(tiny_model_dir, data, tmp_path / "o", "ppo")
    cfg["rewards"][0].pop("gamma")
    with pytest.raises(UsageError, match="gamma"):
        run_ppo(cfg)
    cfg = _cfg(tiny_model_dir, data, tmp_path / "o", "ppo")
    cfg["args"]["lam"] = 0.95
    with pytest.raises(UsageError, match="lambda = 1"):
        run_ppo(cfg)
    cfg = _cfg(tiny_model_dir, data, tmp_path / "o", "critic")
    with pytest.raises(UsageError, match="variant"):
        run_ppo(cfg)
