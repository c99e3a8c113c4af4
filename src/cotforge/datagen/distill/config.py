"""The distill build's configuration: what decides its rows, and what is hashed into its identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cotforge.datagen.backends.failures import TRANSPORT_OPTIONS, GenerationFailed
from cotforge.errors import MissingExtraError, UsageError


FAMILY = "distill"
#: Bump when the same config would produce different rows.
GENERATOR_VERSION = "1.1.0"  # 1.1: duplicates rejected, tokenizer counts filled in, per-sample model
KEEP_POLICIES = ("correct", "all")
ENGINES = ("local", "ray")
#: ``all`` shards hold whole prompts: at most this many, and about this many completions, so work
#: is committed often - a kill loses at most one shard's generations (N=4: 64 prompts; N=32: 32
#: prompts; N=256: 4 prompts).
MAX_SHARD_PROMPTS = 64
TARGET_SHARD_COMPLETIONS = 1024

#: Domain -> verifier. Any verifier registry name is also a domain of its own.
DOMAIN_VERIFIERS: dict[str, str] = {
    "math": "math",
    "kk": "kk",
    "logic": "kk",
    "knights_knaves": "kk",
    "choice": "choice",
    "mcq": "choice",
    "mmlu_pro": "choice",
    "gpqa": "choice",
    "theoremqa": "theoremqa",
    "code": "code",
}


class TeacherFailed(GenerationFailed):
    """Too many teacher requests failed (an outage): the run stopped before committing them; rerun to resume."""


#: Exceptions from ``generate`` that mean the whole run is meaningless: never retried, never recorded.
FATAL_EXCEPTIONS: tuple[type[BaseException], ...] = (UsageError, MissingExtraError, ImportError, MemoryError)


#: Backend options whose values never reach a manifest, a card or a command line.
SECRET_MARKERS = ("key", "token", "secret", "password", "auth", "credential")


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the values of secret-looking keys (``api_key``, ``hf_token``, ...) replaced."""
    return {k: ("<redacted>" if any(m in k.lower() for m in SECRET_MARKERS) else v) for k, v in options.items()}


def short_hash(*parts: Any) -> str:
    """A 32-hex-digit content hash of ``parts`` (strings joined with NUL; others as canonical JSON)."""
    h = hashlib.sha256()
    for p in parts:
        h.update((p if isinstance(p, str) else json.dumps(p, sort_keys=True, ensure_ascii=False)).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


# ------------------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class DistillConfig:
    """Everything that decides the rows of a distill dataset (hashed into its build identity).

    ``sampling`` holds :class:`~cotforge.datagen.backends.SamplingParams` fields; its ``n`` is N,
    the candidates per prompt. ``verifiers`` overrides the domain -> verifier map;
    ``verifier_options`` passes options per verifier name (e.g. ``{"kk": {"scoring": "exact"}}``).
    """

    backend: str
    model: str
    sampling: dict[str, Any]
    template: dict[str, Any]  # PromptTemplate fields; ignored for inputs that carry a prompt column
    backend_options: dict[str, Any] = field(default_factory=dict)
    keep: str = "correct"
    max_per_prompt: int | None = None
    finish_reasons: tuple[str, ...] = ("stop",)
    min_completion_tokens: int = 0
    max_completion_tokens: int | None = None
    verifiers: dict[str, str] = field(default_factory=dict)
    verifier_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_counter: str | None = None  # tokenizer name/path for exact think/answer token counts
    shard_prompts: int | None = None  # prompts per ``all`` shard (default: see MAX_SHARD_PROMPTS)
    preset: str = "none"
    sft_formats: tuple[str, ...] = ("messages", "prompt_completion")  # see cotforge.datagen.distill.sft
    sft_token_budget: int | None = None  # stop once the accepted completions hold this many tokens
    metadata_columns: tuple[str, ...] = ()  # input columns passed through to every row as ``metadata``

    @property
    def n(self) -> int:
        return int(self.sampling.get("n", 1))

    def params(self):
        from cotforge.datagen.backends.base import SamplingParams

        return SamplingParams.from_dict(self.sampling)

    def validate(self) -> None:
        from cotforge.datagen.backends.base import FINISH_REASONS, SamplingParams
        from cotforge.verifiers import REGISTRY

        SamplingParams.from_flags(self.sampling)  # a bad value names its command-line flag
        if self.keep not in KEEP_POLICIES:
            raise UsageError(f"--keep {self.keep!r}: choose one of {', '.join(KEEP_POLICIES)}")
        if self.max_per_prompt is not None and self.max_per_prompt < 1:
            raise UsageError(f"--max-per-prompt {self.max_per_prompt}: must be >= 1")
        bad = [f for f in self.finish_reasons if f not in FINISH_REASONS or f == "error"]
        if bad or not self.finish_reasons:
            raise UsageError(f"--finish {','.join(self.finish_reasons)!r}: choose from stop, length")
        if self.min_completion_tokens < 0:
            raise UsageError(f"--min-tokens {self.min_completion_tokens}: must be >= 0")
        if self.max_completion_tokens is not None and self.max_completion_tokens < max(1, self.min_completion_tokens):
            raise UsageError(f"--max-completion-tokens {self.max_completion_tokens}: must be >= --min-tokens and >= 1")
        from cotforge.datagen.distill.sft import check_formats

        check_formats(self.sft_formats)
        if self.sft_token_budget is not None and self.sft_token_budget < 1:
            raise UsageError(f"--sft-token-budget {self.sft_token_budget}: must be >= 1")
        if self.shard_prompts is not None and self.shard_prompts < 1:
            raise UsageError(f"--shard-prompts {self.shard_prompts}: must be >= 1")
        for domain, name in self.verifiers.items():
            if name not in REGISTRY:
                raise UsageError(f"--verifier {domain}={name}: unknown verifier; known: {', '.join(sorted(REGISTRY))}")
        self._check_verifier_options(REGISTRY)
        if not self.model:
            raise UsageError("--model: required (or use a --preset that names the teacher)")

    def _check_verifier_options(self, registry) -> None:
        """Each ``--verifier-opt`` names a verifier and options it takes: checked before anything is
        generated (a bad key used to surface at the first grade, after the teacher's first batch)."""
        from cotforge.verifiers import get_verifier

        for name, opts in self.verifier_options.items():
            if name not in registry:
                raise UsageError(f"--verifier-opt {name}.*: unknown verifier; known: {', '.join(sorted(registry))}")
            try:
                get_verifier(name, **opts)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"--verifier-opt {name}.*: {exc}") from None

    def verifier_for(self, domain: str) -> str:
        from cotforge.verifiers import REGISTRY

        if domain in self.verifiers:
            return self.verifiers[domain]
        if domain in DOMAIN_VERIFIERS:
            return DOMAIN_VERIFIERS[domain]
        if domain in REGISTRY:
            return domain
        known = sorted(set(DOMAIN_VERIFIERS) | set(REGISTRY))
        raise UsageError(f"domain {domain!r}: no verifier for it; known domains: {', '.join(known)} "
                         f"(or map it: --verifier {domain}=<verifier>)")

    def resolved(self) -> dict[str, Any]:
        """The config as the manifest records it (and as the build hash covers it): secrets redacted."""
        d = asdict(self)
        d["finish_reasons"] = list(self.finish_reasons)
        d["sft_formats"] = list(self.sft_formats)
        d["metadata_columns"] = list(self.metadata_columns)
        d["sampling"] = self.params().to_dict()
        # where the server is and how hard to push it cannot change a row: not part of the identity,
        # so a resume may point at another server or raise the concurrency
        d["backend_options"] = redact({k: v for k, v in self.backend_options.items() if k not in TRANSPORT_OPTIONS})
        d["generator_version"] = GENERATOR_VERSION
        return d

    def shard_rows(self) -> int:
        prompts = self.shard_prompts or max(1, min(MAX_SHARD_PROMPTS, TARGET_SHARD_COMPLETIONS // self.n))
        return prompts * self.n


def config_from_preset(
    preset_name: str | None,
    *,
    backend: str,
    model: str | None = None,
    sampling: dict[str, Any] | None = None,
    **overrides: Any,
) -> DistillConfig:
    """A :class:`DistillConfig` from a preset, with explicit values (not None) taking precedence."""
    from cotforge.datagen.presets import get_preset

    preset = get_preset(preset_name)
    merged_sampling = {"n": preset.n, **preset.sampling}
    merged_sampling.update({k: v for k, v in (sampling or {}).items() if v is not None})
    fields_ = {
        "sft_formats": preset.sft_formats,
        "keep": preset.keep,
        "max_per_prompt": preset.max_per_prompt,
        "finish_reasons": preset.finish_reasons,
        "template": preset.template.to_dict(),
    }
    fields_.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("finish_reasons", "sft_formats", "metadata_columns"):
        if isinstance(fields_.get(key), list):
            fields_[key] = tuple(fields_[key])
    return DistillConfig(backend=backend, model=model or preset.model, sampling=merged_sampling,
                         preset=preset.name, **fields_)
