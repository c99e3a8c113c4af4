"""Silver build configuration, drop reasons and the answer-extraction prompt."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from cotforge.errors import UsageError

FAMILY = "silver"
GENERATOR_VERSION = "1.1.0"  # 1.1: unit words stripped from numeric answers
EXTRACTORS = ("rules", "model", "rules_then_model")

#: reason code -> what it means (the card lists them).
DROP_REASONS: dict[str, str] = {
    "empty": "the question or the solution is empty",
    "duplicate": "the same question (case and spacing ignored) appeared earlier",
    "proof": "the question asks for a proof, derivation or explanation",
    "multi_part": "the question has several enumerated parts",
    "no_answer": "no final answer could be extracted from the solution",
    "multi_answer": "the extracted answer holds several answers",
    "long_answer": "the extracted answer is long free text",
    "choice_without_options": "the answer is an option letter but the question lists no options",
    "unverifiable": "the verifier cannot grade against the extracted answer",
    "teacher_disagrees": "no teacher sample agreed with the extracted answer",
    "teacher_failed": "every teacher sample failed to generate",
}

_PROOF_RE = re.compile(
    r"\b(?:prove|proof|show\s+that|demonstrate\s+that|verify\s+that|justify|explain\s+(?:why|how)|derive\s+(?:the|an?)\b)",
    re.IGNORECASE,
)
# (a) ... (b) ..., a) ... b), Part A ... Part B, i) ... ii)
_PART_MARKERS = (
    re.compile(r"(?:^|\s)\(a\)", re.IGNORECASE), re.compile(r"(?:^|\s)\(b\)", re.IGNORECASE),
    re.compile(r"(?:^|\n)\s*a[).]\s", re.IGNORECASE), re.compile(r"(?:^|\n)\s*b[).]\s", re.IGNORECASE),
    re.compile(r"\bpart\s+\(?a\)?\b", re.IGNORECASE), re.compile(r"\bpart\s+\(?b\)?\b", re.IGNORECASE),
    re.compile(r"(?:^|\s)\(i\)"), re.compile(r"(?:^|\s)\(ii\)"),
)
_OPTIONS_RE = re.compile(r"(?:^|\n|\s)\(?([A-Ea-e])[).:]\s*\S")
_LETTER_RE = re.compile(r"^\(?(?:[Oo]ption\s+|[Cc]hoice\s+)?([A-J])\)?\.?$")
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_MATHY_RE = re.compile(r"[0-9$\\^]")
_COPULA_RE = re.compile(r"\s+(?:is|are|equals|was|becomes)\s+", re.IGNORECASE)
_LEADING_RE = re.compile(r"^(?:therefore|thus|hence|so|finally|the\s+result\s+is)[,:]?\s+", re.IGNORECASE)

EXTRACT_PROMPT = (
    "Below is a question and a solution written by someone else. Extract the short final answer of the "
    "solution, without solving the question again. Reply with one line: \"The final answer is "
    "\\boxed{ANSWER}\". If the solution has no single short final answer (a proof, several answers, an "
    "essay), reply \"The final answer is \\boxed{NONE}\".\n\nQuestion:\n{question}\n\nSolution:\n{solution}"
)
DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class SilverConfig:
    extractor: str = "rules"
    max_answer_chars: int = 60
    max_answer_words: int = 6  # alphabetic words of 3+ letters, LaTeX commands excluded
    instruction: str = DEFAULT_INSTRUCTION  # appended to the question in the RL prompt ("" for none)
    dedupe: bool = True
    teacher_samples: int = 0  # 0: no teacher filter
    teacher_min_agree: int = 1
    extractor_backend: str | None = None
    extractor_model: str | None = None
    teacher_backend: str | None = None
    teacher_model: str | None = None
    teacher_sampling: dict[str, Any] | None = None
    backend_options: dict[str, Any] | None = None

    def validate(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise UsageError(f"--extractor {self.extractor!r}: choose one of {', '.join(EXTRACTORS)}")
        if self.max_answer_chars < 1 or self.max_answer_words < 1:
            raise UsageError("--max-answer-chars and --max-answer-words must be >= 1")
        if self.teacher_samples < 0:
            raise UsageError(f"--teacher-samples {self.teacher_samples}: must be >= 0")
        if self.teacher_samples and not 1 <= self.teacher_min_agree <= self.teacher_samples:
            raise UsageError(f"--teacher-min-agree {self.teacher_min_agree}: must be between 1 and --teacher-samples")

    def check_backends(self) -> None:
        """The backend and model options the extractor / teacher filter need (the CLI checks this
        before reading any row; library callers may pass ready generators instead)."""
        if self.extractor != "rules":
            _require_backend("extractor", self.extractor_backend, self.extractor_model, f"--extractor {self.extractor}")
        if self.teacher_samples:
            _require_backend("teacher", self.teacher_backend, self.teacher_model, f"--teacher-samples {self.teacher_samples}")

    def resolved(self) -> dict[str, Any]:
        """The build identity: secrets redacted, options that cannot change a row (server address,
        concurrency, timeouts) left out."""
        from cotforge.datagen.backends.failures import TRANSPORT_OPTIONS
        from cotforge.datagen.distill.config import redact

        d = asdict(self)
        d["backend_options"] = redact({k: v for k, v in (self.backend_options or {}).items() if k not in TRANSPORT_OPTIONS})
        d["generator_version"] = GENERATOR_VERSION
        return d


def _require_backend(role: str, backend: str | None, model: str | None, why: str) -> None:
    """Both ``--<role>-backend`` and ``--<role>-model`` are needed for ``why``; name the missing one."""
    from cotforge.datagen.backends import available

    if not backend:
        raise UsageError(f"--{role}-backend: required with {why} (one of {', '.join(available())})")
    if not model:
        what = "the recorded completions to replay" if backend == "replay" else f"the model the {backend} backend serves or loads"
        raise UsageError(f"--{role}-model: required with {why} and --{role}-backend {backend} ({what})")
