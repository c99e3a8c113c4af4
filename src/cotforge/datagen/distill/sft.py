"""SFT formats of the accepted rows, each a config of its own, derived from the finished ``all`` shards.

- ``messages`` -> config ``accepted`` (always written): TRL conversational ``messages`` (prompt
  turns + the assistant turn). TRL's loss then covers the whole conversation unless
  ``assistant_only_loss`` is set.
- ``prompt_completion`` -> config ``prompt_completion``: TRL's conversational prompt-completion
  format (``prompt`` = the chat prompt, ``completion`` = the assistant turn); TRL trains on the
  completion only (``completion_only_loss``, its default for this format).
- ``text`` -> config ``text``: the warm-up recipe's single text, ``<system> User: <problem>`` then
  :data:`RESPONSE_TEMPLATE` then the trace; train with the loss on what follows the template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.datagen.distill.worker import sft_assistant_text
from cotforge.errors import UsageError
from cotforge.records import MESSAGES

SFT_FORMATS = ("messages", "prompt_completion", "text")
DEFAULT_SFT_FORMATS = ("messages", "prompt_completion")
#: format -> the config it is written to
SFT_CONFIGS = {"messages": "accepted", "prompt_completion": "prompt_completion", "text": "text"}
#: The warm-up recipe's response template [code]: the loss covers only what follows it.
RESPONSE_TEMPLATE = " Assistant: <think>\n"

_COMMON = [
    ("id", pa.string()), ("prompt_id", pa.string()), ("sample_index", pa.int32()), ("domain", pa.string()),
]
_TAIL = [
    ("problem", pa.string()), ("answer", pa.string()), ("completion_tokens", pa.int32()), ("status", pa.string()),
    ("score", pa.float64()), ("prompt_pass_rate", pa.float64()), ("model", pa.string()), ("metadata", pa.string()),
]
PROMPT_COMPLETION_SCHEMA = pa.schema(_COMMON + [("prompt", MESSAGES), ("completion", MESSAGES)] + _TAIL)
TEXT_SCHEMA = pa.schema(_COMMON + [("text", pa.string())] + _TAIL)


def check_formats(formats: Sequence[str]) -> None:
    bad = [f for f in formats if f not in SFT_FORMATS]
    if bad or not formats:
        raise UsageError(f"--sft-formats {','.join(formats)!r}: choose from {', '.join(SFT_FORMATS)}")


def warmup_text(prompt: Sequence[dict[str, str]], content: str) -> str:
    """One training text: system prompt, ``User: <last user message>``, the response template, the
    trace (its own opening ``<think>`` is the template's, so it is not repeated)."""
    system = " ".join(m["content"].strip() for m in prompt if m["role"] == "system")
    users = [m["content"] for m in prompt if m["role"] == "user"]
    user = users[-1].strip() if users else ""
    trace = content[len("<think>"):].lstrip("\n") if content.startswith("<think>") else content
    head = f"{system} User: {user}" if system else f"User: {user}"
    return head + RESPONSE_TEMPLATE + trace


class SFTSource:
    """The accepted rows of the ``all`` shards in one SFT format."""

    _COLUMNS = ["id", "prompt_id", "sample_index", "domain", "problem", "answer", "prompt", "completion", "reasoning",
                "completion_tokens", "status", "score", "prompt_pass_rate", "model", "metadata", "accepted"]

    def __init__(self, fmt: str, all_files: list[Path]):
        self.fmt, self.files = fmt, all_files
        self.schema = PROMPT_COMPLETION_SCHEMA if fmt == "prompt_completion" else TEXT_SCHEMA

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        index = 0
        for f in self.files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=2048, columns=self._COLUMNS):
                for r in batch.to_pylist():
                    if not r["accepted"]:
                        continue
                    index += 1
                    if index <= start:
                        continue
                    yield self._row(r)

    def _row(self, r: dict[str, Any]) -> dict[str, Any]:
        prompt, content = sft_assistant_text(r["prompt"], r["completion"], r["reasoning"])
        out = {k: r[k] for k in ("id", "prompt_id", "sample_index", "domain", "problem", "answer", "completion_tokens",
                                 "status", "score", "prompt_pass_rate", "model", "metadata")}
        if self.fmt == "prompt_completion":
            out["prompt"] = prompt
            out["completion"] = [{"role": "assistant", "content": content}]
        else:
            out["text"] = warmup_text(prompt, content)
        return out
