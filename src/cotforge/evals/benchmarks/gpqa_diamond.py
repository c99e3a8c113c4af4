"""GPQA Diamond: 198 four-option questions, read in memory from the password zip (never extracted).

The release CSV keeps the correct answer in its own column, so the options are shuffled here, by a
seed derived from the question's Record ID alone: the same question gets the same letters in every
run and on every machine, and no answer sits at a fixed position.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import zipfile
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.evals.benchmark import Benchmark, Item
from cotforge.evals.prompts import LETTERS, PromptTemplate

#: The GPQA authors' own release password (see the shared data's PROVENANCE.md).
PASSWORD = b"deserted-untie-orchid"
CSV_NAME = "gpqa_diamond.csv"
#: Bump to draw different (but again fixed) option orders; recorded through the prompt/data hash.
SHUFFLE_SEED = 0


def option_order(record_id: str, seed: int = SHUFFLE_SEED) -> list[int]:
    """Permutation of [correct, wrong1, wrong2, wrong3] for one question (fixed by id and seed)."""
    digest = hashlib.sha256(f"cotforge-gpqa\x00{seed}\x00{record_id}".encode()).digest()
    order = [0, 1, 2, 3]
    random.Random(int.from_bytes(digest[:8], "little")).shuffle(order)
    return order


class GPQADiamond(Benchmark):
    name = "gpqa_diamond"
    title = "GPQA Diamond"
    verifier = "choice"
    prompts = ("letter", "letter_r1")
    default_prompt = "letter"
    shared_path = "gpqa_diamond/gpqa_diamond.zip"
    hub_hint = "Idavidrein/gpqa"
    breakdowns = ("domain",)
    #: Without a preset: greedy, 4,096 new tokens.
    default_sampling = {"max_tokens": 4096}

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        if path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as z, z.open(CSV_NAME, pwd=PASSWORD) as fh:
                    return list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
            except (KeyError, RuntimeError, zipfile.BadZipFile) as exc:
                raise UsageError(f"{path}: cannot read {CSV_NAME} from the zip ({exc})") from None
        if path.suffix == ".csv":
            with open(path, encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))
        raise UsageError(f"--data {path}: GPQA expects the release CSV or the shared gpqa_diamond.zip")

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:
        answers = [row["Correct Answer"]] + [row[f"Incorrect Answer {k}"] for k in (1, 2, 3)]
        answers = [str(a).strip() for a in answers]
        rid = str(row.get("Record ID") or index)
        order = option_order(rid)
        options = [answers[k] for k in order]
        gold = LETTERS[order.index(0)]
        question = str(row["Question"]).strip()
        return Item(
            id=rid,
            question=question,
            gold=gold,
            messages=prompt.render(question=question, options=options),
            meta={"domain": row.get("High-level domain"), "subdomain": row.get("Subdomain")},
            verify_kwargs={"n_options": 4},
        )
