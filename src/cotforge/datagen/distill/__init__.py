"""Teacher distillation with rejection sampling (``cotforge distill``).

N candidates per prompt from a teacher (any backend), each graded by the verifier its domain picks,
into one dataset with three configs:

- ``all``: every completion - accepted or not, failed generations included - with its verdict,
  the verifier's reason, the reason it was not accepted, token counts, reasoning statistics and
  full provenance (model, backend, sampling parameters, verifier name and version);
- ``accepted``: the SFT-ready subset as TRL conversational ``messages`` plus provenance;
- ``prompts``: one RL-ready row per prompt (``prompt`` + ``answer``) with its pass rate.

Policies: ``keep="correct"`` (keep-k-correct: the first ``max_per_prompt`` correct samples by
sample index, i.e. an unbiased choice among i.i.d. samples) or ``keep="all"`` (the warm-up paper
kept wrong traces); both filter on finish reason and completion length first.

Resumable: ``all`` is written prompt-aligned shard by shard (``shard_prompts`` prompts each), so
after ``kill -9`` a rerun regenerates from the first prompt of the first missing shard; with a
seeded backend the result is byte-identical to an uninterrupted run, and with any backend no row
is lost or duplicated (every (prompt, sample index) appears exactly once). ``accepted`` and
``prompts`` are derived from the finished ``all`` shards, never regenerated.

Failures are data: a backend call that raises is retried (``retries``) and then recorded as error
rows with the reason; error completions the backend returns are retried the same way unless the
error is permanent (prompt over the context limit, chat template failure). A backend with its own
per-request retry loop (``openai``) is given ``retries`` as its ``max_retries`` instead, so
``retries`` is the number of retries of a request whichever layer makes them.
"""

from cotforge.datagen.distill.config import (
    DOMAIN_VERIFIERS,
    FAMILY,
    GENERATOR_VERSION,
    DistillConfig,
    config_from_preset,
    redact,
    short_hash,
)
from cotforge.datagen.distill.grading import Grader
from cotforge.datagen.distill.items import PromptItem, make_items
from cotforge.datagen.distill.run import distill, rebuild_command
from cotforge.datagen.distill.sources import AcceptedSource, AllSource, DistillProgress, LocalEngine, PromptsSource
from cotforge.datagen.distill.stats import distill_stats
from cotforge.datagen.distill.worker import BatchResult, DistillWorker, decide, sft_assistant_text

__all__ = [
    "DOMAIN_VERIFIERS", "FAMILY", "GENERATOR_VERSION",
    "AcceptedSource", "AllSource", "BatchResult", "DistillConfig", "DistillProgress", "DistillWorker", "Grader", "LocalEngine",
    "PromptItem", "PromptsSource", "config_from_preset", "decide", "distill", "distill_stats", "make_items",
    "rebuild_command", "redact", "sft_assistant_text", "short_hash",
]
