"""Statistics of a built K&K dataset for its card, computed with DuckDB over the shards.

Besides counts, each split gets the *shape* of its statements (share of statements whose root is
a bare leaf, a ``not``, ..., and share that mention their own speaker), from its first
:data:`SHAPE_ROWS` rows. Logic dedup conditions the grammar on novelty, which shifts these shares
when a split takes a large part of a size's distinct puzzles; for such sizes the card compares them
with :data:`REFERENCE_DRAFTS` unique-solution drafts of the grammar without any dedup (what the
public generator's text dedup approximates), drawn from a fixed stream so rebuilds stay identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.store.shards import ShardInfo

SHAPE_ROWS = 20_000
REFERENCE_DRAFTS = 4_000
#: A size is compared with the dedup-free grammar when its splits take this share of its puzzles.
REFERENCE_SHARE = 0.1
ROOTS = ("leaf", "not", "and", "or", "->", "<=>")

#: Operators as they appear in the public tuple encoding of ``statements``.
OPERATORS = {"not": "'not'", "and": "'and'", "or": "'or'", "->": "'->'", "<=>": "'<=>'",
             "is a knight (leaf)": "'telling-truth'", "is a knave (leaf)": "'lying'"}


def _count_sql(token: str) -> str:
    lit = token.replace("'", "''")
    return f"sum((length(statements) - length(replace(statements, '{lit}', ''))) // {len(token)})"


def shape(statement_sets) -> dict[str, Any]:
    """Root-operator shares and self-reference share over puzzles' parsed statements."""
    from cotforge.datagen.kk.statements import LEAF_OPS, mentioned

    roots = dict.fromkeys(ROOTS, 0)
    total = selfref = 0
    for statements in statement_sets:
        for speaker, stmt in enumerate(statements):
            total += 1
            roots["leaf" if stmt[0] in LEAF_OPS else stmt[0]] += 1
            selfref += speaker in mentioned(stmt)
    if not total:
        return {}
    return {"statements": total, "roots": {k: v / total for k, v in roots.items()}, "self_reference": selfref / total}


def split_shape(files: list[Path]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from cotforge.datagen.kk.statements import parse_statements

    texts: list[str] = []
    for f in files:
        texts += pq.read_table(f, columns=["statements"]).column("statements").to_pylist()[: SHAPE_ROWS - len(texts)]
        if len(texts) >= SHAPE_ROWS:
            break
    out = shape(parse_statements(t) for t in texts)
    out["rows"] = len(texts)
    return out


def reference_shape(n_people: int, cfg) -> dict[str, Any]:
    """The shape of the grammar itself: unique-solution drafts, no dedup, a fixed stream."""
    from cotforge.datagen.kk.rng import stream
    from cotforge.datagen.kk.sampler import StatementSampler

    sampler = StatementSampler(n_people, cfg.depth, cfg.width)
    rng = stream("kk-reference", n_people, cfg.depth, cfg.width, cfg.filter_degenerate)
    drafts = []
    while len(drafts) < REFERENCE_DRAFTS:
        d = sampler.draft(rng, cfg.filter_degenerate)
        if d is not None:
            drafts.append(d.statements)
    out = shape(drafts)
    out["drafts"] = REFERENCE_DRAFTS
    return out


def kk_stats(root: str | Path, splits: dict[str, list[ShardInfo]], cfg=None, plans=()) -> dict[str, Any]:
    """Per ``config/split``: rows, people, operator histogram, knight share, degenerate statements,
    CoT length, how many logical identities it holds, and the statements' shape; under
    ``reference/<n>ppl``, the dedup-free grammar's shape for crowded sizes (logic dedup only)."""
    import duckdb

    root = Path(root)
    # One thread and a memory cap: statistics of a million-row build must not raise the build's peak
    # memory (DuckDB's defaults use every core and most of the machine's RAM for buffers).
    con = duckdb.connect(config={"threads": 1, "memory_limit": "64MB", "preserve_insertion_order": False})
    out: dict[str, Any] = {}
    for key, shards in sorted(splits.items()):
        files = "[" + ", ".join("'" + str(root / s.path).replace("'", "''") + "'" for s in shards) + "]"
        src = f"read_parquet({files})"
        rows = sum(s.rows for s in shards)
        if rows == 0:
            out[key] = {"rows": 0}
            continue
        op_cols = ", ".join(_count_sql(tok) for tok in OPERATORS.values())
        (n_people, statements, degenerate, distinct_keys, cot_words, *ops) = con.execute(
            f"SELECT avg(n_people), sum(n_people), sum(n_degenerate), count(DISTINCT logic_key), "
            f"avg(length(cot) - length(replace(cot, ' ', '')) + 1), {op_cols} FROM {src}"
        ).fetchall()[0]
        knights = con.execute(
            f"SELECT avg(CAST(s AS DOUBLE)) FROM (SELECT unnest(solution) AS s FROM {src})"
        ).fetchall()[0][0]
        out[key] = {
            "rows": rows,
            "mean_people": float(n_people),
            "statements": int(statements),
            "operators": {name: int(v or 0) for name, v in zip(OPERATORS, ops)},
            "knight_share": float(knights),
            "degenerate_statements": int(degenerate),
            "degenerate_share": float(degenerate) / float(statements) if statements else 0.0,
            "distinct_logic": int(distinct_keys),
            "mean_cot_words": float(cot_words or 0),
            "shape": split_shape([root / s.path for s in shards]),
        }
    if cfg is not None and cfg.dedup == "logic":
        for plan in plans:
            available = plan["available"]
            if available and plan["train"] + plan["test"] >= REFERENCE_SHARE * available:
                out[f"reference/{plan['n_people']}ppl"] = reference_shape(plan["n_people"], cfg)
    return out
