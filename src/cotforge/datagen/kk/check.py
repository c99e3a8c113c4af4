"""Check a K&K file in the public format against our solver: ``cotforge kk check PATH``
(the command expands dataset folders and folders of files through :func:`.files.kk_files`).

Reads JSONL, JSON (a list) or Parquet rows holding ``statements`` (public tuple string) and
``solution`` (list of bool), solves every puzzle exhaustively and reports how many have exactly one
solution and whether it is the gold one. A malformed row is reported with the file and row number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotforge.datagen.kk.files import read_rows
from cotforge.errors import InputRowError, UsageError


@dataclass
class CheckReport:
    path: str
    rows: int = 0
    unique: int = 0
    agree: int = 0
    multiple: list[int] = field(default_factory=list)  # rows with more than one solution
    unsolvable: list[int] = field(default_factory=list)  # rows with none
    disagree: list[int] = field(default_factory=list)  # unique solution differs from gold

    @property
    def ok(self) -> bool:
        return self.rows > 0 and self.agree == self.rows

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "unique": self.unique, "agree_with_gold": self.agree,
                "multiple_solutions": self.multiple, "no_solution": self.unsolvable, "disagree": self.disagree}


def check_file(path: str | Path) -> CheckReport:
    from cotforge.datagen.kk.solver import solutions
    from cotforge.datagen.kk.statements import parse_statements

    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    report = CheckReport(str(path))
    for i, row in read_rows(path):
        if "statements" not in row or "solution" not in row:
            raise InputRowError(path, i, "needs the fields 'statements' and 'solution'")
        gold = row["solution"]
        if not isinstance(gold, (list, tuple)) or not all(isinstance(x, bool) for x in gold):
            raise InputRowError(path, i, f"'solution' must be a list of booleans, got {gold!r:.60}")
        try:
            statements = parse_statements(row["statements"], len(gold))
        except UsageError as exc:
            raise InputRowError(path, i, str(exc)) from None
        found = solutions(statements)
        report.rows += 1
        if len(found) == 1:
            report.unique += 1
            if list(found[0]) == list(gold):
                report.agree += 1
            else:
                report.disagree.append(i)
        elif found:
            report.multiple.append(i)
        else:
            report.unsolvable.append(i)
    return report
