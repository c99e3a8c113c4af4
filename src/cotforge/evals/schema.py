"""The row format of an eval run: one row per sample, in ``data/<benchmark>/test-*.parquet``."""

from __future__ import annotations

import pyarrow as pa

from cotforge.records import MESSAGES, REFLECTION, SAMPLING

EVAL_SAMPLE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # benchmark/question id/sample index
        ("benchmark", pa.string()),
        ("question_id", pa.string()),  # the benchmark's stable question id (the generation prompt id)
        ("question_index", pa.int64()),  # position in the benchmark
        ("sample_index", pa.int32()),
        ("question", pa.string()),
        ("gold", pa.string()),  # JSON of the gold the verifier received
        ("prompt", MESSAGES),  # the chat prompt sent to the model
        ("response", pa.string()),  # exactly what the model generated
        ("reasoning", pa.string()),  # its thinking part (null when none)
        ("finish_reason", pa.string()),  # stop | length | error
        ("error", pa.string()),  # why generation failed, else null
        ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()),  # -1: not reported by the backend
        ("think_tokens", pa.int32()),
        ("answer_tokens", pa.int32()),
        ("reflection", REFLECTION),  # reflection words of the long-CoT study
        ("branching", pa.int32()),  # occurrences of "alternatively,"
        ("verifier", pa.string()),
        ("verifier_version", pa.string()),
        ("status", pa.string()),  # correct | incorrect | no_answer | truncated | unparsable_gold | timeout | error
        ("score", pa.float64()),
        ("correct", pa.bool_()),
        ("extracted", pa.string()),  # the answer the verifier extracted (null when none)
        ("reason", pa.string()),  # the verifier's reason (or the generation error)
        ("meta", pa.string()),  # JSON of the question's breakdown metadata
        ("verify_kwargs", pa.string()),  # JSON of the per-question verifier options
        ("model", pa.string()),
        ("backend", pa.string()),
        ("sampling", SAMPLING),
    ]
)

#: Statuses reported beside accuracy (never folded silently into "wrong").
RATE_KEYS = ("no_answer", "truncated", "timeout", "unparsable_gold", "error")
