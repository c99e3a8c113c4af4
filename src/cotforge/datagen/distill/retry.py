"""``--retry-errors``: ask the teacher again for the failed generations of a finished distill dataset.

Error rows committed below ``--max-error-rate`` stay in a finished dataset; a rerun keeps them.
With ``--retry-errors`` the dataset is rebuilt next to itself (``<out>.retry-errors``, resumable
like any build): every recorded completion is served again as it was (:class:`PriorGenerator`,
through the replay backend), and only the prompts holding a failed generation that a retry could
fix go to the teacher, for those samples only. When the rebuild is finished it replaces ``out``
(the old folder is renamed aside first and removed last, so an interruption leaves one of the two
whole; a rerun finishes the swap).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

from cotforge.datagen.backends.failures import transient_error

RETRY_SUFFIX = ".retry-errors"
REPLACED_SUFFIX = ".replaced"


class PriorGenerator:
    """Recorded completions where they are good; the teacher for failed ones (and unrecorded prompts)."""

    name = "prior"

    def __init__(self, recorded: Any, teacher: Any):
        self.recorded, self.teacher = recorded, teacher
        self.model = getattr(teacher, "model", "") or getattr(recorded, "model", "")
        self.max_retries = getattr(teacher, "max_retries", None)
        self.concurrent_calls = getattr(teacher, "concurrent_calls", False)
        self.max_concurrency = getattr(teacher, "max_concurrency", 1)
        self.retried = 0  # samples sent to the teacher

    def generate(self, requests: Sequence[Any], params: Any) -> list[list[Any]]:
        old = self.recorded.generate(requests, params)
        redo = [i for i, row in enumerate(old) if any(_redo(c) for c in row)]
        if redo:
            fresh = self.teacher.generate([requests[i] for i in redo], params)
            for i, new in zip(redo, fresh):
                merged = [n if _redo(o) else o for o, n in zip(old[i], new)]
                self.retried += sum(_redo(o) for o in old[i])
                old[i] = merged
        return old

    def close(self) -> None:
        for g in (self.recorded, self.teacher):
            close = getattr(g, "close", None)
            if close is not None:
                close()


def _redo(c: Any) -> bool:
    return c.finish_reason == "error" and transient_error(c.error)


def failed_rows(out: Path) -> int:
    """Committed ``all`` rows of ``out`` whose generation failed for a reason a retry could fix."""
    import duckdb

    files = sorted((out / "data" / "all").glob("*.parquet"))
    if not files:
        return 0
    listed = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    rows = duckdb.connect().execute(f"SELECT error FROM read_parquet({listed}) WHERE finish_reason = 'error'").fetchall()
    return sum(transient_error(e) for (e,) in rows)


def finish_swap(out: Path) -> None:
    """Complete a swap an interruption left half done: a finished rebuild replaces ``out``."""
    from cotforge.store import layout

    from cotforge.store.atomic import finish_replace, replace_folder

    tmp, old = out.with_name(out.name + RETRY_SUFFIX), out.with_name(out.name + REPLACED_SUFFIX)
    if tmp.is_dir() and (tmp / layout.MANIFEST).is_file() and not (tmp / layout.JOURNAL).exists():
        if out.exists():
            replace_folder(tmp, out)  # one atomic exchange where the kernel has it
        else:
            tmp.rename(out)
    finish_replace(tmp, out)
    if old.exists() and out.is_dir():  # the aside folder of an earlier version's two-rename swap
        shutil.rmtree(old)
