"""``cotforge train sft|dpo|grpo|ppo --config FILE [--set k=v]`` and ``cotforge recipe run FILE``.

Only typer and the standard library are imported here; each command imports its stage when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

train_app = typer.Typer(help="Train one stage (SFT, DPO, GRPO, PPO) on TRL from a YAML config.", no_args_is_help=True)
recipe_app = typer.Typer(help="Run a recipe's stages in order (data -> training -> eval).", no_args_is_help=True)

_CONFIG = typer.Option(..., "--config", "-c", help="Stage config (YAML).")
_SET = typer.Option(None, "--set", help="Override a config key: key=value, dotted for nested keys (args.learning_rate=1e-5); repeatable.")


def _quiet_hf() -> None:
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run_stage(kind: str, config: Path, sets: Optional[list[str]]) -> None:
    from cotforge.errors import UsageError
    from cotforge.trainers import get_stage
    from cotforge.trainers.config import apply_overrides, load_yaml

    _quiet_hf()
    cfg = apply_overrides(load_yaml(config), sets or [])
    stage = cfg.pop("stage", kind)
    if stage != kind:
        raise UsageError(f"{config}: says stage {stage!r}, but this is `cotforge train {kind}`")
    record = get_stage(kind)(cfg, log=typer.echo)
    typer.echo(f"{kind}: model and card in {cfg['output_dir']} ({record.get('report', {}).get('global_steps')} steps)")


def _stage_command(kind: str):
    def command(config: Path = _CONFIG, set_: Optional[list[str]] = _SET):
        _run_stage(kind, config, set_)

    command.__doc__ = {
        "sft": "SFT with completion-only loss; rows filtered against max_length first (counts reported).",
        "dpo": "DPO on preference rows (prompt, chosen, rejected) from `cotforge pairs`.",
        "grpo": "GRPO (warm-up defaults: beta 0, no std scaling, bnpo loss); temperature schedule and rebalancing.",
        "ppo": "PPO with a critic and per-type discounted returns (variant: reinforce drops the critic).",
    }[kind]
    return command


for _kind in ("sft", "dpo", "grpo", "ppo"):
    train_app.command(_kind)(_stage_command(_kind))


@recipe_app.command("run")
def recipe_run(
    file: Path = typer.Argument(..., help="Recipe file (recipes/warmup.yaml, demystify.yaml, phi4_mini.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<recipe>[-tiny])."),
    stages: Optional[str] = typer.Option(None, "--stages", help="Comma-separated stage names to run (default: all)."),
    tiny: bool = typer.Option(False, "--tiny", help="Merge the recipe's `tiny` overrides: tiny model, few rows, few steps (CPU)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a stage key: STAGE.key=value (sft.args.learning_rate=1e-5); repeatable."),
):
    """Run the stages in order, each reading the previous stages' output; writes report.json/report.md."""
    from cotforge.trainers.recipe import run_recipe

    _quiet_hf()
    chosen = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
    report = run_recipe(file, out, stages=chosen, tiny=tiny, overrides=set_ or [], log=typer.echo)
    typer.echo(f"recipe {report['recipe']}: {len(report['stages'])} stage(s) run; report in {Path(report['out']) / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.add_typer(recipe_app, name="recipe")
