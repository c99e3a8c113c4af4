"""``cotforge kk export``: a built K&K dataset in the layouts other pipelines read unchanged.

* ``logic-rl``: Logic-RL's Parquet files, ``{config}/{split}.parquet``, with exactly the columns of
  its released ``data/kk/instruct/*/{split}.parquet``: the public K&K fields, ``data_source``
  ("kk_logic", which its reward router dispatches on), ``prompt`` (one user message holding
  Logic-RL's prompt string: Qwen template, assistant turn opened with ``<think>``), ``ability``,
  ``reward_model`` (``ground_truth`` with ``solution_text_format`` and ``statements``, ``style``
  "rule") and ``extra_info`` (``index`` within the file, ``split``).
* ``verl``: the same columns and layout, but ``prompt`` is the dataset's chat messages (system +
  user), for verl trainers that apply the model's own chat template.
* ``xie``: the JSONL layout of Xie et al.'s K&K release, one file per size and split:
  ``{split}/people{n}_num{N}.jsonl`` for the originals and
  ``{split}/{perturbed_leaf|perturbed_statement|random_pair|flip_role|uncommon_name|reorder_statement}/people{n}_num{N}.jsonl``
  for perturbed sets, with the public fields only. As in the release, ``N`` is the size of the
  original split (a perturbed file holds fewer rows when some puzzles admit no perturbation).

Files are written atomically; the output folder may not be, contain or lie inside the dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.errors import UsageError

FORMATS = ("verl", "logic-rl", "xie")
PUBLIC_FIELDS = ("quiz", "names", "knight_knave", "solution", "solution_text", "solution_text_format",
                 "cot_head", "cot_repeat_steps", "cot_foot", "statements", "index")
#: Folder names of the perturbed sets in Xie et al.'s release.
XIE_DIRS = {"statement": "perturbed_statement", "leaf": "perturbed_leaf", "role_pair": "random_pair",
            "flip_role": "flip_role", "uncommon_names": "uncommon_name", "reorder": "reorder_statement"}
DATA_SOURCE = "kk_logic"
#: Role words Logic-RL's reward reads: it looks for "knight" or "knave" in each gold line.
LOGIC_RL_ROLE_WORDS = frozenset({"knight", "knave"})


def logic_rl_unreadable(role_pair: str, perturbations) -> bool:
    """Whether some rows' gold answers lack the words Logic-RL's reward parses."""
    first, _, second = role_pair.partition("/")
    return {first, second} != LOGIC_RL_ROLE_WORDS or "role_pair" in perturbations


def _schema() -> pa.Schema:
    from cotforge.records import KK_SCHEMA

    public = [KK_SCHEMA.field(name) for name in PUBLIC_FIELDS]
    message = pa.struct([("content", pa.string()), ("role", pa.string())])  # Logic-RL's field order
    return pa.schema(public + [
        ("data_source", pa.string()),
        ("prompt", pa.list_(message)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([
            ("ground_truth", pa.struct([("solution_text_format", pa.string()), ("statements", pa.string())])),
            ("style", pa.string()),
        ])),
        ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string())])),
    ])


def rl_row(row: dict, position: int, split: str, fmt: str) -> dict:
    """One row in Logic-RL's (``logic-rl``) or verl's (``verl``) format."""
    from cotforge.datagen.kk.prompts import logic_rl_prompt

    if fmt == "logic-rl":
        prompt = [{"content": logic_rl_prompt(row["quiz"]), "role": "user"}]
    else:
        prompt = [{"content": m["content"], "role": m["role"]} for m in row["prompt"]]
    out = {k: row[k] for k in PUBLIC_FIELDS}
    out.update(
        data_source=DATA_SOURCE, prompt=prompt, ability="logic",
        reward_model={"ground_truth": {"solution_text_format": row["solution_text_format"],
                                       "statements": row["statements"]}, "style": "rule"},
        extra_info={"index": position, "split": split},
    )
    return out


def _xie_path(config: str, split: str, n_people: int, originals: int) -> str:
    base, _, kind = config.partition("_perturbed_")
    folder = f"{split}/{XIE_DIRS[kind]}" if kind else split
    return f"{folder}/people{n_people}_num{originals}.jsonl"


def export_kk(dataset: str | Path, fmt: str, out: str | Path, *, warn: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write ``dataset`` in format ``fmt`` under ``out``; returns rows per file written."""
    from cotforge.datagen.inputs import check_out_apart
    from cotforge.datagen.kk.plan import check_out
    from cotforge.store import atomic, layout
    from cotforge.store.dataset import split_paths
    from cotforge.store.manifest import read_manifest

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose {', '.join(FORMATS)}")
    dataset, out = Path(dataset), Path(out)
    if not (dataset / layout.MANIFEST).is_file():
        raise UsageError(f"{dataset}: not a dataset folder (no {layout.MANIFEST}); build one with `cotforge kk build`")
    try:
        manifest = read_manifest(dataset)
    except ValueError as exc:
        raise UsageError(f"{dataset}: {exc}") from None
    if manifest.get("family") != "kk":
        raise UsageError(f"{dataset}: a {manifest.get('family')!r} dataset, not a K&K one")
    check_out(out)
    check_out_apart(out, [dataset], option="the dataset")
    cfg = manifest["build_config"]
    if fmt != "xie" and warn and logic_rl_unreadable(cfg.get("role_pair", "knight/knave"), cfg.get("perturbations", [])):
        warn("some rows use role words other than knight/knave: Logic-RL's reward finds no names in their gold "
             "answers and gives full marks to any well-formatted answer; grade them with cotforge's kk verifier")
    files = split_paths(dataset, manifest)
    rows_of = {key: entry["rows"] for key, entry in manifest["splits"].items()}
    written: dict[str, int] = {}
    for key in sorted(files):
        config, split = layout.parse_split_key(key)
        rows = [r for f in files[key] for r in pq.read_table(f).to_pylist()]
        if not rows:
            continue
        if fmt == "xie":
            base = config.partition("_perturbed_")[0]
            rel = _xie_path(config, split, rows[0]["n_people"], rows_of.get(f"{base}/{split}", len(rows)))
            text = "".join(json.dumps({k: r[k] for k in PUBLIC_FIELDS}, ensure_ascii=False) + "\n" for r in rows)
            atomic.write_text(out / rel, text)
        else:
            rel = f"{config}/{split}.parquet"
            table = pa.Table.from_pylist([rl_row(r, i, split, fmt) for i, r in enumerate(rows)], schema=_schema())
            with atomic.atomic_path(out / rel) as tmp:
                pq.write_table(table, tmp, compression="zstd")
        written[rel] = len(rows)
    return written
