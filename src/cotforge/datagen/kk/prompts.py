"""The R1-style chat prompt of the warm-up and Logic-RL recipes, as TRL conversational ``prompt``.

Logic-RL's released prompt (see ``/work/shared/data/kk/*/test.parquet``) packs a Qwen chat template
into one user string. Here the same instructions are a system message plus a user message, so any
tokenizer's chat template applies. The answer example shows the puzzle's own role words and a name
that is *not* in the puzzle (Logic-RL's fixed "Zoey" can coincide with an inhabitant and so hint at
an answer). Bump :data:`PROMPT_VERSION` whenever the text changes: it moves scores.
"""

from __future__ import annotations

from typing import Sequence

from cotforge.datagen.kk.render import RolePair

PROMPT_VERSION = "kk-r1-v1"

SYSTEM_PROMPT = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> "
    "and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)

_EXAMPLE_NAMES = ("Zoey", "Quinn", "Robin", "Morgan", "Jordan", "Taylor")


def user_prompt(quiz: str, names: Sequence[str], roles: RolePair) -> str:
    example = next(n for n in _EXAMPLE_NAMES if n not in names)
    return (
        f"{quiz}\n\nAfter thinking, when you finally reach a conclusion, clearly state the identity of each "
        f"character within <answer> </answer> tags, one line per character in the order they were introduced, "
        f"i.e., <answer> (1) {example} is {roles.a_knight}\n(2) ... </answer>."
    )


def chat_prompt(quiz: str, names: Sequence[str], roles: RolePair) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(quiz, names, roles)},
    ]


# Logic-RL's released prompt, verbatim (``data/kk/instruct/*/test.parquet``, one user string): the
# Qwen chat template with its system text, the quiz as the user turn, and the assistant turn opened
# with "<think>". Kept as released (double space, missing space before "<answer>", fixed "Zoey").
LOGIC_RL_SYSTEM = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> "
    "and<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here "
    "</answer>.  Now the user asks you to solve a logical reasoning problem. After thinking, when you finally reach "
    "a conclusion, clearly state the identity of each character within <answer> </answer> tags. i.e., <answer> (1) "
    "Zoey is a knight\n(2) ... </answer>.\n"
)


def logic_rl_prompt(quiz: str) -> str:
    """Logic-RL's prompt string for a quiz (Qwen template, assistant turn prefilled with <think>)."""
    return (
        f"<|im_start|>system\n{LOGIC_RL_SYSTEM}<|im_end|>\n<|im_start|>user\n{quiz}\n<|im_end|>\n"
        f"<|im_start|>assistant\n<think>"
    )
