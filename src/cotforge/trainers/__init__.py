"""Thin TRL 1.16 wrappers for the three recipes' training stages (design principle 8: flat files).

- :mod:`.sft`: completion-only SFT, filtering rows before TRL and reporting what it kept, dropped, cut.
- :mod:`.dpo`: DPO on ``cotforge pairs`` rows (conversational preference format).
- :mod:`.grpo`: GRPO with the warm-up recipe's loss (``beta=0``, ``scale_rewards="none"``,
  ``loss_type="bnpo"``), temperature annealing that moves sampling and log-prob temperature
  together, and Phi-4-Mini's reward rebalancing.
- :mod:`.ppo`: PPO with a critic and per-type discounted returns (and the critic-free
  ``reinforce`` variant), written here because TRL 1.16 has no PPO trainer.
- :mod:`.recipe`: runs a recipe file's stages in order, each reading the previous stage's output.

Nothing here imports torch, transformers or TRL at module level; each stage imports them when it runs.
"""

STAGES = {
    "sft": "cotforge.trainers.sft:run_sft",
    "dpo": "cotforge.trainers.dpo:run_dpo",
    "grpo": "cotforge.trainers.grpo:run_grpo",
    "ppo": "cotforge.trainers.ppo:run_ppo",
}


def get_stage(kind: str):
    """The ``run_<kind>(cfg, ...)`` function of a training stage, imported lazily."""
    import importlib

    from cotforge.errors import UsageError

    if kind not in STAGES:
        raise UsageError(f"unknown training stage {kind!r}; choose one of {', '.join(STAGES)}")
    module, attr = STAGES[kind].split(":")
    return getattr(importlib.import_module(module), attr)
