"""Card statistics of a finished distill dataset, via DuckDB over its shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.datagen.distill.worker import DUPLICATE_REASON

PASS_RATE_BINS = (("0", "= 0"), ("(0, 0.25]", "> 0 AND pass_rate <= 0.25"), ("(0.25, 0.5]", "> 0.25 AND pass_rate <= 0.5"),
                  ("(0.5, 0.75]", "> 0.5 AND pass_rate <= 0.75"), ("(0.75, 1)", "> 0.75 AND pass_rate < 1"), ("1", "= 1"))


def _files_sql(root: Path, shards) -> str:
    return "read_parquet([" + ", ".join("'" + str(root / s.path).replace("'", "''") + "'" for s in shards) + "])"


def distill_stats(root: str | Path, splits: dict[str, list[Any]]) -> dict[str, Any]:
    """Card statistics via DuckDB over the shards: acceptance, SFT tokens, pass-rate histogram,
    statuses, finish reasons, error reasons and reasoning statistics."""
    import duckdb

    from cotforge.datagen.reasoning_stats import summarize

    root = Path(root)
    con = duckdb.connect()
    all_rel = _files_sql(root, splits["all/train"])
    prompts_rel = _files_sql(root, splits["prompts/train"])

    def one(sql: str):
        return con.execute(sql).fetchall()[0]

    completions, accepted, sft_unknown, sft_tokens, sft_prompt_tokens, gen_tokens = one(
        f"SELECT count(*), count(*) FILTER (WHERE accepted), "
        f"count(*) FILTER (WHERE accepted AND completion_tokens < 0), "
        f"coalesce(sum(completion_tokens) FILTER (WHERE accepted AND completion_tokens >= 0), 0), "
        f"coalesce(sum(prompt_tokens) FILTER (WHERE accepted AND prompt_tokens >= 0), 0), "
        f"coalesce(sum(completion_tokens) FILTER (WHERE completion_tokens >= 0), 0) FROM {all_rel}"
    )
    prompts, with_correct, with_accepted, mean_pass = one(
        f"SELECT count(*), count(*) FILTER (WHERE correct > 0), count(*) FILTER (WHERE accepted > 0), "
        f"avg(pass_rate) FROM {prompts_rel}"
    )
    histogram = []
    for label, cond in PASS_RATE_BINS:
        (count,) = one(f"SELECT count(*) FROM {prompts_rel} WHERE pass_rate {cond}")
        histogram.append({"bin": label, "prompts": int(count)})
    (no_rate,) = one(f"SELECT count(*) FROM {prompts_rel} WHERE pass_rate IS NULL")
    if no_rate:
        histogram.append({"bin": "n/a (nothing gradable)", "prompts": int(no_rate)})
    statuses = dict(con.execute(f"SELECT status, count(*) FROM {all_rel} GROUP BY 1 ORDER BY 2 DESC").fetchall())
    finish = dict(con.execute(f"SELECT finish_reason, count(*) FROM {all_rel} GROUP BY 1 ORDER BY 2 DESC").fetchall())
    errors = [
        {"error": e, "count": int(c)}
        for e, c in con.execute(
            f"SELECT error, count(*) FROM {all_rel} WHERE error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
        ).fetchall()
    ]
    rejects = [
        {"reason": e, "count": int(c)}
        for e, c in con.execute(
            f"SELECT regexp_replace(reject_reason, ':.*$', ''), count(*) FROM {all_rel} "
            f"WHERE reject_reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
        ).fetchall()
    ]
    verifiers = [
        {"domain": d, "verifier": v, "version": ver, "completions": int(c)}
        for d, v, ver, c in con.execute(
            f"SELECT domain, verifier, verifier_version, count(*) FROM {all_rel} GROUP BY 1, 2, 3 ORDER BY 4 DESC"
        ).fetchall()
    ]
    (duplicates,) = one(f"SELECT count(*) FROM {all_rel} WHERE starts_with(reject_reason, '{DUPLICATE_REASON}')")
    models = [m for (m,) in con.execute(f"SELECT DISTINCT model FROM {all_rel} WHERE model IS NOT NULL ORDER BY 1").fetchall()]
    return {
        "models": models,
        "prompts": int(prompts),
        "completions": int(completions),
        "accepted": int(accepted),
        "acceptance_rate": (accepted / completions) if completions else 0.0,
        "sft_tokens": int(sft_tokens),
        "sft_tokens_unknown": int(sft_unknown),  # accepted rows whose backend reported no token count
        "sft_prompt_tokens": int(sft_prompt_tokens),
        "generated_tokens": int(gen_tokens),
        "prompts_with_correct": int(with_correct),
        "prompts_with_accepted": int(with_accepted),
        "mean_pass_rate": float(mean_pass) if mean_pass is not None else None,
        "pass_rate_histogram": histogram,
        "statuses": {k: int(v) for k, v in statuses.items()},
        "finish_reasons": {k: int(v) for k, v in finish.items()},
        "top_errors": errors,
        "reject_reasons": rejects,
        "duplicates_rejected": int(duplicates),
        "verifiers": verifiers,
        "reasoning_all": summarize(con, all_rel, "finish_reason <> 'error'"),
        "reasoning_accepted": summarize(con, all_rel, "accepted"),
    }
