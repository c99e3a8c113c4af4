"""SFT rows -> token ids with a completion mask, filtered *before* TRL, with the numbers reported.

TRL 1.16 silently drops a row whose prompt alone fills ``max_length`` and cuts every other long row
at the end, so a trace loses its answer and its stop token. Here each row is tokenised the way TRL
would (the prompt rendered with the generation prompt, then prompt + completion, the completion
starting where the two token lists diverge), and then:

- ``dropped_prompt``: the prompt alone fills ``max_length`` (nothing of the completion would fit);
- ``overlong="drop"`` (default): rows longer than ``max_length`` are dropped (``dropped_overlong``);
  ``overlong="cut"``: they are kept, cut at ``max_length`` (``cut``, with ``tokens_cut``);
- ``dropped_empty``: the completion has no tokens.

The loss is on completion tokens only, from the mask built here, so a chat template needs no
``{% generation %}`` markers. Row formats: ``messages`` (the last turn, an assistant turn, is the
completion), ``prompt`` + ``completion`` (strings or message lists), or ``text`` with a
``response_template`` (loss after its first occurrence, as the warm-up paper's code does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cotforge.errors import UsageError

OVERLONG = ("drop", "cut")
#: Column groups an SFT row may have (one of them).
SFT_COLUMNS = (("messages",), ("prompt", "completion"), ("text",))


@dataclass
class SFTAccounting:
    rows: int = 0
    kept: int = 0
    dropped_prompt: int = 0
    dropped_overlong: int = 0
    dropped_empty: int = 0
    cut: int = 0
    tokens_kept: int = 0
    completion_tokens_kept: int = 0
    tokens_cut: int = 0
    max_length: int | None = None
    overlong: str = "drop"
    examples: dict[str, list[int]] = field(default_factory=dict)  # reason -> first row indices

    def note(self, reason: str, row: int) -> None:
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(row)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (f"SFT data: {self.rows} rows -> kept {self.kept}, dropped {self.dropped_prompt} (prompt fills "
                f"max_length {self.max_length}) + {self.dropped_overlong} (longer than max_length) + "
                f"{self.dropped_empty} (empty completion), cut {self.cut} ({self.tokens_cut} tokens); "
                f"{self.tokens_kept} tokens kept, {self.completion_tokens_kept} of them trained on")


def _render(tokenizer: Any, messages: list[dict[str, Any]], *, generation_prompt: bool) -> str:
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def split_row(row: Mapping[str, Any], i: int, response_template: str | None) -> tuple[Any, Any]:
    """``(prompt, completion)``: both message lists, or both strings."""
    if row.get("messages") is not None:
        msgs = list(row["messages"])
        if len(msgs) < 2 or msgs[-1].get("role") != "assistant":
            raise UsageError(f"data: row {i + 1}: 'messages' must end with an assistant turn after a prompt")
        return msgs[:-1], msgs[-1:]
    if row.get("prompt") is not None and row.get("completion") is not None:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str) != isinstance(c, str):
            raise UsageError(f"data: row {i + 1}: 'prompt' and 'completion' must both be text or both messages")
        return (list(p), list(c)) if not isinstance(p, str) else (p, c)
    if row.get("text") is not None:
        if not response_template:
            raise UsageError("data: 'text' rows need response_template (the loss starts after it)")
        text = row["text"]
        at = text.find(response_template)
        if at < 0:
            raise UsageError(f"data: row {i + 1}: response_template {response_template!r} not found in 'text'")
        cut = at + len(response_template)
        return text[:cut], text[cut:]
    raise UsageError(f"data: row {i + 1}: no 'messages', 'prompt'+'completion' or 'text'")


def tokenize_row(tokenizer: Any, prompt: Any, completion: Any) -> tuple[list[int], int]:
    """``(input_ids, prompt_len)``: the completion is ``input_ids[prompt_len:]``."""
    if isinstance(prompt, str):
        full = prompt + completion
        eos = tokenizer.eos_token
        if eos and not full.endswith(eos):
            full += eos  # plain text has no template to close the turn; TRL appends EOS too
        p_ids, full_ids = _ids(tokenizer, prompt), _ids(tokenizer, full)
    else:
        p_ids = _ids(tokenizer, _render(tokenizer, prompt, generation_prompt=True))
        full_ids = _ids(tokenizer, _render(tokenizer, prompt + completion, generation_prompt=False))
    return full_ids, common_prefix_length(p_ids, full_ids)


def prepare_sft(dataset: Any, tokenizer: Any, *, max_length: int, overlong: str = "drop",
                response_template: str | None = None) -> tuple[dict[str, list[list[int]]], SFTAccounting]:
    """Columns ``input_ids`` and ``completion_mask`` for TRL, and what was kept, dropped and cut."""
    if overlong not in OVERLONG:
        raise UsageError(f"overlong: {overlong!r}; choose one of {', '.join(OVERLONG)}")
    if not isinstance(max_length, int) or max_length < 2:
        raise UsageError(f"max_length must be an integer >= 2, got {max_length!r}")
    acc = SFTAccounting(max_length=max_length, overlong=overlong)
    out: dict[str, list[list[int]]] = {"input_ids": [], "completion_mask": []}
    for i, row in enumerate(dataset):
        acc.rows += 1
        prompt, completion = split_row(row, i, response_template)
        ids, plen = tokenize_row(tokenizer, prompt, completion)
        if plen >= len(ids):
            acc.dropped_empty += 1
            acc.note("empty", i)
            continue
        if plen >= max_length:
            acc.dropped_prompt += 1
            acc.note("prompt_fills_max_length", i)
            continue
        if len(ids) > max_length:
            if overlong == "drop":
                acc.dropped_overlong += 1
                acc.note("overlong", i)
                continue
            acc.cut += 1
            acc.tokens_cut += len(ids) - max_length
            acc.note("cut", i)
            ids = ids[:max_length]
        acc.kept += 1
        acc.tokens_kept += len(ids)
        acc.completion_tokens_kept += len(ids) - plen
        out["input_ids"].append(ids)
        out["completion_mask"].append([0] * plen + [1] * (len(ids) - plen))
    if acc.kept == 0:
        raise UsageError(f"data: no SFT row is left after filtering ({acc.summary()}); raise max_length")
    return out, acc
