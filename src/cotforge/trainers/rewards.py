"""Reward functions named in a stage config, built from :mod:`cotforge.verifiers.rewards`.

``rewards:`` is a list of mappings ``{func: <adapter name>, weight: 1.0, <its keyword arguments>}``,
e.g. ``{func: warmup_reward_func, domain: math}`` or ``{func: cosine_reward_func, verifier: math}``.
Arguments the trainer knows are filled in when the adapter takes them and the config does not give
them: ``max_completion_length`` and ``tokenizer``. Unknown adapters, bad arguments and gold columns
missing from the data fail before training.

``func: "package.module:name"`` names a reward function of your own (TRL's signature:
``(prompts, completions, completion_ids, **columns) -> list[float | None]``), used as it is: it
takes no other keys but ``weight``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from cotforge.errors import UsageError


def _adapters() -> dict[str, Any]:
    from cotforge.verifiers import rewards

    return {n: getattr(rewards, n) for n in getattr(rewards, "__all__", dir(rewards)) if n.endswith("_func")
            and n != "combined_reward_func" and callable(getattr(rewards, n))}


def gold_columns(spec: Mapping[str, Any], factory: Any) -> list[str]:
    """Data columns the reward reads its gold answer from (``gold``, default ``answer`` where taken)."""
    params = inspect.signature(factory).parameters
    if "gold" not in params:
        return []
    gold = spec.get("gold", params["gold"].default)
    if isinstance(gold, str):
        return [gold]
    if isinstance(gold, (list, tuple)):
        return [g for g in gold if isinstance(g, str)]
    return []


def custom_reward(name: str, spec: Mapping[str, Any], where: str) -> Any:
    """The callable ``module:attr`` names (imported now, so a typo fails before training)."""
    import importlib

    module, _, attr = name.partition(":")
    if spec:
        raise UsageError(f"{where}: {name} is a reward function of your own; it takes only 'weight', "
                         f"not {', '.join(sorted(spec))}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"{where}: cannot import reward {name!r} ({exc})") from None
    if not callable(fn):
        raise UsageError(f"{where}: reward {name!r} is not callable")
    return fn


def build_rewards(specs: Any, *, columns: Sequence[str], where: str, fill: Mapping[str, Any]) -> tuple[list, list[float]]:
    """``(reward functions, weights)`` from the config's ``rewards`` list."""
    if not isinstance(specs, list) or not specs:
        raise UsageError(f"{where}: 'rewards' must be a non-empty list of {{func: ..., weight: ...}} mappings")
    adapters = _adapters()
    funcs, weights = [], []
    for i, raw in enumerate(specs):
        if not isinstance(raw, Mapping) or "func" not in raw:
            raise UsageError(f"{where}: rewards[{i}]: expected a mapping with 'func'")
        spec = dict(raw)
        name = spec.pop("func")
        weight = spec.pop("weight", 1.0)
        try:
            weights.append(float(weight))
        except (TypeError, ValueError):
            raise UsageError(f"{where}: rewards[{i}]: weight must be a number, got {weight!r}") from None
        if isinstance(name, str) and ":" in name:
            funcs.append(custom_reward(name, spec, f"{where}: rewards[{i}]"))
            continue
        if name not in adapters:
            raise UsageError(f"{where}: rewards[{i}]: unknown reward {name!r}; choose one of {', '.join(sorted(adapters))} "
                             "or name your own as package.module:function")
        factory = adapters[name]
        params = inspect.signature(factory).parameters
        for key, value in fill.items():
            if key in params and key not in spec:
                spec[key] = value
        if isinstance(spec.get("gold"), list):
            spec["gold"] = tuple(spec["gold"])
        missing = [c for c in gold_columns(spec, factory) if c not in columns]
        if missing:
            raise UsageError(f"{where}: rewards[{i}] ({name}) reads column(s) {', '.join(missing)}, which the data lacks "
                             f"(it has {', '.join(columns)})")
        try:
            inspect.signature(factory).bind(**spec)
            funcs.append(factory(**spec))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: rewards[{i}] ({name}): {exc}") from None
    return funcs, weights
