"""GRPO wrapper: advantage and loss normaliser of the warm-up settings, annealed temperature in
sampling and log-probs, rebalanced groups, and the private TRL hooks these rely on."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from cotforge.trainers.grpo import annealed_temperature, rebalance_groups, set_fused_head_temperature  # noqa: E402
from tests.trainers.conftest import make_grpo_trainer  # noqa: E402


class Recorder:
    """A reward with variance inside each group (token-id sum mod 7) that remembers what it returned."""

    __name__ = "recorder"

    def __init__(self):
        self.calls = []

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kw):
        r = [float(sum(ids) % 7) for ids in completion_ids]
        self.calls.append(r)
        return r


def _batch(ds):
    return [ds[i] for i in range(2) for _ in range(4)]  # TRL's sampler repeats each prompt num_generations times


@pytest.fixture(scope="module")
def plain(tiny_model_dir, tmp_path_factory):
    reward = Recorder()
    trainer, ds = make_grpo_trainer(tiny_model_dir, tmp_path_factory.mktemp("grpo"), reward)
    return trainer, ds, reward


def test_advantage_is_reward_minus_group_mean(plain):
    trainer, ds, reward = plain
    out = trainer._generate_and_score_completions(_batch(ds))
    r = torch.tensor(reward.calls[-1]).view(-1, 4)
    expected = (r - r.mean(dim=1, keepdim=True)).flatten()
    assert torch.allclose(out["advantages"], expected)
    assert r.std(dim=1).min() > 0  # otherwise no std division would be indistinguishable from one


def test_bnpo_normaliser_is_micro_batch_token_count(plain):
    trainer, ds, _ = plain
    out = trainer._generate_and_score_completions(_batch(ds))
    # Give the completions different lengths so that the normaliser matters.
    lengths = torch.tensor([12, 3, 7, 1, 12, 5, 2, 9])
    cols = torch.arange(out["completion_mask"].size(1)).unsqueeze(0)
    out["completion_mask"] = (cols < lengths.unsqueeze(1)).to(out["completion_mask"].dtype)
    loss = trainer._compute_loss(trainer.model, out)
    adv = out["advantages"]
    # one iteration: ratio 1, per-token loss = -advantage; summed over tokens / tokens in the micro-batch
    expected = -(adv * lengths).sum() / lengths.sum()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    dr_grpo = -(adv * lengths).sum() / (len(lengths) * trainer.max_completion_length)
    assert abs(expected.item() - dr_grpo.item()) > 1e-3


def test_warmup_defaults_are_bnpo_without_std_or_kl():
    from cotforge.trainers.grpo import GRPO_DEFAULTS

    assert GRPO_DEFAULTS["loss_type"] == "bnpo"
    assert GRPO_DEFAULTS["scale_rewards"] == "none"
    assert GRPO_DEFAULTS["beta"] == 0.0


def test_annealed_temperature_schedule():
    kw = dict(start=1.0, end=0.6, fraction=0.5)
    assert annealed_temperature(0, 100, **kw) == pytest.approx(1.0)
    assert annealed_temperature(25, 100, **kw) == pytest.approx(0.8)
    assert annealed_temperature(50, 100, **kw) == pytest.approx(0.6)
    assert annealed_temperature(90, 100, **kw) == pytest.approx(0.6)


def _logps(model, ids):
    labels = ids.clone()
    return model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels, fused_lm_head=True).log_probs


def test_fused_head_temperature_hook(plain):
    """The private hook: TRL binds the temperature in the fused head's closure; setting it changes log-probs."""
    trainer, _, _ = plain
    model = trainer.model
    ids = torch.tensor([[1, 5, 9, 14, 30, 41, 2]])
    assert set_fused_head_temperature(model, 0.5) == 1
    with torch.no_grad():
        got = _logps(model, ids)[0]
        logits = model(input_ids=ids).logits[0, :-1] / 0.5
    want = torch.log_softmax(logits.float(), -1).gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(got, want, atol=1e-4)
    set_fused_head_temperature(model, trainer.temperature)


def test_annealed_temperature_in_sampling_and_logprobs(tiny_model_dir, tmp_path):
    trainer, ds = make_grpo_trainer(tiny_model_dir, tmp_path, Recorder(),
                                    temperature_schedule={"start": 1.0, "end": 0.6, "fraction": 0.5})
    trainer.state.max_steps, trainer.state.global_step = 10, 2
    trainer._generate_and_score_completions(_batch(ds))
    t = annealed_temperature(2, 10, start=1.0, end=0.6, fraction=0.5)
    assert t == pytest.approx(0.84)
    assert trainer.temperature == pytest.approx(t)
    assert trainer.generation_config.temperature == pytest.approx(t)  # sampling (HF generate)
    ids = torch.tensor([[1, 5, 9, 14, 30, 41, 2]])
    with torch.no_grad():
        got = _logps(trainer.model, ids)[0]  # log-probs the loss uses
        logits = trainer.model(input_ids=ids).logits[0, :-1] / t
    want = torch.log_softmax(logits.float(), -1).gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(got, want, atol=1e-4)


def test_rebalance_groups_rule():
    r = torch.tensor([
        2.0, -0.5, -0.5, -1.0,   # 1/4 correct: keep the positive + 1 negative
        2.0, 2.0, 2.0, -0.5,     # 3/4 > 50%: dropped
        -0.5, -1.0, -0.5, -2.0,  # no positive: nothing to balance, dropped
        2.0, 2.0, -0.5, -1.0,    # 2/4 = 50%: kept, both positives + both negatives
    ])
    keep, adv = rebalance_groups(r, 4, generator=torch.Generator().manual_seed(0))
    k = keep.view(4, 4)
    assert k[0, 0] and k[0].sum() == 2
    assert not k[1].any() and not k[2].any()
    assert k[3].all()
    kept0 = r.view(4, 4)[0][k[0]]
    assert torch.allclose(adv.view(4, 4)[0][k[0]], kept0 - kept0.mean())
    assert torch.allclose(adv.view(4, 4)[3], r.view(4, 4)[3] - r.view(4, 4)[3].mean())
    assert (adv[~keep] == 0).all()


def test_rebalanced_batch_recomputes_advantages_and_token_count(tiny_model_dir, tmp_path):
    class Binary(Recorder):
        def __call__(self, prompts=None, completions=None, completion_ids=None, **kw):
            r = [2.0 if sum(ids) % 3 == 0 else -0.5 for ids in completion_ids]
            self.calls.append(r)
            return r

    reward = Binary()
    trainer, ds = make_grpo_trainer(tiny_model_dir, tmp_path, reward, rebalance={"max_accuracy": 0.5})
    for _ in range(3):  # until some group survives
        out = trainer._generate_and_score_completions(_batch(ds))
        r = torch.tensor(reward.calls[-1])
        keep = out["completion_mask"].sum(dim=1) > 0
        if keep.any():
            break
    assert keep.any(), "no group had 1-2 positives of 4 in three tries"
    for g in range(2):
        rg, kg = r[4 * g: 4 * g + 4], keep[4 * g: 4 * g + 4]
        pos = rg > 0
        if kg.any():
            assert pos.sum() <= 2 and (kg & pos).sum() == pos.sum() and (kg & ~pos).sum() == pos.sum()
            assert torch.allclose(out["advantages"][4 * g: 4 * g + 4][kg], rg[kg] - rg[kg].mean())
        assert (out["advantages"][4 * g: 4 * g + 4][~kg] == 0).all()
    assert out["num_items_in_batch"].item() == out["completion_mask"].sum().item()


def _fused_temperature(model):
    """The temperature bound in TRL's fused-head closure (the value the training log-probs divide by)."""
    f = model.forward.__func__
    return f.__closure__[f.__code__.co_freevars.index("temperature")].cell_contents


def test_schedule_through_train_moves_sampling_and_logprob_temperature(tiny_model_dir, tmp_path):
    """A real ``trainer.train()``: each step's generate call and its loss see the same annealed temperature."""
    trainer, _ = make_grpo_trainer(tiny_model_dir, tmp_path, Recorder(),
                                   temperature_schedule={"start": 1.0, "end": 0.6, "fraction": 0.5})
    trainer.args.max_steps = 4
    sampled, scored = [], []
    generate, compute_loss = trainer.model.generate, trainer._compute_loss

    def spy_generate(*a, generation_config=None, **kw):
        sampled.append(generation_config.temperature)
        return generate(*a, generation_config=generation_config, **kw)

    def spy_loss(model, inputs):
        scored.append(_fused_temperature(trainer.model))
        return compute_loss(model, inputs)

    trainer.model.generate, trainer._compute_loss = spy_generate, spy_loss
    trainer.train()
    want = [annealed_temperature(s, 4, start=1.0, end=0.6, fraction=0.5) for s in range(4)]
    assert want == pytest.approx([1.0, 0.8, 0.6, 0.6])
    assert sampled == pytest.approx(want)
    assert scored == pytest.approx(want)
    logged = [h["temperature"] for h in trainer.state.log_history if "temperature" in h]
    assert logged == pytest.approx(want)
