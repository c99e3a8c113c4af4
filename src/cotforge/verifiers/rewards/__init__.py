"""Rewards for RL on top of the verifiers, and adapters with TRL's reward-function signature.

- :mod:`.shaping`: plain terms, one number from one completion (format rules, correctness from a
  verdict, cosine length scaling, repetition penalties, soft overlong), with their scales.
- :mod:`.presets`: the warm-up-before-RLVR and Logic-RL reward tables.
- :mod:`.adapters`: ``*_func`` factories returning TRL reward functions, and
  :func:`combined_reward_func`.
- :mod:`.think`: whether a prompt (plain, or rendered with its chat template) opened ``<think>``.

What a completion can cause never earns more than a wrong answer: no answer, truncation, a
timeout and an answer that breaks the checker all score as wrong; ``None`` (left out by TRL) is
only for an item that cannot be graded (an unparsable gold, a verifier that could not be set up).
"""

from cotforge.verifiers.rewards.adapters import (
    GoldSpec,
    combined_reward_func,
    correctness_reward_func,
    cosine_reward_func,
    format_reward_func,
    grade_batch,
    logic_rl_reward_func,
    repetition_penalty_func,
    soft_overlong_reward_func,
    warmup_reward_func,
)
from cotforge.verifiers.rewards.presets import (
    WARMUP_DOMAINS,
    correctness_or_score,
    logic_rl_reward,
    warmup_reward,
)
from cotforge.verifiers.rewards.shaping import (
    FORMAT_RULES,
    correctness_reward,
    cosine_scaled_reward,
    format_check,
    format_reward,
    repetition_penalties,
    repetition_penalty,
    repetition_penalty_mean,
    soft_overlong_penalty,
    text_repetition_penalty,
    ungradable,
)
from cotforge.verifiers.rewards.think import prompt_opens_think, template_opens_think, text_opens_think

__all__ = [
    "FORMAT_RULES",
    "GoldSpec",
    "WARMUP_DOMAINS",
    "combined_reward_func",
    "correctness_or_score",
    "correctness_reward",
    "correctness_reward_func",
    "cosine_reward_func",
    "cosine_scaled_reward",
    "format_check",
    "format_reward",
    "format_reward_func",
    "grade_batch",
    "logic_rl_reward",
    "logic_rl_reward_func",
    "prompt_opens_think",
    "repetition_penalties",
    "repetition_penalty",
    "repetition_penalty_func",
    "repetition_penalty_mean",
    "soft_overlong_penalty",
    "soft_overlong_reward_func",
    "template_opens_think",
    "text_opens_think",
    "text_repetition_penalty",
    "ungradable",
    "warmup_reward",
    "warmup_reward_func",
]
