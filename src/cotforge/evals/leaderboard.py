"""``leaderboard``: one table over many runs - models x benchmarks, avg@n with its 95% CI - in DuckDB.

Every ``results.json`` under the folder is one run; its scores become rows of a DuckDB table that
one query pivots into the table (ordered by the mean over the benchmarks each run has).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.evals.results import RESULTS


def collect(root: str | Path) -> list[tuple]:
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"leaderboard: {root} is not a folder")
    rows = []
    for path in sorted(root.rglob(RESULTS)):
        if any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue  # a rescore's temporary folder
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
            for name, b in r["benchmarks"].items():
                rows.append((str(path.parent.relative_to(root)) or ".", r["model"], name, float(b["avg@n"]),
                             float(b["stderr"]), float(b["ci95"][0]), float(b["ci95"][1]), int(b["n"]), int(b["questions"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: not a cotforge results file ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise UsageError(f"leaderboard: no {RESULTS} under {root}")
    return rows


def leaderboard(root: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per run, one column per benchmark ("avg [lo, hi]" in percent)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE scores (run VARCHAR, model VARCHAR, benchmark VARCHAR, avg DOUBLE, stderr DOUBLE, "
                    "lo DOUBLE, hi DOUBLE, n INTEGER, questions INTEGER)")
        con.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", collect(root))
        benches = [r[0] for r in con.execute("SELECT DISTINCT benchmark FROM scores ORDER BY benchmark").fetchall()]
        runs = con.execute(
            "SELECT run, any_value(model), avg(avg) AS mean, count(*) FROM scores GROUP BY run ORDER BY mean DESC, run"
        ).fetchall()
        cells = {(r, b): (a, lo, hi, n) for r, b, a, lo, hi, n in con.execute(
            "SELECT run, benchmark, avg, lo, hi, n FROM scores").fetchall()}
    finally:
        con.close()
    header = ["run", "model"] + benches + ["mean"]
    table = []
    for run, model, mean, _ in runs:
        row = [run, model]
        for b in benches:
            c = cells.get((run, b))
            row.append(f"{100 * c[0]:.1f} [{100 * c[1]:.1f}, {100 * c[2]:.1f}] (n={c[3]})" if c else "")
        row.append(f"{100 * mean:.1f}")
        table.append(row)
    return header, table


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def as_json(header: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
    return [dict(zip(header, r)) for r in rows]
