"""What every benchmark file provides: items (prompt, gold, metadata), where its data lives, its verifier.

A benchmark is a subclass of :class:`Benchmark` in ``evals/benchmarks/<name>.py`` that reads its
raw rows (:meth:`Benchmark.read_rows`) and turns one row into an :class:`Item`
(:meth:`Benchmark.make_item`). Everything else - finding the data, hashing it, choosing the prompt
template, applying ``--limit`` - is shared here, so a new benchmark is one small file.

Where the data comes from, in order: ``--data PATH`` (a file in the benchmark's own format, or a Hub
id ``org/name@revision`` loaded with ``datasets``), else the shared offline folder
(``$COTFORGE_SHARED_DATA`` or ``<repo>/../shared/data``). The sha256 of the file(s) read is the
benchmark's content hash and goes into the run's manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cotforge.errors import UsageError
from cotforge.evals.prompts import PROMPTS, PromptTemplate


@dataclass(frozen=True)
class Item:
    """One question of a benchmark, ready to prompt and grade.

    ``id`` is stable across runs and is the generation prompt id (replay files key on it);
    ``gold`` is what the verifier receives first; ``verify_kwargs`` are its per-item options
    (``n_options`` for letters, ``answer_type`` for TheoremQA); ``meta`` holds the breakdown keys.
    """

    id: str
    question: str
    gold: Any
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)
    verify_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Loaded:
    items: list[Item]
    record: dict[str, Any]  # where the data came from and its content hash (for the manifest)
    prompt: PromptTemplate
    notes: list[str] = field(default_factory=list)


def shared_data_dir() -> Path:
    from cotforge.datagen.decontam import shared_data_dir as shared

    return shared()


def sha256_files(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}: row {line_no + 1}: invalid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise UsageError(f"{path}: row {line_no + 1}: expected a JSON object")
            yield row


def read_table_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl(.gz), .json (a list) or .parquet file."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if name.endswith(".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise UsageError(f"{path}: expected a JSON list of objects")
        return data
    if name.endswith((".jsonl", ".jsonl.gz")):
        return list(read_jsonl(path))
    raise UsageError(f"{path}: unknown file type; use .jsonl, .jsonl.gz, .json or .parquet")


class Benchmark:
    """Base class of the benchmark files. Subclasses set the class attributes and two methods."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    verifier: ClassVar[str] = ""
    verifier_options: ClassVar[dict[str, Any]] = {}
    #: Prompt templates this benchmark accepts (names in :data:`cotforge.evals.prompts.PROMPTS`).
    prompts: ClassVar[tuple[str, ...]] = ()
    default_prompt: ClassVar[str] = ""
    #: Sampling defaults a preset or flag overrides (``max_tokens``, ``stop``...).
    default_sampling: ClassVar[dict[str, Any]] = {}
    #: Path of the data under the shared folder.
    shared_path: ClassVar[str] = ""
    #: Hub dataset that ``--data org/name@revision`` can point at (for the error message).
    hub_hint: ClassVar[str] = ""
    #: Item metadata keys the results break accuracy down by.
    breakdowns: ClassVar[tuple[str, ...]] = ()
    #: How maj@k groups extracted answers: answer ``b`` is equivalent to ``a`` when the verifier
    #: grades the response ``prefix + b + suffix`` correct against the gold ``a``. None: only
    #: equal strings are equivalent (letters, K&K assignments).
    equivalence_wrap: ClassVar[tuple[str, str] | None] = None
    #: False where a majority vote means nothing (code: no two programs are "the same answer").
    majority: ClassVar[bool] = True

    # -- subclasses implement -------------------------------------------------------------------
    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        return read_table_file(path)

    def make_item(self, row: dict[str, Any], index: int, prompt: PromptTemplate) -> Item:  # pragma: no cover
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def data_files(self, path: Path) -> list[Path]:
        """The files whose bytes define the benchmark content (hashed for the manifest)."""
        return [path]

    def locate(self, data: str | Path | None) -> tuple[Path | None, str | None]:
        """(local path, hub spec): exactly one is set."""
        if data is not None:
            text = str(data)
            p = Path(text).expanduser()
            if p.exists():
                return p, None
            if "@" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1:
                return None, text
            raise UsageError(f"--data {self.name}={text}: no such file (a Hub id must be given as org/name@revision)")
        p = shared_data_dir() / self.shared_path
        if p.exists():
            return p, None
        raise UsageError(
            f"benchmark {self.name}: data not found at {p}; put the shared data folder there "
            f"(or set COTFORGE_SHARED_DATA), or pass --data {self.name}=PATH"
            + (f" (or --data {self.name}={self.hub_hint}@REVISION)" if self.hub_hint else "")
        )

    def _hub_rows(self, spec: str) -> list[dict[str, Any]]:
        repo, _, revision = spec.partition("@")
        try:
            import datasets

            ds = datasets.load_dataset(repo, revision=revision, split="test")
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(f"--data {self.name}={spec}: loading from the Hub failed: {first}") from None
        return [dict(r) for r in ds]

    def template(self, prompt: str | None) -> PromptTemplate:
        name = prompt or self.default_prompt
        if name not in self.prompts:
            raise UsageError(f"benchmark {self.name}: unknown prompt {name!r}; choose one of {', '.join(self.prompts)}")
        return PROMPTS[name]

    def load(self, data: str | Path | None = None, *, prompt: str | None = None, limit: int | None = None) -> Loaded:
        """The items (the first ``limit`` of them when given) and where they came from."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise UsageError(f"--limit {limit!r}: must be an integer >= 1")
        template = self.template(prompt)
        path, hub = self.locate(data)
        if hub is not None:
            rows = self._hub_rows(hub)
            record: dict[str, Any] = {"kind": "hub", "id": hub, "sha256": _rows_hash(rows)}
        else:
            rows = self.read_rows(path)
            files = self.data_files(path)
            record = {"kind": "file", "path": str(path), "sha256": sha256_files(files)}
        items = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            try:
                item = self.make_item(row, i, template)
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, UsageError):
                    raise
                raise UsageError(f"{path or hub}: row {i + 1}: not a {self.name} row ({type(exc).__name__}: {exc})") from None
            if item.id in seen:
                raise UsageError(f"{path or hub}: row {i + 1}: duplicate question id {item.id!r}")
            seen.add(item.id)
            items.append(item)
        if not items:
            raise UsageError(f"benchmark {self.name}: {path or hub} holds no questions")
        record["questions"] = len(items)
        if limit is not None:
            items = items[:limit]
            record["limit"] = limit
        return Loaded(items, record, template)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "verifier": self.verifier, "prompts": list(self.prompts),
            "default_prompt": self.default_prompt, "breakdowns": list(self.breakdowns),
        }


def _rows_hash(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()
