"""Statistics of a built K&K dataset for its card, computed over the shards a row group
at a time (pyarrow and numpy; memory stays flat at millions of rows).

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


def _parts(texts: list[str]):
    """Every row's per-person statement substrings, with their row and speaker, found in one numpy
    pass over the joined texts (depth of parentheses; quoted operator names hold none): the parts
    as bytes, and their rows and speakers as integer arrays. None if the texts do not nest as the
    public form does (then each row is parsed on its own)."""
    import numpy as np

    blob = "\n".join(texts).encode()
    b = np.frombuffer(blob, dtype=np.uint8)
    step = _PAREN_STEP[b]  # +1 at "(", -1 at ")", else 0
    depth = np.cumsum(step, dtype=np.int32)
    starts = np.flatnonzero((step == 1) & (depth == 2))
    ends = np.flatnonzero((step == -1) & (depth == 1)) + 1
    breaks = np.flatnonzero(b == 10)
    if len(starts) != len(ends) or (depth[breaks] != 0).any() or depth[-1] != 0 or (ends <= starts).any():
        return None
    rows = np.searchsorted(breaks, starts)
    speakers = np.arange(len(starts)) - np.searchsorted(rows, rows, side="left")
    return [blob[s:e] for s, e in zip(starts.tolist(), ends.tolist())], rows, speakers


def _step_table():
    import numpy as np

    table = np.zeros(256, dtype=np.int8)
    table[ord("(")], table[ord(")")] = 1, -1
    return table


_PAREN_STEP = _step_table()


#: (statement text, people) -> (root, bitmask of the people it mentions), across splits and builds.
_PART_MEMO: dict[tuple[bytes, int], tuple[str, int]] = {}


def text_shape(texts: list[str]) -> dict[str, Any]:
    """:func:`shape` of statements strings (the public form), each distinct statement parsed once.

    Statements recur across a dataset (a few hundred distinct ones at depth 2), so the parts are
    grouped by pyarrow's hash-based dictionary encoding and only the distinct ones are looked up
    or parsed; the counts are then numpy sums over the groups. This runs on every build. Each
    distinct statement still goes through the safe parser and its checks.
    """
    import numpy as np
    import pyarrow as pa

    from cotforge.datagen.kk.statements import LEAF_OPS, _parse_literal, check_statement, parse_statements

    found = _parts(texts) if texts else None
    if found is None:
        return shape(parse_statements(t) for t in texts)
    parts, rows, speakers = found
    total = len(parts)
    if not total:
        return {}
    people = np.bincount(rows, minlength=len(texts))[rows]  # each part's row's people count
    memo = _PART_MEMO
    if len(memo) > 1 << 16:
        memo.clear()
    root_index = {name: k for k, name in enumerate(ROOTS)}
    root_counts = np.zeros(len(ROOTS), dtype=np.int64)
    selfref = 0
    for n in np.unique(people).tolist():
        here = np.flatnonzero(people == n)
        grouped = pa.array(parts if len(here) == total else [parts[i] for i in here.tolist()], type=pa.binary()).dictionary_encode()
        distinct, inverse = grouped.dictionary.to_pylist(), grouped.indices.to_numpy(zero_copy_only=False)
        roots = np.empty(len(distinct), dtype=np.int64)
        masks = np.empty(len(distinct), dtype=np.int64)
        for k, part in enumerate(distinct):
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
            roots[k], masks[k] = root_index[seen[0]], seen[1]
        root_counts += np.bincount(roots[inverse], minlength=len(ROOTS))
        selfref += int(((masks[inverse] >> speakers[here]) & 1).sum())
    return {"statements": total, "roots": {k: int(v) / total for k, v in zip(ROOTS, root_counts.tolist())},
            "self_reference": selfref / total}


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


def _count_byte(chunk, byte: int) -> int:
    """Occurrences of one byte in a string array's UTF-8 data (an ASCII byte is never part of a
    multi-byte character, so this counts characters)."""
    import numpy as np

    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return int(np.count_nonzero(data == byte))


def _row_groups(files: list[Path], columns: list[str]):
    import pyarrow.parquet as pq

    for f in files:
        with pq.ParquetFile(f) as pf:
            for g in range(pf.num_row_groups):
                yield pf.read_row_group(g, columns=columns)


def mean_words(files: list[Path], column: str, rows: int) -> float:
    """Mean of (spaces + 1) over a text column, read a row group at a time (memory stays flat)."""
    spaces = sum(_count_byte(c, 32) for t in _row_groups(files, [column]) for c in t.column(0).chunks)
    return (spaces + rows) / rows if rows else 0.0


_HEX = None


def _key_digests(chunk):
    """The logic keys of a string array as fixed-width digests for exact distinct counting: the
    32 hex digits after the shared ``kk<n>-`` prefix packed into 16 bytes each (16 MB at a million
    rows, where a set of the strings costs 100+ MB). None if the keys are not all of that form."""
    import numpy as np

    global _HEX
    if _HEX is None:
        _HEX = np.full(256, 255, dtype=np.uint8)
        for i, ch in enumerate(b"0123456789abcdef"):
            _HEX[ch] = i
    if chunk.null_count:
        return None
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    widths = np.diff(offsets)
    if not len(widths) or (widths != widths[0]).any() or widths[0] < 33:
        return None
    width = int(widths[0])
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, width)
    prefix, digits = data[:, : width - 32], _HEX[data[:, width - 32 :]]
    if (digits == 255).any() or (prefix != prefix[0]).any():
        return None
    packed = (digits[:, 0::2] << 4) | digits[:, 1::2]
    return bytes(prefix[0]), np.ascontiguousarray(packed).view("V16").ravel()


def split_counts(files: list[Path], rows: int) -> dict[str, Any]:
    """Counts over every row of a split, one row group at a time with pyarrow (memory stays flat;
    DuckDB's connection and queries cost more than these passes at the sizes people build)."""
    import numpy as np
    import pyarrow.compute as pc

    people = degenerate = knights = cells = spaces = 0
    ops = dict.fromkeys(OPERATORS, 0)
    digests: list = []
    prefixes: set[bytes] = set()
    packable = True
    for t in _row_groups(files, ["n_people", "n_degenerate", "solution", "statements", "logic_key", "cot"]):
        people += pc.sum(t.column("n_people")).as_py() or 0
        degenerate += pc.sum(t.column("n_degenerate")).as_py() or 0
        flat = pc.list_flatten(t.column("solution"))
        knights += pc.sum(pc.cast(flat, "int64")).as_py() or 0
        cells += len(flat)
        statements = t.column("statements")
        for name, token in OPERATORS.items():
            ops[name] += pc.sum(pc.count_substring(statements, token)).as_py() or 0
        spaces += sum(_count_byte(c, 32) for c in t.column("cot").chunks)
        for chunk in t.column("logic_key").chunks if packable else ():
            packed = _key_digests(chunk)
            if packed is None:
                packable, digests = False, []
                break
            prefixes.add(packed[0])
            digests.append(packed[1])
    if packable and len(prefixes) <= 1:
        distinct = len(np.unique(np.concatenate(digests))) if digests else 0
    else:  # keys not of cotforge's form: count the strings themselves (a second, slower pass)
        distinct = len({k for t in _row_groups(files, ["logic_key"]) for k in t.column(0).to_pylist()})
    return {"people": people, "degenerate": degenerate, "knights": knights, "cells": cells, "ops": ops,
            "spaces": spaces, "distinct": distinct}


def kk_stats(root: str | Path, splits: dict[str, list[ShardInfo]], cfg=None, plans=()) -> dict[str, Any]:
    """Per ``config/split``: rows, people, operator histogram, knight share, degenerate statements,
    CoT length, how many logical identities it holds, and the statements' shape; under
    ``reference/<n>ppl``, the dedup-free grammar's shape for crowded sizes (logic dedup only)."""
    root = Path(root)
    out: dict[str, Any] = {}
    for key, shards in sorted(splits.items()):
        rows = sum(s.rows for s in shards)
        if rows == 0:
            out[key] = {"rows": 0}
            continue
        files = [root / s.path for s in shards]
        c = split_counts(files, rows)
        out[key] = {
            "rows": rows,
            "mean_people": c["people"] / rows,
            "statements": int(c["people"]),
            "operators": {name: int(v) for name, v in c["ops"].items()},
            "knight_share": c["knights"] / c["cells"] if c["cells"] else 0.0,
            "degenerate_statements": int(c["degenerate"]),
            "degenerate_share": c["degenerate"] / c["people"] if c["people"] else 0.0,
            "distinct_logic": int(c["distinct"]),
            "mean_cot_words": (c["spaces"] + rows) / rows,
            "shape": split_shape(files),
        }
    if cfg is not None and cfg.dedup == "logic":
        for plan in plans:
            available = plan["available"]
            if available and plan["train"] + plan["test"] >= REFERENCE_SHARE * available:
                out[f"reference/{plan['n_people']}ppl"] = reference_shape(plan["n_people"], cfg)
    return out
