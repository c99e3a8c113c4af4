"""``cotforge recipe run FILE``: a recipe's stages in order, each reading the previous stages' output.

A recipe file has ``name``, ``stages`` (a list; each has ``name`` and ``kind``) and optionally
``tiny`` (per-stage overrides that ``--tiny`` merges in, for a CPU run with the tiny model; ``model``,
``data``, ``input``, ``inputs``, ``rewards`` and ``benches`` are replaced whole, not merged).
A stage with ``tiny_only: true`` runs only with ``--tiny`` (stand-in data). Kinds: ``kk_build``, ``distill``, ``pairs`` (datagen), ``sft``, ``dpo``, ``grpo``, ``ppo``
(training), ``eval`` (the eval harness). A value ``{from: STAGE}`` (in ``model``, ``data``,
``input``, ``inputs`` or an eval's ``data``) is that stage's output folder, with the mapping's
other keys (``config``, ``split``, ``limit``) kept; ``model: tiny`` is the tiny test model, built
in the run folder. A distill stage with ``backend: constructed_cot`` replays the K&K puzzles'
constructed chain of thought as a known-correct teacher (CPU runs).

Every stage writes into ``<out>/<stage name>``. Rerunning resumes: datagen and eval stages resume
or verify their own folders, a finished training stage with the same config is skipped (another
config there is an error naming the stage). ``report.json`` / ``report.md`` in ``<out>`` list
each stage's output and headline numbers.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError

TRAIN_KINDS = ("sft", "dpo", "grpo", "ppo")
KINDS = ("kk_build", "distill", "pairs", *TRAIN_KINDS, "eval")
#: Keys that a ``tiny`` override replaces instead of merging into.
#: A distill ``backend`` that replays each K&K puzzle's constructed CoT (the ``cot`` column): a
#: known-correct teacher for CPU runs, where the tiny model never answers right.
CONSTRUCTED_COT = "constructed_cot"
REPLACED = ("model", "data", "input", "inputs", "rewards", "benches")


def load_recipe(path: str | Path, *, tiny: bool = False, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The recipe at ``path`` with ``tiny`` overrides merged in when asked; ``overrides`` are
    ``STAGE.key=value`` strings applied last."""
    from cotforge.trainers.config import apply_overrides, check_keys, load_yaml, merge

    recipe = load_yaml(path, "recipe FILE")
    where = str(path)
    check_keys(recipe, ("name", "description", "stages", "tiny", "source"), where)
    stages = recipe.get("stages")
    if not isinstance(stages, list) or not stages:
        raise UsageError(f"{where}: 'stages' must be a non-empty list")
    names = []
    for i, st in enumerate(stages):
        if not isinstance(st, Mapping) or "name" not in st or "kind" not in st:
            raise UsageError(f"{where}: stages[{i}] needs 'name' and 'kind'")
        if st["kind"] not in KINDS:
            raise UsageError(f"{where}: stage {st['name']!r}: unknown kind {st['kind']!r}; choose one of {', '.join(KINDS)}")
        names.append(st["name"])
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: stage names must be distinct")
    if not tiny:  # stand-in stages (e.g. K&K puzzles for math problems) that only a --tiny run needs
        stages = [st for st in stages if not st.get("tiny_only")]
        names = [st["name"] for st in stages]
    by_name = {st["name"]: {k: v for k, v in st.items() if k != "tiny_only"} for st in stages}
    if tiny:
        extra = recipe.get("tiny") or {}
        if not isinstance(extra, Mapping):
            raise UsageError(f"{where}: 'tiny' must map stage names to overrides")
        for name, patch in extra.items():
            if name not in by_name:
                raise UsageError(f"{where}: tiny: no stage named {name!r}")
            by_name[name] = merge(by_name[name], patch)
            for key in REPLACED:  # a data source or reward list is swapped whole, never mixed with the full one
                if key in patch:
                    by_name[name][key] = patch[key]
    if overrides:
        by_name = apply_overrides(by_name, overrides)
        for name in by_name:
            if name not in names:
                raise UsageError(f"--set: no stage named {name!r} (stages: {', '.join(names)})")
    return {"name": recipe.get("name", Path(path).stem), "file": str(path), "tiny": tiny,
            "stages": [by_name[n] for n in names]}


def _resolve(value: Any, run: Path, done: Mapping[str, Path], where: str, *, as_path: bool = False) -> Any:
    """Replace ``{from: STAGE, ...}`` by the stage's folder (``as_path``) or ``{path: folder, ...}``."""
    if isinstance(value, Mapping) and "from" in value:
        src = value["from"]
        folder = done.get(src) or run / src
        if not folder.exists():
            raise UsageError(f"{where}: reads stage {src!r}, whose output {folder} does not exist; run that stage first")
        rest = {k: v for k, v in value.items() if k != "from"}
        return str(folder) if as_path or not rest else {"path": str(folder), **rest}
    return value


def _tiny_model(run: Path) -> str:
    from cotforge.testing.tiny_model import build_tiny_model

    return str(build_tiny_model(run / "tiny-model"))


def _model(value: Any, run: Path, done: Mapping[str, Path], where: str) -> str:
    if value == "tiny":
        return _tiny_model(run)
    return _resolve(value, run, done, where, as_path=True)


def _kk_build(st: dict[str, Any], out: Path, run: Path, done, where: str) -> dict[str, Any]:
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in st.items()}
    try:
        cfg = KKBuildConfig(**params)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None
    manifest = build_kk(out, cfg)
    return {"rows": {k: v["rows"] for k, v in manifest["splits"].items()}, "content_hash": manifest["content_hash"]}


def _distill(st: dict[str, Any], out: Path, run: Path, done, where: str) -> dict[str, Any]:
    from cotforge.datagen.distill import config_from_preset, distill
    from cotforge.datagen.inputs import family_defaults, load_problems, open_input

    import dataclasses

    st = dict(st)
    raw = st.pop("input", None)
    if raw is None:
        raise UsageError(f"{where}: needs 'input' (a folder, a file or {{from: STAGE, config, split}}, or a list of them)")
    columns_given, domain_given, limit = st.pop("columns", None), st.pop("domain", None), st.pop("limit", None)
    problems, records = [], []
    for item in raw if isinstance(raw, list) else [raw]:
        spec = _resolve(item, run, done, where)
        spec = spec if isinstance(spec, Mapping) else {"path": spec}
        src = open_input(spec["path"], config=spec.get("config"), split=spec.get("split"))
        columns, domain = family_defaults(src)
        got = load_problems(src, columns_given or columns, default_domain=domain_given or domain or "math",
                            limit=spec.get("limit", limit))
        # several inputs (e.g. one K&K config per size) form one problem list, numbered in order
        problems += [dataclasses.replace(p, index=len(problems) + k) for k, p in enumerate(got)]
        records.append(src.record)
    model = st.pop("model", None)
    if model == "tiny":
        model = _tiny_model(run)
    backend = st.pop("backend", "vllm")
    cot_teacher = backend == CONSTRUCTED_COT
    if cot_teacher:
        backend, model = "replay", str(run / f"{out.name}-constructed-cot.jsonl")
    if isinstance(st.get("finish_reasons"), list):
        st["finish_reasons"] = tuple(st["finish_reasons"])
    try:
        cfg = config_from_preset(st.pop("preset", None), backend=backend, model=model,
                                 sampling=st.pop("sampling", None), **st)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if cot_teacher:
        _constructed_cot_records(raw, run, done, where, problems, cfg, Path(model))
    manifest = distill(problems, out, cfg, inputs=records)
    stats = manifest.get("stats", {})
    return {"completions": stats.get("completions"), "accepted": stats.get("accepted"),
            "content_hash": manifest["content_hash"]}


def _constructed_cot_records(raw: Any, run: Path, done, where: str, problems: list, cfg: Any, path: Path) -> None:
    """Replay records answering each K&K problem with its puzzle's constructed CoT (a known-correct teacher)."""
    import json

    import pyarrow.parquet as pq

    from cotforge.datagen.distill import make_items
    from cotforge.store.atomic import write_text
    from cotforge.store.dataset import split_paths

    cots: dict[str, tuple[str, str]] = {}
    for item in raw if isinstance(raw, list) else [raw]:
        spec = _resolve(item, run, done, where)
        spec = spec if isinstance(spec, Mapping) else {"path": spec}
        key = f"{spec.get('config')}/{spec.get('split', 'train')}"
        files = split_paths(spec["path"], keys=[key]).get(key)
        if not files:
            raise UsageError(f"{where}: backend {CONSTRUCTED_COT} needs K&K inputs with config and split ({key} not found)")
        for f in files:
            t = pq.read_table(f, columns=["quiz", "cot", "answer"])
            for quiz, cot, answer in zip(*(t.column(c).to_pylist() for c in ("quiz", "cot", "answer"))):
                cots[quiz] = (cot, answer)
    items, _ = make_items(problems, cfg)
    lines = []
    for it in items:
        if it.problem not in cots:
            raise UsageError(f"{where}: backend {CONSTRUCTED_COT}: a problem has no constructed CoT (not a K&K row)")
        cot, answer = cots[it.problem]
        text = f"<think>\n{cot.strip()}\n</think>\n<answer>\n{answer}\n</answer>"
        lines.append(json.dumps({"prompt_id": it.prompt_id, "sample_index": 0, "completion": text,
                                 "finish_reason": "stop", "model": "constructed-cot"}))
    write_text(path, "\n".join(lines) + "\n")


def _pairs(st: dict[str, Any], out: Path, run: Path, done, where: str) -> dict[str, Any]:
    from cotforge.datagen.pairs import PairsConfig, build_pairs

    st = dict(st)
    inputs = [_resolve(v, run, done, where, as_path=True) for v in st.pop("inputs", [])]
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in st.items()}
    try:
        cfg = PairsConfig(**params)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None
    manifest = build_pairs(inputs, out, cfg)
    return {"pairs": manifest.get("stats", {}).get("pairs"), "content_hash": manifest["content_hash"]}


def _eval(st: dict[str, Any], out: Path, run: Path, done, where: str) -> dict[str, Any]:
    try:
        from cotforge.evals import run_eval
    except ImportError as exc:
        raise UsageError(f"{where}: the eval harness (cotforge.evals.run_eval) is not importable: {exc}") from None
    st = dict(st)
    model = _model(st.pop("model", None), run, done, where)
    benches = st.pop("benches", None)
    if not benches:
        raise UsageError(f"{where}: needs 'benches' (e.g. [math500])")
    if isinstance(st.get("data"), Mapping):
        st["data"] = {k: _resolve(v, run, done, where, as_path=True) for k, v in st["data"].items()}
    allowed = set(inspect.signature(run_eval).parameters) - {"model", "benches", "out"}
    bad = [k for k in st if k not in allowed]
    if bad:
        raise UsageError(f"{where}: unknown eval key(s) {', '.join(bad)}; allowed: {', '.join(sorted(allowed))}")
    results = run_eval(model, benches, out, **st)
    return {"model": model, "scores": {name: b.get("avg@n") for name, b in results.get("benchmarks", {}).items()}}


def _train(st: dict[str, Any], out: Path, run: Path, done, where: str, recipe: Mapping[str, Any],
           log: Callable[[str], None], name: str) -> dict[str, Any]:
    from cotforge.trainers import get_stage
    from cotforge.trainers.card import read_run_record
    from cotforge.trainers.stage import jsonable

    kind = st.pop("kind")
    cfg = dict(st)
    cfg["model"] = _model(cfg.get("model"), run, done, where)
    cfg["data"] = _resolve(cfg.get("data"), run, done, where)
    cfg["output_dir"] = str(out)
    record = read_run_record(out)
    if record is not None and not cfg.get("overwrite"):
        if record.get("config") == jsonable(cfg):
            log(f"{where}: finished before with this config; skipped")
            return {"skipped": True, **_train_summary(record)}
        raise UsageError(f"{where}: {out} holds a run with another config; set {name}.overwrite=true "
                         "with --set, or use another --out")
    rec = {"name": recipe["name"], "file": recipe["file"], "stage": name, "tiny": recipe.get("tiny", False)}
    record = get_stage(kind)(cfg, recipe=rec, log=log)
    return _train_summary(record)


def _train_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    rep = record.get("report", {})
    keep = ("global_steps", "first_loss", "last_loss", "first_reward", "last_reward", "data_filter")
    return {k: rep[k] for k in keep if k in rep}


def _grpo_rewards(out: Path) -> dict[str, Any]:
    import json

    p = out / "log_history.json"
    if not p.is_file():
        return {}
    rewards = [h["reward"] for h in json.loads(p.read_text()) if "reward" in h]
    return {"first_reward": rewards[0], "last_reward": rewards[-1]} if rewards else {}


def run_recipe(path: str | Path, out: str | Path | None = None, *, stages: Sequence[str] | None = None,
               tiny: bool = False, overrides: Sequence[str] = (), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the recipe's stages (all, or ``stages``) into ``out``; returns the report."""
    from cotforge.store.atomic import write_json, write_text

    recipe = load_recipe(path, tiny=tiny, overrides=overrides)
    names = [st["name"] for st in recipe["stages"]]
    if stages:
        unknown = [s for s in stages if s not in names]
        if unknown:
            raise UsageError(f"--stages: no stage named {', '.join(unknown)} (stages: {', '.join(names)})")
    run = Path(out) if out else Path("runs") / (recipe["name"] + ("-tiny" if tiny else ""))
    run.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    report = {"recipe": recipe["name"], "file": recipe["file"], "tiny": tiny, "out": str(run), "stages": []}
    for st in recipe["stages"]:
        name, kind = st["name"], st["kind"]
        stage_out = run / name
        if stages and name not in stages:
            if stage_out.exists():
                done[name] = stage_out
            continue
        where = f"stage '{name}' ({kind})"
        params = {k: v for k, v in st.items() if k not in ("name", "kind")}
        log(f"== {where} -> {stage_out}")
        t0 = time.perf_counter()
        if kind in TRAIN_KINDS:
            summary = _train({"kind": kind, **params}, stage_out, run, done, where, recipe, log, name)
            if kind == "grpo":
                summary.update(_grpo_rewards(stage_out))
        else:
            runner = {"kk_build": _kk_build, "distill": _distill, "pairs": _pairs, "eval": _eval}[kind]
            summary = runner(params, stage_out, run, done, where)
        done[name] = stage_out
        entry = {"name": name, "kind": kind, "out": str(stage_out), "seconds": round(time.perf_counter() - t0, 1), **summary}
        report["stages"].append(entry)
        log(f"   {name}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "data_filter"))
        write_json(run / "report.json", report)  # after every stage: an interrupted run still says what it did
    lines = [f"# Recipe `{recipe['name']}`{' (--tiny)' if tiny else ''}", "", f"File: `{recipe['file']}`", "",
             "| stage | kind | output | seconds | numbers |", "|---|---|---|---|---|"]
    for e in report["stages"]:
        nums = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("name", "kind", "out", "seconds"))
        lines.append(f"| {e['name']} | {e['kind']} | `{e['out']}` | {e['seconds']} | {nums} |")
    write_json(run / "report.json", report)
    write_text(run / "report.md", "\n".join(lines) + "\n")
    return report
