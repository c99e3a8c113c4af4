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

from cotforge.datagen.kk.statements import LEAF_OPS, mentioned
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


def _parts(texts: list[str]) -> tuple[list[bytes], list[int], list[int]] | None:
    """Every row's per-person statement substrings, with their row and speaker, found in one numpy
    pass over the joined texts (depth of parentheses; quoted operator names hold none). None if the
    texts do not nest as the public form does (then each row is parsed on its own)."""
    import numpy as np

    blob = "\n".join(texts).encode()
    b = np.frombuffer(blob, dtype=np.uint8)
    opens, closes = b == 40, b == 41
    depth = np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
    starts = np.flatnonzero(opens & (depth == 2))
    ends = np.flatnonzero(closes & (depth == 1)) + 1
    breaks = np.flatnonzero(b == 10)
    if len(starts) != len(ends) or (depth[breaks] != 0).any() or depth[-1] != 0 or (ends <= starts).any():
        return None
    rows = np.searchsorted(breaks, starts)
    speakers = np.arange(len(starts)) - np.searchsorted(rows, rows, side="left")
    return [blob[s:e] for s, e in zip(starts.tolist(), ends.tolist())], rows.tolist(), speakers.tolist()


#: (statement text, people) -> (root, bitmask of the people it mentions), across splits and builds.
_PART_MEMO: dict[tuple[bytes, int], tuple[str, int]] = {}


def text_shape(texts: list[str]) -> dict[str, Any]:
    """:func:`shape` of statements strings (the public form), each distinct statement parsed once.

    Statements recur across a dataset (a few hundred distinct ones at depth 2), so a row costs a
    share of one numpy scan and a dict lookup per person instead of a full parse; this runs on every
    build. Each distinct statement still goes through the safe parser and its checks.
    """
    from cotforge.datagen.kk.statements import LEAF_OPS, _parse_literal, check_statement, parse_statements

    found = _parts(texts) if texts else None
    if found is None:
        return shape(parse_statements(t) for t in texts)
    parts, rows, speakers = found
    people = [0] * len(texts)
    for r in rows:
        people[r] += 1
    memo = _PART_MEMO
    if len(memo) > 1 << 16:
        memo.clear()
    roots = dict.fromkeys(ROOTS, 0)
    selfref = 0
    for part, r, speaker in zip(parts, rows, speakers):
        n = people[r]
        seen = memo.get((part, n))
        if seen is None:
            try:
                stmt = check_statement(_parse_literal(part.decode()), n)
            except (ValueError, UnicodeDecodeError):
                return shape(parse_statements(t) for t in texts)  # raises, naming the problem
            mask = 0
            for p in mentioned(stmt):
                mask |= 1 << p
            seen = memo[part, n] = ("leaf" if stmt[0] in LEAF_OPS else stmt[0], mask)
        roots[seen[0]] += 1
        selfref += seen[1] >> speaker & 1
    total = len(parts)
    if not total:
        return {}
    return {"statements": total, "roots": {k: v / total for k, v in roots.items()}, "self_reference": selfref / total}


def split_shape(files: list[Path]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    texts: list[str] = []
    for f in files:
        texts += pq.read_table(f, columns=["statements"]).column("statements").to_pylist()[: SHAPE_ROWS - len(texts)]
        if len(texts) >= SHAPE_ROWS:
            break
    out = text_shape(texts)
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


def mean_words(files: list[Path], column: str, rows: int) -> float:
    """Mean of (spaces + 1) over a text column, read a row group at a time (memory stays flat).

    Spaces are counted as bytes of the UTF-8 data buffer (a space is never part of a multi-byte
    character): DuckDB's length/replace spelling copied every CoT and was a third of the
    statistics' time, pyarrow's substring search half of that."""
    import numpy as np
    import pyarrow.parquet as pq

    spaces = 0
    for f in files:
        with pq.ParquetFile(f) as pf:
            for g in range(pf.num_row_groups):
                for chunk in pf.read_row_group(g, columns=[column]).column(0).chunks:
                    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
                    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
                    spaces += int(np.count_nonzero(data == 32))
    return (spaces + rows) / rows if rows else 0.0


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
        (n_people, statements, degenerate, distinct_keys, *ops) = con.execute(
            f"SELECT avg(n_people), sum(n_people), sum(n_degenerate), count(DISTINCT logic_key), "
            f"{op_cols} FROM {src}"
        ).fetchall()[0]
        cot_words = mean_words([root / s.path for s in shards], "cot", rows)
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
