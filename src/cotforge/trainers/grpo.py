"""GRPO on TRL's ``GRPOTrainer``, with the two things the recipes need that TRL 1.16 lacks.

Warm-up RLVR (recipe 1) is plain TRL: ``beta=0``, ``scale_rewards="none"`` (advantage = reward -
group mean), ``loss_type="bnpo"`` (token-sum over the micro-batch divided by its completion-token
count). Not ``dr_grpo``: that divides by batch x ``max_completion_length``.

Phi-4-Mini RLVR (recipe 3) adds, in :class:`CotforgeGRPOTrainer`:

- ``temperature_schedule: {start: 1.0, end: 0.6, fraction: 0.5}``: linear from ``start`` to
  ``end`` over the first ``fraction`` of the steps, then ``end``. TRL reads ``temperature`` once,
  for sampling *and* for the log-probs (the fused LM head divides logits by it), so the schedule
  sets both at the start of each generation batch: the HF generation config (or vLLM's sampling
  temperature) and the fused head's temperature. A batch is trained at the temperature it was
  sampled with.
- ``rebalance: {max_accuracy: 0.5, positive_threshold: 0.0}``: groups whose share of positive
  completions (total reward > ``positive_threshold``) is above ``max_accuracy`` are dropped; the
  others keep every positive and as many randomly drawn negatives; advantages (reward - mean of
  what is kept) and the loss's token count are recomputed over the kept completions (a dropped
  completion's tokens leave the completion mask).

Other config keys: ``rewards`` (see :mod:`cotforge.trainers.rewards`), ``max_prompt_length``
(prompts longer than it are filtered out of the data and counted; TRL no longer truncates prompts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cotforge.errors import UsageError

GRPO_KEYS = ("rewards", "max_prompt_length", "temperature_schedule", "rebalance")

#: warm-up-before-you-train's RLVR script (RECIPES.md section 1, [code]).
GRPO_DEFAULTS: dict[str, Any] = {
    "beta": 0.0,
    "scale_rewards": "none",
    "loss_type": "bnpo",
    "num_generations": 10,
    "per_device_train_batch_size": 10,  # [code]; TRL's default 8 is not a multiple of 10 generations
    "temperature": 0.7,
    "top_p": 0.95,
    "learning_rate": 1e-6,
    "adam_beta1": 0.9,
    "adam_beta2": 0.99,
    "weight_decay": 0.1,
    "max_completion_length": 4096,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
}


def annealed_temperature(step: int, max_steps: int, *, start: float, end: float, fraction: float) -> float:
    """Temperature at optimizer step ``step`` of ``max_steps``: linear ``start`` -> ``end`` over the
    first ``fraction`` of training, ``end`` afterwards."""
    span = max(1.0, fraction * max_steps)
    t = min(1.0, max(0.0, step / span))
    return float(start + (end - start) * t)


def check_schedule(raw: Any, where: str) -> dict[str, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"start", "end", "fraction"}:
        raise UsageError(f"{where}: temperature_schedule takes start, end, fraction (e.g. 1.0, 0.6, 0.5)")
    s = {"start": float(raw.get("start", 1.0)), "end": float(raw.get("end", 0.6)), "fraction": float(raw.get("fraction", 0.5))}
    if s["start"] <= 0 or s["end"] <= 0 or not 0 < s["fraction"] <= 1:
        raise UsageError(f"{where}: temperature_schedule needs positive temperatures and 0 < fraction <= 1, got {s}")
    return s


def check_rebalance(raw: Any, where: str) -> dict[str, float] | None:
    if raw is None or raw is False:
        return None
    raw = {} if raw is True else raw
    if not isinstance(raw, Mapping) or set(raw) - {"max_accuracy", "positive_threshold"}:
        raise UsageError(f"{where}: rebalance takes max_accuracy, positive_threshold (or true for 0.5, 0.0)")
    r = {"max_accuracy": float(raw.get("max_accuracy", 0.5)), "positive_threshold": float(raw.get("positive_threshold", 0.0))}
    if not 0 <= r["max_accuracy"] <= 1:
        raise UsageError(f"{where}: rebalance.max_accuracy must lie in [0, 1], got {r['max_accuracy']}")
    return r


def rebalance_groups(rewards, group_size: int, *, max_accuracy: float = 0.5, positive_threshold: float = 0.0,
                     generator=None):
    """``(keep, advantages)`` for a flat reward tensor of groups of ``group_size`` (NaN: unscorable).

    Per group: positives are rewards above ``positive_threshold``; accuracy = positives / scorable
    completions. Above ``max_accuracy`` (or with no positive) the group is dropped; otherwise all
    positives and ``n_pos`` negatives drawn at random are kept, and advantages are reward minus the
    mean of the kept rewards (0 where not kept).
    """
    import torch

    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.view(-1, group_size)
    keep = torch.zeros_like(grouped, dtype=torch.bool)
    for g in range(grouped.size(0)):
        r = grouped[g]
        scorable = ~torch.isnan(r)
        pos = scorable & (r > positive_threshold)
        neg = scorable & ~pos
        n_pos, n_scorable = int(pos.sum()), int(scorable.sum())
        if n_pos == 0 or n_pos / n_scorable > max_accuracy:
            continue
        neg_idx = torch.nonzero(neg).flatten()
        chosen = neg_idx[torch.randperm(len(neg_idx), generator=generator)[:n_pos]]
        keep[g, pos] = True
        keep[g, chosen] = True
    kept = torch.where(keep, grouped, torch.zeros_like(grouped))
    counts = keep.sum(dim=1, keepdim=True).clamp(min=1)
    means = kept.sum(dim=1, keepdim=True) / counts
    adv = torch.where(keep, grouped - means, torch.zeros_like(grouped))
    return keep.flatten(), adv.flatten()


def set_fused_head_temperature(model: Any, temperature: float) -> int:
    """Set the temperature of TRL's fused LM head (``trl.trainer.utils.add_fused_lm_head``) in place.

    TRL binds the temperature in the closure of the patched ``forward``; this rewrites that cell
    (also through accelerate's autocast wrapper and ``__wrapped__`` chains). Returns how many heads
    were set; 0 means the private hook changed shape (the test for this hook then fails).
    """
    seen, done = set(), 0
    stack = [getattr(model, "forward", None), getattr(model, "_original_forward", None)]
    while stack:
        f = stack.pop()
        f = getattr(f, "__func__", f)
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        code, cells = getattr(f, "__code__", None), getattr(f, "__closure__", None) or ()
        if code is not None and code.co_name == "_fused_forward" and "temperature" in code.co_freevars:
            cells[code.co_freevars.index("temperature")].cell_contents = float(temperature)
            done += 1
            continue
        stack.append(getattr(f, "__wrapped__", None))
        if code is not None:  # wrappers (accelerate's autocast) hold the inner forward in their closure
            for cell in cells:
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if callable(inner):
                    stack.append(inner)
    return done


def _trainer_class():
    from trl import GRPOTrainer

    class CotforgeGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` plus the temperature schedule and reward rebalancing (see the module doc)."""

        def __init__(self, *a, temperature_schedule: Mapping[str, float] | None = None,
                     rebalance: Mapping[str, float] | None = None, **kw):
            super().__init__(*a, **kw)
            self.temperature_schedule = dict(temperature_schedule) if temperature_schedule else None
            self.rebalance = dict(rebalance) if rebalance else None
            self._last_rewards_per_func = None

        # -- temperature -------------------------------------------------------------------------
        def set_temperature(self, temperature: float) -> None:
            """Sampling and log-prob temperature together (HF generation or vLLM, and the fused head)."""
            t = float(temperature)
            self.temperature = t
            if getattr(self, "generation_config", None) is not None:
                self.generation_config.temperature = t
            if isinstance(getattr(self, "generation_kwargs", None), dict):
                self.generation_kwargs["temperature"] = t
            if getattr(self, "vllm_generation", None) is not None:
                self.vllm_generation.temperature = t
            target = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            if set_fused_head_temperature(target, t) == 0:
                raise RuntimeError("TRL's fused LM head was not found on the model; the pinned TRL changed")
            if self.ref_model is not None:
                set_fused_head_temperature(self.ref_model, t)

        def temperature_at(self, step: int) -> float:
            s = self.temperature_schedule
            return annealed_temperature(step, max(1, self.state.max_steps), start=s["start"], end=s["end"],
                                        fraction=s["fraction"])

        # -- rewards -----------------------------------------------------------------------------
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            out = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._last_rewards_per_func = out  # gathered over processes, as TRL's advantage code sees it
            return out

        def _generate_and_score_completions(self, inputs):
            import torch

            train = self.model.training
            if train and self.temperature_schedule:
                self.set_temperature(self.temperature_at(self.state.global_step))
                self._metrics["train"]["temperature"].append(self.temperature)
            output = super()._generate_and_score_completions(inputs)
            if not (train and self.rebalance):
                return output
            rpf = self._last_rewards_per_func
            weights = self.reward_weights.to(rpf.device).unsqueeze(0)
            rewards = (rpf * weights).nansum(dim=1)
            rewards[torch.isnan(rpf).all(dim=1)] = torch.nan
            gen = torch.Generator().manual_seed(int(self.args.seed) * 100003 + int(self.state.global_step))
            keep, adv = rebalance_groups(rewards.cpu(), self.num_generations, generator=gen, **self.rebalance)
            n = len(inputs)
            local = slice(self.accelerator.process_index * n, (self.accelerator.process_index + 1) * n)
            device = output["advantages"].device
            keep_local = keep[local].to(device)
            output["advantages"] = adv[local].to(device=device, dtype=output["advantages"].dtype)
            output["completion_mask"] = output["completion_mask"] * keep_local.unsqueeze(1).to(output["completion_mask"].dtype)
            output["num_items_in_batch"] = self.accelerator.gather(output["completion_mask"].sum()).sum()
            groups = keep.view(-1, self.num_generations).any(dim=1)
            self._metrics["train"]["rebalance/kept_groups"].append(groups.float().mean().item())
            self._metrics["train"]["rebalance/kept_completions"].append(keep.float().mean().item())
            return output

    return CotforgeGRPOTrainer


def filter_prompts(dataset: Any, tokenizer: Any, max_prompt_length: int | None) -> tuple[Any, dict[str, int]]:
    """Drop rows whose rendered prompt is longer than ``max_prompt_length`` tokens; returns the counts."""
    from cotforge.trainers.data import is_conversational

    if max_prompt_length is None:
        return dataset, {"rows": len(dataset), "kept": len(dataset), "dropped_long_prompt": 0}

    def length(row):
        p = row["prompt"]
        text = (tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in p],
                                              tokenize=False, add_generation_prompt=True)
                if is_conversational(p) else p)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    keep = [i for i, row in enumerate(dataset) if length(row) <= max_prompt_length]
    counts = {"rows": len(dataset), "kept": len(keep), "dropped_long_prompt": len(dataset) - len(keep),
              "max_prompt_length": max_prompt_length}
    if not keep:
        raise UsageError(f"data: every prompt is longer than max_prompt_length={max_prompt_length} tokens")
    return dataset.select(keep), counts


def build_grpo_trainer(cfg: Mapping[str, Any], *, where: str = "grpo config", log: Callable[[str], None] = print):
    """``(trainer, tokenizer, data_info, data_report)`` for a checked config; nothing is trained yet."""
    from cotforge.trainers.config import build_args, check_stage
    from cotforge.trainers.data import load_data, load_model_and_tokenizer, require_stack
    from cotforge.trainers.rewards import build_rewards

    check_stage(cfg, GRPO_KEYS, where)
    require_stack("grpo")
    from trl import GRPOConfig

    schedule = check_schedule(cfg.get("temperature_schedule"), where)
    rebalance = check_rebalance(cfg.get("rebalance"), where)
    defaults = dict(GRPO_DEFAULTS, seed=cfg.get("seed", 42))
    args = build_args(GRPOConfig, cfg.get("args"), output_dir=cfg["output_dir"], defaults=defaults, where=where)
    if schedule:
        args.temperature = schedule["start"]
    dataset, info = load_data(cfg["data"], "grpo", required=[["prompt"]])
    model, tokenizer = load_model_and_tokenizer(cfg["model"], chat_template=cfg.get("chat_template"))
    funcs, weights = build_rewards(cfg.get("rewards"), columns=dataset.column_names, where=where,
                                   fill={"max_completion_length": args.max_completion_length, "tokenizer": tokenizer})
    args.reward_weights = weights
    dataset, counts = filter_prompts(dataset, tokenizer, cfg.get("max_prompt_length", 256))
    log(f"GRPO data: {counts['rows']} prompts -> kept {counts['kept']}, dropped {counts['dropped_long_prompt']} "
        f"longer than max_prompt_length")
    cls = _trainer_class()
    trainer = cls(model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer,
                  temperature_schedule=schedule, rebalance=rebalance)
    if schedule:
        trainer.set_temperature(schedule["start"])
    return trainer, tokenizer, info, counts


def run_grpo(cfg: Mapping[str, Any], *, recipe: Mapping[str, Any] | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one GRPO stage; returns the run record (also written to ``output_dir``)."""
    from cotforge.trainers.config import check_stage
    from cotforge.trainers.stage import check_output, jsonable, train_and_save

    check_stage(cfg, GRPO_KEYS, "grpo config")
    out = check_output(cfg["output_dir"], overwrite=bool(cfg.get("overwrite")))
    trainer, tokenizer, info, counts = build_grpo_trainer(cfg, log=log)
    history_rewards = []
    report = {"data_filter": counts, "loss_type": trainer.args.loss_type, "beta": trainer.args.beta,
              "scale_rewards": trainer.args.scale_rewards, "temperature_schedule": trainer.temperature_schedule,
              "rebalance": trainer.rebalance}
    record = train_and_save(trainer, tokenizer, out, stage="grpo", base_model=str(cfg["model"]), data=info,
                            config=jsonable(cfg), report=report, recipe=recipe, log=log)
    history_rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    if history_rewards:
        log(f"grpo: mean reward first {history_rewards[0]:.3f}, last {history_rewards[-1]:.3f}")
    return record
