"""The verdict every verifier returns, and the protocol verifiers implement.

"Cannot grade" is never "wrong": a verdict carries a status as well as a score, and only
``correct`` and ``incorrect`` are judgements of the answer. The gold answer is always passed first.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


class Status(str, enum.Enum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    NO_ANSWER = "no_answer"  # the response holds no extractable answer
    TRUNCATED = "truncated"  # the response was cut at the token limit before answering
    UNPARSABLE_GOLD = "unparsable_gold"  # the reference cannot be graded against: never rewarded
    TIMEOUT = "timeout"  # grading took longer than its deadline (killed from outside)
    ERROR = "error"  # the verifier itself failed; the reason says how

    @property
    def graded(self) -> bool:
        """True when the verdict judges the answer (correct or incorrect)."""
        return self in (Status.CORRECT, Status.INCORRECT)


@dataclass(frozen=True)
class Verdict:
    status: Status
    score: float = 0.0
    extracted: str | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.status is Status.CORRECT

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


#: ``details`` key marking an ``error`` verdict that says nothing about the response: the verifier
#: could not be set up (workers that cannot start, a verifier that cannot load in a worker, a
#: sandbox that cannot run). Rewards give such items ``None``; every other ``error`` was caused
#: while grading that response and scores as a wrong answer (see ``rewards.correctness_reward``).
SETUP_FAILURE = "setup_failure"


def setup_error(reason: str, extracted: str | None = None, **details: Any) -> Verdict:
    """An ``error`` verdict for a verifier that could not be set up (see :data:`SETUP_FAILURE`)."""
    return Verdict(Status.ERROR, 0.0, extracted, reason, {SETUP_FAILURE: True, **details})


def is_setup_failure(verdict: Verdict) -> bool:
    """True for an ``error`` verdict marked as a setup failure (not caused by the response)."""
    return verdict.status is Status.ERROR and bool((verdict.details or {}).get(SETUP_FAILURE))


@runtime_checkable
class Verifier(Protocol):
    """Grades one response against one gold answer. Must never raise on bad model output."""

    name: str
    version: str

    def verify(self, gold: Any, response: Any, **kwargs: Any) -> Verdict: ...
