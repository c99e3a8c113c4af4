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
