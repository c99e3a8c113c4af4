"""SFT on TRL's ``SFTTrainer``: completion-only loss, rows filtered before TRL, packing when asked.

Config keys (beside :data:`~cotforge.trainers.config.COMMON_KEYS`):

- ``max_length`` (default 32768, the warm-up code's): rows are filtered against it first
  (:mod:`cotforge.trainers.sft_data`); the counts go to the log, the model card and the run record.
- ``overlong``: ``drop`` (default) or ``cut`` rows longer than ``max_length``.
- ``packing``: ``false`` (distillation SFT: the model sees where each trace stops) or ``true``
  (mid-training: TRL's ``bfd`` packing, padding-free).
- ``response_template``: for ``text`` rows, the string after which the loss starts.

``args`` are ``SFTConfig`` fields; the defaults are the warm-up paper's code (LR 1e-6, Adam
betas (0.9, 0.95), weight decay 1e-4, constant schedule with 25 warm-up steps, batch 1 x
grad-accum 2, grad-clip 0.1, 3 epochs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SFT_KEYS = ("max_length", "overlong", "packing", "response_template")

#: warm-up-before-you-train's SFT script (RECIPES.md section 1, [code]).
SFT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-6,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "weight_decay": 1e-4,
    "lr_scheduler_type": "constant_with_warmup",
    "warmup_steps": 25,
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 2,
    "max_grad_norm": 0.1,
    "num_train_epochs": 3,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
}


def build_sft_trainer(cfg: Mapping[str, Any], *, where: str = "sft config", log: Callable[[str], None] = print):
    """``(trainer, tokenizer, data_info, accounting)`` for a checked config; nothing is trained yet."""
    from cotforge.trainers.config import build_args, check_stage
    from cotforge.trainers.data import load_data, load_model_and_tokenizer, require_stack
    from cotforge.trainers.sft_data import SFT_COLUMNS, prepare_sft

    check_stage(cfg, SFT_KEYS, where)
    require_stack("sft")
    import datasets
    from trl import SFTConfig, SFTTrainer

    max_length = cfg.get("max_length", 32768)
    packing = bool(cfg.get("packing", False))
    defaults = dict(SFT_DEFAULTS, seed=cfg.get("seed", 42))
    args = build_args(SFTConfig, cfg.get("args"), output_dir=cfg["output_dir"], defaults=defaults, where=where)
    # Set here, not by the user: the data is already tokenised, filtered and masked.
    args.max_length = max_length
    args.completion_only_loss = True
    args.assistant_only_loss = False
    args.packing = packing
    if packing:
        args.packing_strategy = "bfd"
        args.padding_free = True
    dataset, info = load_data(cfg["data"], "sft", required=SFT_COLUMNS)  # cheap checks before the model loads
    model, tokenizer = load_model_and_tokenizer(cfg["model"], chat_template=cfg.get("chat_template"))
    columns, acc = prepare_sft(dataset, tokenizer, max_length=max_length, overlong=cfg.get("overlong", "drop"),
                               response_template=cfg.get("response_template"))
    log(acc.summary())
    train = datasets.Dataset.from_dict(columns)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    return trainer, tokenizer, info, acc


def run_sft(cfg: Mapping[str, Any], *, recipe: Mapping[str, Any] | None = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one SFT stage; returns the run record (also written to ``output_dir``)."""
    from cotforge.trainers.config import check_stage
    from cotforge.trainers.stage import check_output, jsonable, train_and_save

    check_stage(cfg, SFT_KEYS, "sft config")
    out = check_output(cfg["output_dir"], overwrite=bool(cfg.get("overwrite")))
    trainer, tokenizer, info, acc = build_sft_trainer(cfg, log=log)
    report = {"data_filter": acc.to_dict(), "packing": bool(cfg.get("packing", False))}
    return train_and_save(trainer, tokenizer, out, stage="sft", base_model=str(cfg["model"]), data=info,
                          config=jsonable(cfg), report=report, recipe=recipe, log=log)
