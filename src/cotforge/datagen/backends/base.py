"""The one generation protocol every backend implements, and the value types it trades in.

Chat prompts go in, ``n`` completions per prompt come out, each with its text, its reasoning part,
token counts and a finish reason. The sampling parameters are a frozen value that the caller records
with every row (``SamplingParams.to_dict``), so a dataset says exactly how it was sampled.

Seeding: sample ``j`` of prompt ``p`` is drawn with the seed ``sample_seed(params.seed, p, j)``,
wherever the backend allows it (hf, vllm). It then depends only on (seed, prompt id, sample index),
never on batch composition, on ``n`` or on which data-parallel worker ran it, so asking for 8 samples
later reproduces the 4 drawn earlier and adds 4 new ones (reasoning-gym's per-index seeding without
its ``seed + i`` overlap). HTTP servers get a per-request seed and are only as deterministic as the
server is.

Failures are data: a prompt that cannot be generated (over the context limit, a server that kept
failing) yields ``Completion(finish_reason="error", error=<reason>)`` rows, never a silent gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, runtime_checkable

from cotforge.errors import UsageError

FinishReason = Literal["stop", "length", "error"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "error")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

#: Seeds handed to engines stay below 2**31: llama.cpp and some hosted APIs keep seeds in 32-bit ints.
_SEED_MOD = 2**31


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters shared by every backend (vLLM's names and defaults).

    ``top_k=-1`` disables top-k; ``temperature=0`` is greedy decoding. ``stop`` strings end a sample;
    with ``include_stop`` the matched stop string stays at the end of the text (as the warm-up recipe
    re-appends ``</answer>``). ``seed=None`` asks for unseeded, non-reproducible sampling.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    include_stop: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):  # a lone string is one stop string, not its characters
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise UsageError(f"sampling n must be an integer >= 1, got {self.n!r}")
        if not self.temperature >= 0:
            raise UsageError(f"sampling temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"sampling top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or (self.top_k < 1 and self.top_k not in (-1, 0)):
            raise UsageError(f"sampling top_k must be -1 (off) or >= 1, got {self.top_k!r}")
        if self.top_k == 0:  # vLLM and HF both read 0 as "off"; store one spelling so hashes agree
            object.__setattr__(self, "top_k", -1)
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise UsageError(f"sampling max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise UsageError(f"sampling stop strings must be non-empty strings, got {s!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise UsageError(f"sampling seed must be an integer or None, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: recorded with every generated row."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplingParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"unknown sampling parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: (tuple(v) if k == "stop" and v is not None else v) for k, v in d.items()})

    def replace(self, **changes: Any) -> SamplingParams:
        return SamplingParams.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_flags(cls, d: Mapping[str, Any]) -> SamplingParams:
        """:meth:`from_dict` for values a user typed: a bad one names its command-line flag
        (``--n 0: sampling n must be an integer >= 1, got 0``), as ``distill`` and ``eval`` spell them."""
        import re

        try:
            return cls.from_dict(d)
        except UsageError as exc:
            m = re.match(r"sampling (\w+)", str(exc))
            flag = SAMPLING_FLAGS.get(m.group(1)) if m else None
            if flag is None:
                raise
            raise UsageError(f"{flag} {d.get(m.group(1))!r}: {exc}") from None


#: Sampling parameter -> the command-line flag that sets it (error messages name the flag).
SAMPLING_FLAGS = {"n": "--n", "temperature": "--temperature", "top_p": "--top-p", "top_k": "--top-k",
                  "max_tokens": "--max-tokens", "stop": "--stop", "seed": "--seed"}


@dataclass(frozen=True)
class Completion:
    """One sampled completion.

    ``text`` is exactly what the model generated after the prompt (for a server that splits reasoning
    off, the reasoning is put back as ``<think>...</think>`` so verifiers and SFT see the whole
    output); ``reasoning`` is its thinking part or None. ``finish_reason`` is "stop" (EOS or a stop
    string), "length" (hit max_tokens or the context limit) or "error" (``error`` says why; text is "").
    ``completion_tokens`` is -1 where a server does not report per-sample counts. ``model`` is the
    model that wrote it when the backend knows one per sample (replay of several models' outputs),
    else None (the backend's ``model``). ``attempts`` is how many requests the backend itself made
    for it (its own retries included), or None when it does not count them.
    """

    text: str
    reasoning: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    error: str | None = None
    sample_index: int = 0
    model: str | None = None
    attempts: int | None = None

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")
        if (self.finish_reason == "error") != (self.error is not None):
            raise ValueError("error is set exactly when finish_reason is 'error'")

    @property
    def ok(self) -> bool:
        return self.finish_reason != "error"

    @property
    def answer(self) -> str:
        """The text after the reasoning (the whole text when there is no closed reasoning part)."""
        i = self.text.find(THINK_CLOSE)
        if i >= 0:
            return self.text[i + len(THINK_CLOSE) :]
        return "" if self.reasoning is not None else self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failed(cls, reason: str, sample_index: int = 0, prompt_tokens: int = 0, attempts: int | None = None) -> Completion:
        return cls(
            text="",
            reasoning=None,
            prompt_tokens=prompt_tokens,
            completion_tokens=0,
            finish_reason="error",
            error=reason,
            sample_index=sample_index,
            attempts=attempts,
        )


@dataclass(frozen=True)
class GenerationRequest:
    """One chat prompt. A trailing assistant message is a prefill the model continues.

    ``lookup``: what else is known about the prompt's input row (``problem`` text, pass-through
    columns), for backends that find recorded answers by a column of their own (replay's
    ``id_column``); generating backends ignore it.
    """

    prompt_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    lookup: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.prompt_id, str) or not self.prompt_id:
            raise UsageError(f"prompt_id must be a non-empty string, got {self.prompt_id!r}")
        if not isinstance(self.messages, (list, tuple)) or not self.messages:
            raise UsageError(f"prompt {self.prompt_id!r}: messages must be a non-empty list of chat messages")
        for i, m in enumerate(self.messages):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise UsageError(
                    f"prompt {self.prompt_id!r}: message {i} must be a mapping with string 'role' and 'content', got {m!r}"
                )

    @property
    def continues_assistant(self) -> bool:
        """True when the last message is an assistant prefill to continue rather than answer."""
        return self.messages[-1]["role"] == "assistant"


@runtime_checkable
class Generator(Protocol):
    """Chat prompts in, ``params.n`` completions per prompt out, in request order.

    ``generate(...)[i][j]`` is sample ``j`` of ``requests[i]`` (``sample_index == j``). Never raises
    for one bad prompt or one failed request: those become error completions. Raises for what makes
    the whole run meaningless (a missing extra, a model that does not load, a rejected API key).
    """

    name: str
    model: str

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[Completion]]: ...

    def close(self) -> None: ...


class GeneratorBase:
    """Context-manager plumbing and argument checks shared by the implementations."""

    name: str = ""
    model: str = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden where there is something to free
        pass

    @staticmethod
    def _check_requests(requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
        requests = list(requests)
        seen: set[str] = set()
        for r in requests:
            if not isinstance(r, GenerationRequest):
                raise UsageError(f"generate() takes GenerationRequest items, got {type(r).__name__}")
            if r.prompt_id in seen:
                raise UsageError(f"duplicate prompt_id {r.prompt_id!r} in one generate() call")
            seen.add(r.prompt_id)
        return requests


def sample_seed(seed: int, prompt_id: str, sample_index: int = 0) -> int:
    """The seed of one sample: a hash of (run seed, prompt id, sample index), in [0, 2**31).

    Hashing rather than ``seed + i`` keeps runs with neighbouring seeds disjoint.
    """
    digest = hashlib.sha256(f"cotforge-sample\x00{seed}\x00{prompt_id}\x00{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _SEED_MOD


def opens_think(prompt_text: str) -> bool:
    """True when a rendered prompt leaves a ``<think>`` block open (QwQ / R1-distill templates,
    or an R1-style "Assistant: <think>" prefill): the completion then starts inside its reasoning."""
    return prompt_text.rfind(THINK_OPEN) > prompt_text.rfind(THINK_CLOSE)


def split_reasoning(text: str, started_in_think: bool = False) -> str | None:
    """The reasoning part of a completion, or None when it has none.

    ``<think>R</think>A`` -> R. ``R</think>A`` (the ``<think>`` was in the prompt) -> R. A completion
    cut off inside its thinking (``<think>R`` with no close, or any text when ``started_in_think``)
    -> R: the reasoning is all there is.
    """
    close = text.find(THINK_CLOSE)
    if close >= 0:
        head = text[:close]
        opened = head.rfind(THINK_OPEN)
        return head[opened + len(THINK_OPEN) :] if opened >= 0 else head
    opened = text.find(THINK_OPEN)
    if opened >= 0:
        return text[opened + len(THINK_OPEN) :]
    return text if started_in_think else None


def apply_stop(text: str, stop: Sequence[str], include_stop: bool) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest stop string; returns (text, matched stop or None)."""
    best: tuple[int, str] | None = None
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(s) > len(best[1]))):
            best = (i, s)
    if best is None:
        return text, None
    i, s = best
    return (text[: i + len(s)] if include_stop else text[:i]), s


def check_sample_grid(results: list[list[Completion]], requests: Sequence[GenerationRequest], n: int) -> None:
    """Internal invariant of every backend: one list per request, n samples, indices 0..n-1."""
    if len(results) != len(requests):
        raise AssertionError(f"backend returned {len(results)} result lists for {len(requests)} requests")
    for req, row in zip(requests, results):
        if [c.sample_index for c in row] != list(range(n)):
            raise AssertionError(
                f"backend returned samples {[c.sample_index for c in row]} for prompt {req.prompt_id!r}, expected 0..{n - 1}"
            )
