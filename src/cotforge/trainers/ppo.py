"""PPO with a critic and per-type discounted returns (recipe 2, the long-CoT study), written here:
TRL removed ``PPOTrainer`` in 1.13, and it never took rule-based, per-token or per-type rewards.

One step, flat:

1. sample ``samples_per_prompt`` completions for each of ``prompts_per_step`` prompts (HF generate);
2. score them: each reward *type* is a per-token vector over the completion: a sequence reward
   (e.g. the cosine length-scaled correctness reward) sits on the last token, a dense one (the
   40-gram repetition penalty) on its tokens, and the reference KL penalty ``-kl_coef * (log pi -
   log pi_ref)`` on every token;
3. return per type with its own discount (``gamma`` 1.0 for correctness, 0.999 for repetition),
   summed over types; with lambda = 1 the advantage is return - value;
4. update the policy with the clipped PPO surrogate (actor LR 5e-7) and the critic with a clipped
   value loss against the returns (critic LR 9e-6).

The critic is a copy of the policy's backbone with a scalar value head (:class:`ValueModel`).
``variant: reinforce`` is the critic-free variant (the authors' fork names it so): the same
multi-gamma returns, advantage = return, no critic. Generation and log-probs use transformers;
``accelerate launch`` runs the loop data-parallel (each process its own prompts).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cotforge.errors import UsageError

PPO_KEYS = ("rewards", "max_prompt_length", "variant")
VARIANTS = ("ppo", "reinforce")


@dataclasses.dataclass
class PPOSettings:
    """The ``args`` of a PPO stage (defaults: the long-CoT study's OpenRLHF runs, RECIPES.md section 2)."""

    output_dir: str = "ppo"
    learning_rate: float = 5e-7  # actor
    critic_learning_rate: float = 9e-6
    kl_coef: float = 0.01  # initial KL, fixed here (no adaptive controller)
    lam: float = 1.0  # GAE lambda; 1 makes the advantage return - value
    clip_range: float = 0.2
    value_clip_range: float = 0.2
    prompts_per_step: int = 8
    samples_per_prompt: int = 4
    ppo_epochs: int = 1
    max_steps: int = 100
    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    max_grad_norm: float = 1.0
    seed: int = 42
    logging_steps: int = 1
    use_cpu: bool = False
    bf16: bool = False
    fp16: bool = False
    gradient_checkpointing: bool = False


def discounted_returns(rewards, gamma: float, mask):
    """``G_t = r_t + gamma * G_{t+1}`` along the last dim, over the masked (completion) tokens."""
    import torch

    rewards = rewards * mask
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.size(-1) - 1, -1, -1):
        running = rewards[..., t] + gamma * running * mask[..., t]
        out[..., t] = running
    return out * mask


def multi_gamma_returns(rewards: Mapping[str, Any], gammas: Mapping[str, float], mask):
    """The sum over reward types of each type's discounted return (its own gamma)."""
    total = None
    for name, r in rewards.items():
        g = discounted_returns(r, gammas[name], mask)
        total = g if total is None else total + g
    return total


def gae_advantages(rewards: Mapping[str, Any], gammas: Mapping[str, float], values, mask, lam: float = 1.0):
    """``(advantages, returns)``: with lambda = 1 (the study's setting, the only one supported: each
    type has its own discount) the advantage is the multi-gamma return minus the value; without a
    critic (``values=None``, the ``reinforce`` variant) it is the return."""
    if lam != 1.0:
        raise UsageError(f"lam={lam}: per-type discounts are implemented for lambda = 1 (advantage = return - value)")
    returns = multi_gamma_returns(rewards, gammas, mask)
    adv = (returns - values) * mask if values is not None else returns
    return adv, returns


def last_token_rewards(scores: Sequence[float], mask):
    """A sequence reward per row placed on the row's last completion token."""
    import torch

    out = torch.zeros_like(mask, dtype=torch.float32)
    lengths = mask.sum(dim=-1).long()
    for i, (s, n) in enumerate(zip(scores, lengths.tolist())):
        if n > 0:
            out[i, n - 1] = float(s)
    return out


def value_model(policy_path: str):
    """The critic: the policy's backbone (loaded again) with a zero-initialised scalar head."""
    import torch
    from transformers import AutoModelForCausalLM

    class ValueModel(torch.nn.Module):
        def __init__(self, path):
            super().__init__()
            lm = AutoModelForCausalLM.from_pretrained(path)
            self.backbone = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.base_model
            self.head = torch.nn.Linear(lm.config.hidden_size, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids, attention_mask):
            h = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                              position_ids=position_ids(attention_mask)).last_hidden_state
            return self.head(h).squeeze(-1)

    return ValueModel(policy_path)


def position_ids(attention_mask):
    """Positions counted from each row's first real token, as ``generate`` numbers a left-padded row
    (a plain forward would start at the padding and score another sequence than the one sampled)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_logprobs(model, input_ids, attention_mask, n_completion: int, temperature: float):
    """Log-probs of the last ``n_completion`` tokens of ``input_ids`` under ``model`` (at ``temperature``)."""
    import torch

    logits = model(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=position_ids(attention_mask)).logits[:, -n_completion - 1:-1].float()
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, input_ids[:, -n_completion:].unsqueeze(-1)).squeeze(-1)


def build_reward_types(specs: Any, *, columns: Sequence[str], max_new_tokens: int, tokenizer: Any, where: str):
    """``[(name, kind, fn, gamma)]``: ``kind`` is ``sequence`` (a TRL reward adapter, on the last token)
    or ``repetition`` (the dense n-gram penalty on token ids)."""
    from cotforge.trainers.rewards import build_rewards

    if not isinstance(specs, list) or not specs:
        raise UsageError(f"{where}: 'rewards' must list reward types ({{type, gamma, func | dense}})")
    out = []
    for i, raw in enumerate(specs):
        if not isinstance(raw, Mapping) or "type" not in raw or "gamma" not in raw:
            raise UsageError(f"{where}: rewards[{i}]: needs 'type' (a name) and 'gamma' (its discount)")
        spec = dict(raw)
        name, gamma = str(spec.pop("type")), float(spec.pop("gamma"))
        if not 0 < gamma <= 1:
            raise UsageError(f"{where}: rewards[{i}]: gamma must lie in (0, 1], got {gamma}")
        if spec.get("dense") == "repetition":
            spec.pop("dense")
            ngram, penalty = int(spec.pop("ngram_size", 40)), float(spec.pop("penalty", -0.05))
            if spec:
                raise UsageError(f"{where}: rewards[{i}]: unknown key(s) {', '.join(spec)} for the repetition penalty")
            from cotforge.verifiers.rewards import repetition_penalties

            repetition_penalties([0], ngram_size=ngram, penalty=penalty)  # validates now
            fn = (lambda ngram, penalty: (lambda ids: repetition_penalties(ids, ngram_size=ngram, penalty=penalty)))(ngram, penalty)
            out.append((name, "repetition", fn, gamma))
        elif "func" in spec:
            funcs, weights = build_rewards([spec], columns=columns, where=where,
                                           fill={"max_completion_length": max_new_tokens, "tokenizer": tokenizer})
            out.append((name, "sequence", (funcs[0], weights[0]), gamma))
        else:
            raise UsageError(f"{where}: rewards[{i}]: give 'func' (a sequence reward) or 'dense: repetition'")
    if len({n for n, *_ in out}) != len(out) or "kl" in {n for n, *_ in out}:
        raise UsageError(f"{where}: reward type names must be distinct and not 'kl' (the KL penalty's own type)")
    return out


def _generate(policy, tokenizer, prompts: list[Any], s: PPOSettings, device):
    """Left-padded batch generation; returns (prompt+completion ids, attention mask, completion mask, n_prompt)."""
    import torch

    from cotforge.trainers.data import is_conversational

    texts = [tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in p], tokenize=False,
                                           add_generation_prompt=True) if is_conversational(p) else p for p in prompts]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    tokenizer.padding_side = side
    with torch.no_grad():
        seq = policy.generate(**enc, do_sample=True, temperature=s.temperature, top_p=s.top_p,
                              max_new_tokens=s.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    n_prompt = enc["input_ids"].size(1)
    comp = seq[:, n_prompt:]
    eos = tokenizer.eos_token_id
    is_eos = comp == eos
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full_like(is_eos[:, 0], comp.size(1), dtype=torch.long))
    cmask = (torch.arange(comp.size(1), device=device).unsqueeze(0) <= first.unsqueeze(1)).long()
    attn = torch.cat([enc["attention_mask"], cmask], dim=1)
    return seq, attn, cmask, n_prompt


def ppo_step(policy, ref, critic, opt_actor, opt_critic, tokenizer, rows: list[dict], reward_types, s: PPOSettings,
             device, *, accelerator=None, gen_model=None) -> dict[str, float]:
    """One rollout + update. Returns the step's metrics (mean reward per type, KL, losses).

    ``policy`` / ``critic`` may be wrapped for data parallelism (their forward syncs gradients);
    ``gen_model`` is the unwrapped policy used to generate (defaults to ``policy``)."""
    import torch

    gen_model = gen_model or policy
    backward = accelerator.backward if accelerator is not None else (lambda loss: loss.backward())

    prompts = [r["prompt"] for r in rows for _ in range(s.samples_per_prompt)]
    expanded = [r for r in rows for _ in range(s.samples_per_prompt)]
    policy.eval()
    seq, attn, cmask, n_prompt = _generate(gen_model, tokenizer, prompts, s, device)
    T = seq.size(1) - n_prompt
    m = cmask.float()
    with torch.no_grad():
        old_logp = token_logprobs(policy, seq, attn, T, s.temperature)
        ref_logp = token_logprobs(ref, seq, attn, T, s.temperature)
        values = critic(seq, attn)[:, -T - 1:-1] * m if critic is not None else None
    comp_ids = [seq[i, n_prompt:n_prompt + int(cmask[i].sum())].tolist() for i in range(len(prompts))]
    texts = tokenizer.batch_decode([ids[:-1] if ids and ids[-1] == tokenizer.eos_token_id else ids for ids in comp_ids])
    rewards, gammas, metrics = {}, {}, {}
    columns = {k: [r.get(k) for r in expanded] for k in expanded[0] if k != "prompt"}
    for name, kind, fn, gamma in reward_types:
        if kind == "repetition":
            dense = torch.zeros_like(m)
            for i, ids in enumerate(comp_ids):
                vals = fn(ids)
                dense[i, : len(vals)] = torch.tensor(vals, dtype=dense.dtype)
            rewards[name] = dense
        else:
            func, weight = fn
            scores = func(prompts=prompts, completions=texts, completion_ids=comp_ids, **columns)
            # None: the item cannot be graded (unparsable gold); it then earns nothing of this type.
            rewards[name] = last_token_rewards([0.0 if x is None else weight * x for x in scores], cmask)
        gammas[name] = gamma
        metrics[f"reward/{name}"] = float((rewards[name].sum(1)).mean())
    kl = (old_logp - ref_logp) * m
    rewards["kl"], gammas["kl"] = -s.kl_coef * kl, 1.0
    adv, returns = gae_advantages(rewards, gammas, values, m, s.lam)
    metrics.update(kl=float(kl.sum(1).mean()), reward=sum(metrics[f"reward/{n}"] for n, *_ in reward_types),
                   completion_length=float(m.sum(1).mean()))
    policy.train()
    for _ in range(s.ppo_epochs):
        logp = token_logprobs(policy, seq, attn, T, s.temperature)
        ratio = torch.exp(logp - old_logp)
        surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - s.clip_range, 1 + s.clip_range) * adv)
        policy_loss = -(surrogate * m).sum() / m.sum().clamp(min=1)
        opt_actor.zero_grad()
        backward(policy_loss)
        torch.nn.utils.clip_grad_norm_(policy.parameters(), s.max_grad_norm)
        opt_actor.step()
        metrics["policy_loss"] = float(policy_loss.detach())
        if critic is not None:
            v = critic(seq, attn)[:, -T - 1:-1]
            v_clipped = values + torch.clamp(v - values, -s.value_clip_range, s.value_clip_range)
            vloss = 0.5 * (torch.max((v - returns) ** 2, (v_clipped - returns) ** 2) * m).sum() / m.sum().clamp(min=1)
            opt_critic.zero_grad()
            backward(vloss)
            torch.nn.utils.clip_grad_norm_(critic.parameters(), s.max_grad_norm)
            opt_critic.step()
            metrics["value_loss"] = float(vloss.detach())
    return metrics


def run_ppo(cfg: Mapping[str, Any], *, recipe: Mapping[str, Any] | None = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one PPO (or ``variant: reinforce``) stage; returns the run record (also in ``output_dir``)."""
    from cotforge.trainers.card import write_model_card
    from cotforge.trainers.config import args_dict, build_args, check_stage
    from cotforge.trainers.data import load_data, load_model_and_tokenizer, require_stack
    from cotforge.trainers.grpo import filter_prompts
    from cotforge.trainers.stage import LOG_FILE, distributed_backend_name, check_output, jsonable

    where = "ppo config"
    check_stage(cfg, PPO_KEYS, where)
    variant = cfg.get("variant", "ppo")
    if variant not in VARIANTS:
        raise UsageError(f"{where}: variant: {variant!r}; choose one of {', '.join(VARIANTS)}")
    out = check_output(cfg["output_dir"], overwrite=bool(cfg.get("overwrite")))
    require_stack("ppo", trl=False)
    import copy

    import torch
    from accelerate import Accelerator

    s = build_args(PPOSettings, cfg.get("args"), output_dir=out, defaults={"seed": cfg.get("seed", 42)}, where=where)
    if s.lam != 1.0:
        raise UsageError(f"{where}: args: lam={s.lam}; per-type discounts are implemented for lambda = 1")
    dataset, info = load_data(cfg["data"], "ppo", required=[["prompt"]])
    policy, tokenizer = load_model_and_tokenizer(cfg["model"], chat_template=cfg.get("chat_template"))
    reward_types = build_reward_types(cfg.get("rewards"), columns=dataset.column_names,
                                      max_new_tokens=s.max_new_tokens, tokenizer=tokenizer, where=where)
    dataset, counts = filter_prompts(dataset, tokenizer, cfg.get("max_prompt_length"))
    accelerator = Accelerator(cpu=s.use_cpu, mixed_precision="bf16" if s.bf16 else "no")
    if accelerator.distributed_type.name == "DEEPSPEED" and variant == "ppo":
        # accelerate's DeepSpeed engine takes one model per Accelerator; the critic is a second one.
        raise UsageError(f"{where}: PPO with a critic does not run under DeepSpeed here; launch it data-parallel "
                         "(recipes/accelerate/cpu_2proc.yaml style, MULTI_GPU) or use variant: reinforce")
    torch.manual_seed(s.seed + accelerator.process_index)
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    critic = value_model(str(cfg["model"])) if variant == "ppo" else None
    opt_actor = torch.optim.AdamW(policy.parameters(), lr=s.learning_rate)
    if critic is not None:
        opt_critic = torch.optim.AdamW(critic.parameters(), lr=s.critic_learning_rate)
        policy, critic, opt_actor, opt_critic = accelerator.prepare(policy, critic, opt_actor, opt_critic)
    else:
        opt_critic = None
        policy, opt_actor = accelerator.prepare(policy, opt_actor)
    ref = ref.to(accelerator.device)
    rng = random.Random(s.seed + accelerator.process_index)
    order = list(range(len(dataset)))
    history: list[dict[str, Any]] = []
    cursor = len(order)
    unwrapped = accelerator.unwrap_model(policy)
    for step in range(s.max_steps):
        if cursor + s.prompts_per_step > len(order):
            rng.shuffle(order)
            cursor = 0
        rows = [dataset[i] for i in order[cursor:cursor + s.prompts_per_step]]
        cursor += s.prompts_per_step
        metrics = ppo_step(policy, ref, critic, opt_actor, opt_critic, tokenizer, rows, reward_types, s,
                           accelerator.device, accelerator=accelerator, gen_model=unwrapped)
        if accelerator.num_processes > 1:  # each process sampled its own prompts: log the mean over all of them
            names = sorted(metrics)
            means = accelerator.reduce(torch.tensor([metrics[k] for k in names], device=accelerator.device), "mean")
            metrics = dict(zip(names, means.tolist()))
        metrics["step"] = step + 1
        history.append(metrics)
        if accelerator.is_main_process and (step + 1) % s.logging_steps == 0:
            log(f"{variant} step {step + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "step"))
    accelerator.wait_for_everyone()
    from cotforge.store.atomic import write_json

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        unwrapped.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        if critic is not None:
            torch.save(accelerator.unwrap_model(critic).state_dict(), out / "critic.pt")
        write_json(out / LOG_FILE, history)
    rewards = [h["reward"] for h in history]
    report = {"variant": variant, "data_filter": counts, "global_steps": len(history),
              "gammas": {n: g for n, _, _, g in reward_types} | {"kl": 1.0},
              "first_reward": rewards[0] if rewards else None, "last_reward": rewards[-1] if rewards else None,
              "processes": accelerator.num_processes, "distributed_backend": distributed_backend_name()}
    record = {"stage": variant, "report": report}
    if accelerator.is_main_process:  # one writer for the card, as in the TRL stages
        record = write_model_card(out, stage=variant, base_model=str(cfg["model"]), data=info, config=jsonable(cfg),
                                  trainer_args=args_dict(s), report=report, recipe=recipe)
        log(f"{variant}: saved {out} ({len(history)} steps, {accelerator.num_processes} process(es))")
    accelerator.wait_for_everyone()
    return record
