"""Stage configs: YAML files, ``--set key=value`` overrides, key checks, and TRL argument objects.

A stage config is a mapping with the keys every stage shares (:data:`COMMON_KEYS`), the keys of its
own stage (each ``run_*`` module lists them), and ``args``: fields of the TRL config class
(``SFTConfig``, ``DPOConfig``, ``GRPOConfig``) or of :class:`~cotforge.trainers.ppo.PPOSettings`.
An unknown key at either level fails before anything loads, naming the key and the file.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError

#: Keys every stage config may carry.
COMMON_KEYS = ("stage", "model", "data", "output_dir", "args", "seed", "chat_template", "recipe", "overwrite")

#: Keys of a ``data`` mapping.
DATA_KEYS = ("path", "config", "split", "limit", "columns")


def load_yaml(path: str | Path, what: str = "--config") -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing file or anything but a mapping is a :class:`UsageError`
    (``what`` names where the path came from: the flag or the argument)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what}: {p}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{p}: a config must be a YAML mapping, got {type(data).__name__}")
    return data


def parse_set(item: str) -> tuple[list[str], Any]:
    """``"args.learning_rate=1e-5"`` -> (["args", "learning_rate"], 1e-05); the value is read as YAML."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {item!r}: expected key=value (dotted keys reach nested ones: args.learning_rate=1e-5)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    # YAML 1.1 reads "1e-5" as a string; a number is what the user meant.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return [k for k in key.strip().split(".")], value


def apply_overrides(cfg: Mapping[str, Any], items: Iterable[str]) -> dict[str, Any]:
    """A copy of ``cfg`` with each ``key=value`` of ``items`` set (dotted keys create nested mappings)."""
    out = copy.deepcopy(dict(cfg))
    for item in items:
        keys, value = parse_set(item)
        node = out
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if k == "data" and isinstance(nxt, str):  # `data: FILE` is short for `data: {path: FILE}`
                nxt = node[k] = {"path": nxt}
            if not isinstance(nxt, dict):
                raise UsageError(f"--set {item!r}: {k!r} is not a mapping in the config")
            node = nxt
        node[keys[-1]] = value
    return out


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in ``top`` replaces ``base``."""
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def check_keys(cfg: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Raise a :class:`UsageError` naming the first key of ``cfg`` not in ``allowed``."""
    for key in cfg:
        if key not in allowed:
            raise UsageError(f"{where}: unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")


def check_stage(cfg: Mapping[str, Any], own_keys: Sequence[str], where: str) -> None:
    """Common checks of a stage config: known keys, a model, a data mapping with a path, an output_dir."""
    check_keys(cfg, (*COMMON_KEYS, *own_keys), where)
    for key in ("model", "data", "output_dir"):
        if cfg.get(key) in (None, ""):
            raise UsageError(f"{where}: missing {key!r}")
    data = cfg["data"]
    if isinstance(data, str):
        return
    if not isinstance(data, Mapping) or not data.get("path"):
        raise UsageError(f"{where}: 'data' must be a path or a mapping with 'path' (and config, split, limit)")
    check_keys(data, DATA_KEYS, f"{where}: data")
    if not isinstance(cfg.get("args", {}) or {}, Mapping):
        raise UsageError(f"{where}: 'args' must be a mapping of trainer arguments")


def on_cpu() -> bool:
    """True when no CUDA device is visible (TRL's defaults of bf16 and gradient checkpointing then fail or crawl)."""
    import torch

    return not torch.cuda.is_available()


def build_args(cls: type, args: Mapping[str, Any] | None, *, output_dir: str | Path, defaults: Mapping[str, Any],
               where: str) -> Any:
    """An instance of the dataclass ``cls`` (a TRL config) from ``defaults`` updated by ``args``.

    Unknown fields fail naming the key. On CPU, ``use_cpu=True``, ``bf16=False`` and no gradient
    checkpointing are forced (TRL 1.16 defaults to bf16 and checkpointing).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    given = dict(args or {})
    for key in given:
        if key not in names:
            raise UsageError(f"{where}: args: {key!r} is not a {cls.__name__} field")
    values = {k: v for k, v in defaults.items() if k in names}
    values.update(given)
    values["output_dir"] = str(output_dir)
    if on_cpu():
        values.update(use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: args: {exc}") from None


def args_dict(args: Any) -> dict[str, Any]:
    """The non-default fields of a TRL config, JSON-safe (for the model card and the run record)."""
    out = {}
    for f in dataclasses.fields(args):
        v = getattr(args, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if v != default and f.name not in ("output_dir", "logging_dir"):
            out[f.name] = v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v)
    return out
