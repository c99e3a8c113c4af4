"""Training data and models for a stage: loaded, checked and described before any training starts.

``data`` in a stage config is a cotforge dataset folder (``manifest.json`` + ``data/<config>/``),
a Parquet or JSONL file, or a mapping ``{path, config, split, limit}``. The description that goes
into the model card names the folder, the dataset's name, version and content hash (the manifest's
``content_hash``; a plain file's sha256), the config, the split and the row count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError

#: The default config of each stage's data when a folder is given (what distill/pairs write).
DEFAULT_CONFIG = {"sft": "accepted", "dpo": "default", "grpo": "prompts", "ppo": "prompts"}


def data_spec(data: Any, stage: str) -> dict[str, Any]:
    """Normalise ``data`` (a path or a mapping) to ``{path, config, split, limit, columns}``."""
    spec = {"path": data} if isinstance(data, (str, Path)) else dict(data)
    spec.setdefault("config", None)
    spec.setdefault("split", "train")
    spec.setdefault("limit", None)
    spec.setdefault("columns", None)
    spec["path"] = str(spec["path"])
    if spec["limit"] is not None and (not isinstance(spec["limit"], int) or spec["limit"] < 1):
        raise UsageError(f"data.limit must be a positive integer, got {spec['limit']!r}")
    spec.setdefault("_stage", stage)
    return spec


def _folder_table(root: Path, config: str | None, split: str, stage: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cotforge.store.dataset import split_paths
    from cotforge.store.manifest import read_manifest

    manifest = read_manifest(root)
    splits = split_paths(root, manifest, check=False)  # names only; the split read is checked below
    configs = sorted({k.split("/")[0] for k in splits})
    if config is None:
        config = DEFAULT_CONFIG.get(stage) if f"{DEFAULT_CONFIG.get(stage)}/{split}" in splits else None
        if config is None and len(configs) == 1:
            config = configs[0]
        if config is None:
            raise UsageError(f"data: {root}: several configs ({', '.join(configs)}); name one with data.config")
    key = f"{config}/{split}"
    if key not in splits:
        raise UsageError(f"data: {root}: no split {key!r}; it has {', '.join(sorted(splits)) or 'none'}")
    tables = [pq.read_table(p) for p in split_paths(root, manifest, keys=[key])[key]]  # a damaged shard is named
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:
        raise UsageError(f"data: {root}: split {key!r} is empty")
    info = {
        "path": str(root),
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "content_hash": manifest.get("content_hash"),
        "config": config,
        "split": split,
    }
    return table, info


def _file_table(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cotforge.store.atomic import sha256_file

    if path.suffix == ".parquet":
        table = pq.read_table(path)
    elif path.suffix in (".jsonl", ".json"):
        import json

        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"data: {path}: row {i + 1}: not JSON ({exc.msg})") from None
        table = pa.Table.from_pylist(rows)
    else:
        raise UsageError(f"data: {path}: expected a cotforge dataset folder, a .parquet or a .jsonl file")
    info = {"path": str(path), "name": path.stem, "version": None, "content_hash": "sha256:" + sha256_file(path),
            "config": None, "split": None}
    return table, info


def load_data(data: Any, stage: str, *, required: Sequence[Sequence[str]] = ()) -> tuple[Any, dict[str, Any]]:
    """``(datasets.Dataset, description)``; ``required`` lists alternatives of needed columns
    (``[["messages"], ["prompt", "completion"]]``: one of the groups must be present)."""
    import datasets

    spec = data_spec(data, stage)
    path = Path(spec["path"])
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UsageError(f"data: {path}: not a cotforge dataset (no manifest.json); give its folder or a file")
        table, info = _folder_table(path, spec["config"], spec["split"], stage)
    elif path.is_file():
        table, info = _file_table(path)
    else:
        raise UsageError(f"data: {path}: no such file or folder")
    if spec["columns"]:
        if not isinstance(spec["columns"], Mapping):
            raise UsageError("data.columns must map a column of the data to the name the stage needs")
        missing = [c for c in spec["columns"] if c not in table.column_names]
        if missing:
            raise UsageError(f"data: {path}: data.columns names missing column(s) {', '.join(missing)}")
        table = table.rename_columns([spec["columns"].get(c, c) for c in table.column_names])
    if required and not any(all(c in table.column_names for c in group) for group in required):
        want = " or ".join("+".join(g) for g in required)
        raise UsageError(
            f"data: {path}: a {stage} stage needs column(s) {want}; it has {', '.join(table.column_names)} "
            f"(rename with data.columns)"
        )
    if spec["limit"] is not None:
        table = table.slice(0, spec["limit"])
    info["rows"] = table.num_rows
    return datasets.Dataset(table), info


def load_model_and_tokenizer(model: str | Path, *, chat_template: str | None = None, where: str = "model"):
    """The causal LM and tokenizer at ``model`` (a folder or a Hub id), or a :class:`UsageError`
    saying why it cannot load (checked before any data is tokenized or any step is taken)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    name = str(model)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar before an error line is noise; a load of seconds needs none
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        lm = AutoModelForCausalLM.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - whatever stops the load (bad JSON, torn weights, wrong class) is one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"{where}: {name!r} cannot be loaded as a causal LM ({first[:200]}); give a model folder "
            "(config.json + weights + tokenizer) or a Hub id that is cached locally"
        ) from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if chat_template:
        tokenizer.chat_template = chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm, tokenizer


def require_stack(stage: str, *, trl: bool = True) -> None:
    """The ``train`` extra's packages a stage imports, or a :class:`MissingExtraError` naming it (before any load)."""
    from cotforge.errors import require

    for module in ("torch", "transformers", "accelerate", *(("trl",) if trl else ())):
        require(module, "train", f"cotforge train {stage}")


def is_conversational(value: Any) -> bool:
    """A list of ``{"role", "content"}`` messages (TRL's conversational format)."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], Mapping) and "role" in value[0]
