"""What every stage does around its trainer: check the output folder, resume, train, save, record."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.trainers.card import RUN_RECORD, write_model_card

LOG_FILE = "log_history.json"


def check_output(out: str | Path, *, overwrite: bool = False) -> Path:
    """The output folder; a finished stage there is refused unless ``overwrite`` (a partial one resumes)."""
    out = Path(out)
    if (out / RUN_RECORD).is_file() and not overwrite:
        raise UsageError(f"output_dir: {out} holds a finished stage ({RUN_RECORD}); set overwrite: true or another output_dir")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output_dir: {out} is a file")
    return out


def last_checkpoint(out: Path) -> str | None:
    """TRL/transformers' newest ``checkpoint-N`` in ``out`` (a stage interrupted after a save resumes from it)."""
    if not out.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out))


def train_and_save(trainer: Any, tokenizer: Any, out: Path, *, stage: str, base_model: str, data: Mapping[str, Any],
                   config: Mapping[str, Any], report: dict[str, Any], recipe: Mapping[str, Any] | None,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (resuming from the last checkpoint in ``out``), save model + tokenizer, write the card."""
    from cotforge.store.atomic import write_json
    from cotforge.trainers.config import args_dict

    resume = last_checkpoint(out)
    if resume:
        log(f"{stage}: resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))  # collective under DeepSpeed ZeRO-3: every process calls it
    history = list(trainer.state.log_history)
    losses = [h["loss"] for h in history if "loss" in h]
    report = dict(report)
    report.update(global_steps=trainer.state.global_step, train_loss=getattr(result, "training_loss", None),
                  first_loss=losses[0] if losses else None, last_loss=losses[-1] if losses else None,
                  processes=trainer.accelerator.num_processes, distributed_backend=distributed_backend_name())
    record = {"stage": stage, "report": report}
    if trainer.is_world_process_zero():  # one writer for the tokenizer, the log and the card
        tokenizer.save_pretrained(str(out))
        write_json(out / LOG_FILE, history)
        record = write_model_card(out, stage=stage, base_model=base_model, data=data, config=config,
                                  trainer_args=args_dict(trainer.args), report=report, recipe=recipe)
        log(f"{stage}: saved {out} ({trainer.state.global_step} steps, {report['processes']} process(es))")
    trainer.accelerator.wait_for_everyone()
    return record


def distributed_backend_name() -> str | None:
    """torch.distributed's backend when a process group runs (gloo on CPU, nccl on GPUs), else None."""
    import torch.distributed as dist

    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
