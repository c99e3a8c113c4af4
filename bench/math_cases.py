"""Agreement of cotforge's math verifier and of raw math-verify with a labelled case table.

The table is ``tests/verifiers/math_cases.py``: realistic (gold, response, paid?) rows, one family
per grading class (partial parses, restatements, bare formulas, several boxes, mixed numbers,
broken golds, ...). cotforge grades with ``verify_batch("math")`` (default options, so an unmarked
response is read by math-verify's own last-expression rule, as raw math-verify does) and the
question where a row has one (as the rewards and evals pass it); raw math-verify grades as a user calls
it: ``parse(f"${gold}$")``, ``parse(response)``, ``verify`` (default 5 s signal timeouts), serially.
An exception in raw math-verify counts as "not paid".

    python bench/math_cases.py            # per-family table and totals
    python bench/math_cases.py --show     # also every row where cotforge disagrees with its label
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_rows() -> list[tuple]:
    sys.path.insert(0, str(ROOT / "tests" / "verifiers"))
    try:
        from math_cases import ROWS
    finally:
        sys.path.pop(0)
    return ROWS


def grade_cotforge(rows: list[tuple]) -> list[bool]:
    from cotforge.verifiers.pool import verify_batch

    golds = [r[0] for r in rows]
    responses = [r[1] for r in rows]
    kwargs = [{"question": r[3]} if r[3] else {} for r in rows]
    return [v.correct for v in verify_batch("math", golds, responses, kwargs=kwargs)]


def grade_math_verify(rows: list[tuple]) -> list[bool]:
    from math_verify import parse, verify

    out = []
    for gold, response, *_ in rows:
        try:
            out.append(bool(verify(parse(f"${gold}$"), parse(response))))
        except BaseException:  # noqa: BLE001 - raw math-verify may raise on odd input: not paid
            out.append(False)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--show", action="store_true", help="print the rows cotforge grades against their label")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    rows = load_rows()
    ours = grade_cotforge(rows)
    raw = grade_math_verify(rows)
    fam: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row, o, r in zip(rows, ours, raw):
        f = fam[row[4]]
        f[0] += 1
        f[1] += o == row[2]
        f[2] += r == row[2]
    print("| family | rows | cotforge | raw math-verify |")
    print("|---|---:|---:|---:|")
    for name, (n, a, b) in fam.items():
        print(f"| {name} | {n} | {a} | {b} |")
    n = len(rows)
    a, b = sum(o == row[2] for row, o in zip(rows, ours)), sum(r == row[2] for row, r in zip(rows, raw))
    print(f"| **all** | {n} | {a} ({100 * a / n:.1f}%) | {b} ({100 * b / n:.1f}%) |")
    if args.show:
        for row, o in zip(rows, ours):
            if o != row[2]:
                print(f"DISAGREE label={row[2]} ours={o} [{row[4]}] gold={row[0]!r} response={row[1]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
