"""Failed generations: which ones asking again could fix, and when a run must stop instead of
committing them.

Every job that samples a model (distill, silver, eval) records a request that failed after the
backend's own retries as an error row. A few of those are expected (a prompt over the context
limit, a flaky request); many in one shard mean an outage, and committing them would turn it into
data (a distill dataset of error rows, an eval score of 0%). So each job counts the failures a
retry could fix before a shard is committed, and above ``max_error_rate`` of the shard it raises
:class:`GenerationFailed`: the shard is never written, and rerunning the same command resumes
there and asks again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

#: Substrings (lower case) of backend errors that a retry cannot fix.
PERMANENT_ERRORS = ("context length", "chat template", "too long", "maximum context")
#: Backend options that cannot change a row: where the server is, how hard to push it, how long to
#: wait, how often to retry. They are left out of a build's identity, so a resume may change them.
TRANSPORT_OPTIONS = frozenset({
    "base_url", "api_key", "max_concurrency", "max_retries", "timeout", "connect_timeout",
    "backoff_base", "backoff_max",
})
#: Default of ``--max-error-rate``: the share of a shard's samples that may be failed requests
#: (after the backend's retries) and still be committed as error rows.
MAX_ERROR_RATE = 0.01


class GenerationFailed(RuntimeError):
    """Too many requests failed (an outage): the run stopped before committing them; rerun to resume."""


def transient_error(error: str | None) -> bool:
    """True for a generation error that asking again could fix (not a prompt over the context limit)."""
    err = (error or "").lower()
    return not any(marker in err for marker in PERMANENT_ERRORS)


#: Backends whose failures are fixed facts: the replay backend reads the same recorded file on every
#: rerun, so a sample it lacks is as missing the next time; a run never stops to "retry" them.
NO_RETRY_BACKENDS = frozenset({"replay"})


@dataclass(frozen=True)
class ErrorTally:
    """The retryable failures among a shard's samples."""

    failed: int
    total: int
    top_error: str | None
    top_count: int

    @property
    def share(self) -> float:
        return self.failed / self.total if self.total else 0.0

    def too_many(self, max_error_rate: float) -> bool:
        return self.failed > 0 and self.failed > max_error_rate * self.total


def tally_errors(errors: Iterable[str | None], total: int) -> ErrorTally:
    """Count the retryable errors of a shard (``errors``: the reason of each failed generation;
    None, a failure without a reason, counts as retryable)."""
    failed = [e for e in errors if transient_error(e)]
    top, count = Counter(failed).most_common(1)[0] if failed else (None, 0)
    return ErrorTally(len(failed), total, top, count)


def check_max_error_rate(value: float, flag: str = "--max-error-rate") -> float:
    """The option's value, or a :class:`~cotforge.errors.UsageError` naming the flag."""
    from cotforge.errors import UsageError

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UsageError(f"{flag} {value!r}: must be between 0 and 1")
    return float(value)


def gated_shards(rows: Iterable[dict], shard_rows: int | None, gate: Callable[[list[dict], int], None],
                 start: int = 0) -> Iterator[dict]:
    """``rows`` handed on a whole shard at a time (``shard_rows``, the store's shard size; None: all
    at the end), each shard only after ``gate(shard, first_row_index)`` returned: a gate that raises
    keeps the shard from ever reaching the store."""
    pending: list[dict] = []
    for r in rows:
        pending.append(r)
        if shard_rows and len(pending) >= shard_rows:
            gate(pending, start)
            yield from pending
            start += len(pending)
            pending = []
    if pending:
        gate(pending, start)
        yield from pending
