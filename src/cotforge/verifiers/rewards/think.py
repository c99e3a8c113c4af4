"""Whether the prompt already opened ``<think>``, so a completion that starts inside the reasoning
is graded as if it began with the tag.

R1-style plain prompts end with ``Assistant: <think>``; chat templates of reasoning models
(DeepSeek-R1 distills, QwQ, Logic-RL's Qwen template) open it in the generation prompt. A
conversational prompt is therefore rendered with the tokenizer's (or a given) chat template before
it is checked; without one, only plain-text prompts can be read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


def text_opens_think(text: Any) -> bool:
    """True when ``text`` leaves a ``<think>`` block open: its last ``<think>`` comes after its last
    ``</think>`` (``"... Assistant: <think>"``, ``"<think>\\nOkay,"``)."""
    if not isinstance(text, str):
        return False
    opened = text.rfind("<think>")
    return opened >= 0 and opened > text.rfind("</think>")


@lru_cache(maxsize=16)
def _compiled(template: str) -> Any:
    """The template compiled once: reward functions render it for every completion of every step."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(ValueError(msg))
    return env.from_string(template)


def _render_template(template: str, messages: list[dict[str, Any]]) -> str:
    return _compiled(template).render(messages=messages, add_generation_prompt=True, bos_token="", eos_token="", tools=None)


def render_prompt(prompt: Any, tokenizer: Any = None, chat_template: str | None = None) -> str | None:
    """The prompt text the model continues: a plain string as it is; a list of messages through
    ``chat_template`` (a Jinja string) or ``tokenizer.apply_chat_template``; else ``None``."""
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, (list, tuple)) or not all(isinstance(m, dict) for m in prompt):
        return None
    messages = [dict(m) for m in prompt]
    if chat_template is not None:
        return _render_template(chat_template, messages)
    if tokenizer is not None:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return None


def template_opens_think(tokenizer: Any = None, chat_template: str | None = None) -> bool:
    """Whether a chat template's generation prompt opens ``<think>`` (checked on a one-turn chat)."""
    rendered = render_prompt([{"role": "user", "content": "Hi"}], tokenizer, chat_template)
    return text_opens_think(rendered)


def prompt_opens_think(
    prompt: Any, setting: bool | None = None, *, tokenizer: Any = None, chat_template: str | None = None
) -> bool:
    """``setting`` when given; else whether ``prompt`` (rendered as the model saw it) opens ``<think>``."""
    if setting is not None:
        return bool(setting)
    return text_opens_think(render_prompt(prompt, tokenizer, chat_template))
