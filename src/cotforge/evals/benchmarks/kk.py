"""Knights & Knaves: the public K&K test file (3-7 people) or a cotforge K&K dataset (2-8+ people).

``--data kk=DIR`` takes a dataset built by ``cotforge kk build`` (every config's ``test`` split is
read); ``--data kk=FILE`` a JSONL/Parquet file of public K&K rows (``quiz``, ``names``,
``solution``). Graded person by person by the K&K verifier (``exact`` scoring: every role right).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.evals.benchmark import Benchmark, Item, read_table_file
from cotforge.evals.prompts import PromptTemplate


class KK(Benchmark):
    name = "kk"
    title = "Knights & Knaves"
    verifier = "kk"
    verifier_options = {"scoring": "exact"}
    prompts = ("kk_r1",)
    default_prompt = "kk_r1"
    shared_path = "kk/kk_test_3to7ppl.jsonl"
    breakdowns = ("people",)
    #: Without a preset: greedy, 4,096 new tokens, stopping after ``</answer>`` (kept in the text), as the
    #: warm-up recipe samples its K&K traces.
    default_sampling = {"max_tokens": 4096, "stop": ["</answer>"], "include_stop": True}

    def _split_files(self, path: Path, *, check: bool = True) -> list[Path]:
        from cotforge.store import layout
        from cotforge.store.manifest import manifest_shards, read_manifest
        from cotforge.store.verify import split_paths

        manifest = read_manifest(path)
        shards = manifest_shards(manifest)
        keys = sorted(k for k in shards if layout.parse_split_key(k)[1] == "test")
        if not keys:
            raise UsageError(f"--data kk={path}: the dataset has no test split (splits: {', '.join(sorted(shards))})")
        files = split_paths(path, manifest, keys=keys, check=check)  # a damaged shard is named
        return [f for k in keys for f in files[k]]

    def data_files(self, path: Path) -> list[Path]:
        # for the content hash, after read_rows has checked the same shards: no second check
        return self._split_files(path, check=False) if path.is_dir() else [path]

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        if not path.is_dir():
            return read_table_file(path)
        rows = []
        for f in self._split_files(path):
            config = f.parent.name
            for i, r in enumerate(read_table_file(f)):
                rows.append({"id": r.get("id") or f"{config}:{i}", **r})
        return rows

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        names = row["names"]
        names = names.tolist() if hasattr(names, "tolist") else list(names)
        solution = row["solution"]
        solution = [bool(s) for s in (solution.tolist() if hasattr(solution, "tolist") else solution)]
        if len(names) != len(solution):
            raise ValueError(f"{len(names)} names but {len(solution)} solution entries")
        gold = {"names": names, "solution": solution}
        if row.get("knight_knave"):
            gold["knight_knave"] = row["knight_knave"]
        return Item(
            id=str(row.get("id") or index),
            question=str(row["quiz"]),
            gold=gold,
            messages=prompt.render(quiz=str(row["quiz"]), names=names),
            meta={"people": int(row.get("n_people") or len(names))},
        )
