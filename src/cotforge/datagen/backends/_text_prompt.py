"""Chat messages -> one text prompt, for base-model teachers served on ``/v1/completions``.

A base model has no chat template: it continues text. The default format is the R1 / warm-up
recipe's: ``<system> User: <problem> Assistant: <think>\\n`` - the same text the distill ``text``
SFT config writes before each trace (``cotforge.datagen.distill.sft.warmup_text``), so a student
trained on that config sees exactly what the teacher saw.
"""

from __future__ import annotations

from cotforge.datagen.backends.base import GenerationRequest
from cotforge.errors import UsageError

#: ``{system}`` and ``{user}`` are replaced (plain text replacement: braces in a problem are safe);
#: without a system message, ``{system}`` and the space after it are dropped.
DEFAULT_TEXT_PROMPT = "{system} User: {user} Assistant: <think>\n"


def check_text_prompt(template: str) -> None:
    if not isinstance(template, str) or "{user}" not in template:
        raise UsageError(f"openai backend: prompt_format must be a string containing {{user}}, got {template!r}")


def render_text_prompt(request: GenerationRequest, template: str) -> str:
    """The text of ``request``: an optional system message and one user message through ``template``,
    then a trailing assistant prefill, verbatim. Any other conversation is refused: a base model's
    text format for it is not something to guess."""
    messages = list(request.messages)
    prefill = messages.pop()["content"] if request.continues_assistant else ""
    system = messages.pop(0)["content"] if messages and messages[0]["role"] == "system" else None
    if len(messages) != 1 or messages[0]["role"] != "user":
        roles = ", ".join(m["role"] for m in request.messages)
        raise UsageError(
            f"openai backend (endpoint=completions): prompt {request.prompt_id!r} has messages [{roles}]; a text "
            "prompt is built from an optional system message, one user message and an optional assistant prefill"
        )
    text = template.replace("{system} ", "").replace("{system}", "") if system is None else template.replace("{system}", system)
    return text.replace("{user}", messages[0]["content"]) + prefill
