"""DPO on TRL's ``DPOTrainer`` over ``cotforge pairs`` rows (recipe 3's rollout preference stage).

Rows are TRL's conversational preference format as ``cotforge pairs`` writes it: ``prompt`` (the
messages), ``chosen`` and ``rejected`` (one assistant message each: a correct and an incorrect
rollout of the same prompt). Defaults are Phi-4-Mini-Reasoning's (LR 5e-7, 1 epoch).

TRL cuts a pair longer than ``max_length`` at the end (the rollout loses its answer), so pairs whose
prompt + longer side exceed ``max_length`` are dropped first and counted (``overlong: cut`` keeps
them for TRL to cut, counted too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cotforge.errors import UsageError

DPO_KEYS = ("max_length", "overlong")

#: Phi-4-Mini-Reasoning's DPO stage (RECIPES.md section 3, [paper]).
DPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-7,
    "num_train_epochs": 1,
    "beta": 0.1,
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
}


def pair_lengths(dataset: Any, tokenizer: Any) -> list[int]:
    """Tokens of prompt + the longer of chosen/rejected, rendered with the chat template."""
    from cotforge.trainers.data import is_conversational

    def render(msgs, gen):
        return tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in msgs],
                                             tokenize=False, add_generation_prompt=gen)

    out = []
    for i, row in enumerate(dataset):
        p, c, r = row["prompt"], row["chosen"], row["rejected"]
        if not (is_conversational(p) and is_conversational(c) and is_conversational(r)):
            if all(isinstance(x, str) for x in (p, c, r)):
                out.append(len(tokenizer(p + max(c, r, key=len), add_special_tokens=False)["input_ids"]))
                continue
            raise UsageError(f"data: row {i + 1}: prompt/chosen/rejected must all be messages or all be text")
        out.append(max(len(tokenizer(render(p + side, False), add_special_tokens=False)["input_ids"]) for side in (c, r)))
    return out


def build_dpo_trainer(cfg: Mapping[str, Any], *, where: str = "dpo config", log: Callable[[str], None] = print):
    from cotforge.trainers.config import build_args, check_stage
    from cotforge.trainers.data import load_data, load_model_and_tokenizer, require_stack

    check_stage(cfg, DPO_KEYS, where)
    require_stack("dpo")
    from trl import DPOConfig, DPOTrainer

    overlong = cfg.get("overlong", "drop")
    if overlong not in ("drop", "cut"):
        raise UsageError(f"{where}: overlong: {overlong!r}; choose drop or cut")
    max_length = cfg.get("max_length", 32768)
    args = build_args(DPOConfig, cfg.get("args"), output_dir=cfg["output_dir"],
                      defaults=dict(DPO_DEFAULTS, seed=cfg.get("seed", 42)), where=where)
    args.max_length = max_length
    dataset, info = load_data(cfg["data"], "dpo", required=[["prompt", "chosen", "rejected"]])
    model, tokenizer = load_model_and_tokenizer(cfg["model"], chat_template=cfg.get("chat_template"))
    lengths = pair_lengths(dataset, tokenizer)
    long_rows = [i for i, n in enumerate(lengths) if n > max_length]
    counts = {"rows": len(dataset), "overlong": len(long_rows), "max_length": max_length, "overlong_policy": overlong}
    if overlong == "drop" and long_rows:
        dataset = dataset.select([i for i in range(len(dataset)) if i not in set(long_rows)])
    counts["kept"] = len(dataset)
    if not len(dataset):
        raise UsageError(f"data: every pair is longer than max_length={max_length}; raise it")
    log(f"DPO data: {counts['rows']} pairs -> kept {counts['kept']}, {counts['overlong']} longer than max_length "
        f"({'dropped' if overlong == 'drop' else 'cut by TRL'})")
    keep_cols = [c for c in ("prompt", "chosen", "rejected") if c in dataset.column_names]
    dataset = dataset.select_columns(keep_cols)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer, tokenizer, info, counts


def run_dpo(cfg: Mapping[str, Any], *, recipe: Mapping[str, Any] | None = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one DPO stage; returns the run record (also written to ``output_dir``)."""
    from cotforge.trainers.config import check_stage
    from cotforge.trainers.stage import check_output, jsonable, train_and_save

    check_stage(cfg, DPO_KEYS, "dpo config")
    out = check_output(cfg["output_dir"], overwrite=bool(cfg.get("overwrite")))
    trainer, tokenizer, info, counts = build_dpo_trainer(cfg, log=log)
    record = train_and_save(trainer, tokenizer, out, stage="dpo", base_model=str(cfg["model"]), data=info,
                            config=jsonable(cfg), report={"data_filter": counts}, recipe=recipe, log=log)
    margins = [h["rewards/margins"] for h in trainer.state.log_history if "rewards/margins" in h]
    if margins:
        log(f"dpo: reward margin first {margins[0]:.4f}, last {margins[-1]:.4f}")
    return record
