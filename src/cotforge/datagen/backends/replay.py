"""The ``replay`` backend: completions recorded by an earlier run, served again without a model.

Re-filtering a distilled dataset with a new verifier or a new keep policy should not mean sampling
the teacher again. ``ReplayGenerator(path)`` reads:

* a cotforge dataset folder: the Parquet shards of its ``all`` config (``data/all/*.parquet``, every
  split), where the distill stage keeps every sample, rejected ones included; or
* one Parquet or JSONL file.

Two row layouts are accepted (column names are configurable):

* long, one row per sample: ``prompt_id``, the text in ``completion`` (or ``text`` / ``response``;
  a string or a list of chat messages whose last assistant turn is the text), and optionally
  ``sample_index``, ``reasoning``, ``prompt_tokens``, ``completion_tokens``, ``finish_reason``,
  ``error``, ``model``, ``sampling``;
* wide, one row per prompt: ``prompt_id`` and ``completions``, a list of strings or of objects with
  the long layout's fields.

``sampling`` (the ``SamplingParams.to_dict()`` of the original run, as a dict or a JSON string) is
checked against the parameters ``generate`` is called with: replaying samples drawn at temperature
0.6 while recording 1.0 would make the new dataset lie about its provenance, so a mismatch is a
:class:`UsageError` unless ``check_params=False``. ``n`` is exempt: asking for fewer samples than were
recorded takes samples ``0..n-1`` (with per-sample seeding these are exactly what a smaller run would
have drawn). Asking for more, or for a prompt never recorded, gives error completions saying so;
asking only for prompts none of which were recorded is a :class:`UsageError` (wrong file).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cotforge.datagen.backends.base import (
    FINISH_REASONS,
    Completion,
    GenerationRequest,
    GeneratorBase,
    SamplingParams,
    check_sample_grid,
    split_reasoning,
)
from cotforge.errors import InputRowError, UsageError

_TEXT_COLUMNS = ("completion", "text", "response")
#: Sampling fields that decide what a sample looks like; ``n`` only decides how many there are.
_PARAM_FIELDS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "include_stop")


class ReplayGenerator(GeneratorBase):
    name = "replay"

    def __init__(
        self,
        path: str | Path,
        *,
        config: str = "all",
        id_column: str = "prompt_id",
        text_column: str | None = None,
        check_params: bool = True,
    ) -> None:
        self.path = Path(path)
        self.files = _input_files(self.path, config)
        self.id_column = id_column
        self.text_column = text_column
        self.check_params = check_params
        self._matched = False  # some requested prompt was recorded (then a missing one is an error row)
        # prompt id -> sample index -> (completion, recorded sampling dict or None, source file, row)
        self._index: dict[str, dict[int, tuple[Completion, dict | None, str, int]]] = defaultdict(dict)
        models: set[str] = set()
        for file in self.files:
            for row_no, row in _read_rows(file):
                for completion, sampling, model in self._parse_row(file, row_no, row):
                    pid = str(row[self.id_column])
                    slot = self._index[pid]
                    if completion.sample_index in slot:
                        prev = slot[completion.sample_index]
                        raise InputRowError(
                            str(file), row_no,
                            f"prompt {pid!r} sample {completion.sample_index} was already recorded at {prev[2]} row {prev[3]}",
                        )
                    if model:
                        models.add(str(model))
                        # each sample keeps the model that wrote it (several models in one file)
                        completion = dataclasses.replace(completion, model=str(model))
                    slot[completion.sample_index] = (completion, sampling, str(file), row_no)
        if not self._index:
            raise UsageError(f"replay: {self.path} holds no completions")
        self.models = sorted(models)
        self.model = self.models[0] if len(self.models) == 1 else f"replay:{self.path}"

    # ------------------------------------------------------------------ reading

    def _parse_row(self, file: Path, row_no: int, row: dict[str, Any]) -> Iterator[tuple[Completion, dict | None, str | None]]:
        def bad(problem: str) -> InputRowError:
            return InputRowError(str(file), row_no, problem)

        if row.get(self.id_column) in (None, ""):
            raise bad(f"no {self.id_column!r} (the prompt id); columns: {sorted(row)}")
        row_sampling = _sampling(row.get("sampling"), bad)
        row_model = row.get("model")
        if "completions" in row and self.text_column is None:
            items = row["completions"]
            if not isinstance(items, (list, tuple)):
                raise bad(f"'completions' must be a list, got {type(items).__name__}")
            for k, item in enumerate(items):
                fields = {"completion": item} if isinstance(item, str) else item
                if not isinstance(fields, dict):
                    raise bad(f"completions[{k}] must be a string or an object, got {type(item).__name__}")
                fields = {"sample_index": k, **fields}
                yield self._completion(fields, bad, f"completions[{k}]"), _sampling(fields.get("sampling"), bad) or row_sampling, (
                    fields.get("model") or row_model
                )
            return
        if row.get("sample_index") is None:  # no index recorded: samples are numbered in file order
            row = {**row, "sample_index": len(self._index.get(str(row[self.id_column]), {}))}
        yield self._completion(row, bad, "row"), row_sampling, row_model

    def _completion(self, fields: dict[str, Any], bad, where: str) -> Completion:
        column = self.text_column or next((c for c in _TEXT_COLUMNS if c in fields), None)
        if column is None or column not in fields:
            raise bad(f"{where}: no completion text; expected one of {list(_TEXT_COLUMNS)} (or set text_column)")
        text = _text(fields[column], bad, f"{where}.{column}")
        index = fields.get("sample_index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise bad(f"{where}: sample_index must be an integer >= 0, got {index!r}")
        error = fields.get("error")
        finish = fields.get("finish_reason") or ("error" if error else "stop")
        if finish not in FINISH_REASONS:
            raise bad(f"{where}: finish_reason must be one of {FINISH_REASONS}, got {finish!r}")
        if finish == "error":
            error = str(error or "recorded as an error without a reason")
            text = ""
        else:
            error = None
        reasoning = fields["reasoning"] if "reasoning" in fields else split_reasoning(text)
        return Completion(
            text=text,
            reasoning=reasoning,
            prompt_tokens=_count(fields.get("prompt_tokens")),
            completion_tokens=_count(fields.get("completion_tokens")),
            finish_reason=finish,
            error=error,
            sample_index=index,
            # a replayed distill row keeps the attempts it took (a re-filter rebuilds it identically)
            attempts=_count(fields.get("attempts")) if _count(fields.get("attempts")) > 0 else None,
        )

    # ------------------------------------------------------------------ generate

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        requests = self._check_requests(requests)
        # A first batch with nothing recorded is most likely the wrong file (or id column): say so.
        # Once any prompt has matched, the file covers part of the run, and a prompt it lacks is
        # an error row like a missing sample (a partial replay then finishes instead of stopping
        # at the first batch it does not cover).
        hit = any(self._key(r) in self._index for r in requests)
        self._matched = self._matched or hit
        if requests and not self._matched:
            sample = ", ".join(repr(self._key(r)) for r in requests[:3])
            raise UsageError(
                f"replay: none of the {len(requests)} requested prompt ids (e.g. {sample}) is recorded in {self.path}; "
                f"is it the right run, and is {self.id_column!r} the prompt id column?"
            )
        results = []
        for req in requests:
            recorded = self._index.get(self._key(req), {})
            row: list[Completion] = []
            for j in range(params.n):
                if j not in recorded:
                    why = "no recorded completions" if not recorded else f"no recorded sample {j} ({len(recorded)} recorded)"
                    row.append(Completion.failed(f"replay: prompt {self._key(req)!r} has {why} in {self.path}", j))
                    continue
                completion, sampling, file, row_no = recorded[j]
                if self.check_params and sampling is not None:
                    _check_params(sampling, params, file, row_no)
                row.append(completion)
            results.append(row)
        check_sample_grid(results, requests, params.n)
        return results

    def _key(self, request: GenerationRequest) -> str:
        """What identifies ``request`` in the recorded file: its prompt id, or with another
        ``id_column`` the input row's column of that name (kept with ``--keep-column``), else its
        problem text (published outputs keyed by the question)."""
        if self.id_column == "prompt_id":
            return request.prompt_id
        lookup = request.lookup or {}
        return str(lookup.get(self.id_column, lookup.get("problem", request.prompt_id)))

    def recorded_params(self) -> list[SamplingParams]:
        """The distinct sampling parameters recorded in the input (without ``n``)."""
        seen = {}
        for slot in self._index.values():
            for _, sampling, _, _ in slot.values():
                if sampling is not None:
                    key = json.dumps({k: sampling.get(k) for k in _PARAM_FIELDS}, sort_keys=True)
                    seen.setdefault(key, sampling)
        return [SamplingParams.from_dict({k: v for k, v in s.items() if k != "n"}) for s in seen.values()]

    def prompt_ids(self) -> list[str]:
        return sorted(self._index)


# ---------------------------------------------------------------------- helpers


def _input_files(path: Path, config: str) -> list[Path]:
    if path.is_dir():
        folder = path / "data" / config
        files = sorted(folder.glob("*.parquet"))
        if not files:
            configs = sorted(p.name for p in (path / "data").glob("*") if p.is_dir())
            raise UsageError(
                f"replay: {path} has no Parquet shards under data/{config}/ (configs present: {configs or 'none'})"
            )
        return files
    if not path.is_file():
        raise UsageError(f"replay: {path} does not exist")
    if path.suffix not in (".parquet", ".jsonl", ".json"):
        raise UsageError(f"replay: {path} must be a dataset folder, a .parquet or a .jsonl file")
    return [path]


def _read_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if file.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        row_no = 0
        try:
            batches = pq.ParquetFile(file).iter_batches(batch_size=4096)
            for batch in batches:
                for row in batch.to_pylist():
                    yield row_no, row
                    row_no += 1
        except (pa.ArrowException, OSError) as exc:
            raise UsageError(f"replay: {file}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
        return
    with open(file, "rb") as fh:
        for row_no, line in _lines(fh, file):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputRowError(str(file), row_no, f"not valid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise InputRowError(str(file), row_no, f"expected a JSON object, got {type(row).__name__}")
            yield row_no, row


def _lines(fh, file: Path) -> Iterator[tuple[int, str]]:
    """The lines of a file opened in binary, decoded one by one, so that bytes that are not UTF-8 (a
    binary file, a bad line deep in a good one) are an error naming their own row."""
    for row_no, raw in enumerate(fh):
        try:
            yield row_no, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputRowError(str(file), row_no, f"not UTF-8 text (a binary file?): {exc.reason} at byte {exc.start}") from None


def _text(value: Any, bad, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):  # conversational: the last assistant message
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == "assistant" and isinstance(message.get("content"), str):
                return message["content"]
        raise bad(f"{where}: a message list without an assistant message")
    if value is None:
        return ""  # an error row may carry no text
    raise bad(f"{where}: expected a string or a list of messages, got {type(value).__name__}")


def _sampling(value: Any, bad) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise bad(f"'sampling' is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad(f"'sampling' must be an object, got {type(value).__name__}")
    return value


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else -1


def _check_params(recorded: dict[str, Any], params: SamplingParams, file: str, row_no: int) -> None:
    wanted = params.to_dict()
    diffs = []
    for key in _PARAM_FIELDS:
        if key not in recorded:
            continue
        have = recorded[key]
        if key == "stop":
            have = list(have or [])
        elif key == "top_k" and have == 0:
            have = -1
        if have != wanted[key]:
            diffs.append(f"{key}: recorded {have!r}, requested {wanted[key]!r}")
    if diffs:
        raise UsageError(
            f"replay: {file} row {row_no} was sampled with different parameters ({'; '.join(diffs)}); "
            "request the recorded ones (ReplayGenerator.recorded_params()) or pass check_params=False"
        )
