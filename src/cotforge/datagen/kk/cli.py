"""``cotforge kk build|check|export``: the Knights & Knaves dataset, in the public K&K layout by default."""

from __future__ import annotations

from typing import List, Optional

import typer

kk_app = typer.Typer(help="Knights & Knaves logic puzzles.", no_args_is_help=True)


@kk_app.command("build")
def build(
    out: str = typer.Option(..., "--out", "-o", help="Output folder (Hub dataset layout)."),
    people: str = typer.Option("2-8", "--people", help="People counts: '2-8', '3,5,7' (2..20)."),
    train: Optional[int] = typer.Option(None, "--train", help="Train puzzles per size (1000; 200 at 2 people with --dedup text, as the public release)."),
    test: Optional[int] = typer.Option(None, "--test", help="Test puzzles per size (100)."),
    seed: int = typer.Option(0, "--seed", help="Seed. Different seeds share no text or ids, but small sizes share logic: see --exclude."),
    depth: int = typer.Option(2, "--depth", help="Maximum statement nesting depth (2..6; depth 1 has no unique-solution puzzle)."),
    width: int = typer.Option(2, "--width", help="Maximum children of and/or."),
    filter_degenerate: bool = typer.Option(False, "--filter-degenerate", help="Drop puzzles with tautological or contradictory statements."),
    role_pair: str = typer.Option("knight/knave", "--role-pair", help="Role words, e.g. saint/sinner, hero/villain."),
    name_pool: str = typer.Option("common", "--name-pool", help="common or uncommon names."),
    style: str = typer.Option("cotforge", "--style", help="Wording: cotforge, or public (exactly the public generator's 18 templates and name pools)."),
    dedup: str = typer.Option("logic", "--dedup", help="logic: no two puzzles share logic up to renaming; text: only identical statements are duplicates (the public generator's rule, keeps its distribution)."),
    perturb: List[str] = typer.Option([], "--perturb", help="Add a perturbed set: statement, leaf, role_pair, flip_role, uncommon_names, reorder (repeatable)."),
    perturb_train: bool = typer.Option(False, "--perturb-train", help="Perturb the train split too (the memorisation score of Xie et al.)."),
    combined: List[str] = typer.Option([], "--combined", help="Extra config loading several sizes at once, e.g. 3-7 -> config 3-7ppl (repeatable; one over all sizes is always added)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Dataset folder or K&K file whose puzzles' logic no split may have (repeatable), e.g. an eval set."),
    shortage: Optional[str] = typer.Option(None, "--shortage", help="When a size has fewer distinct puzzles than asked: 'error', or 'clip' (both splits shrink in proportion) (clip for the default sizes, error when --train/--test are given)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different build in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
):
    """Build a K&K dataset: configs <n>ppl with train and test splits, card and manifest."""
    from cotforge.datagen.kk.build import DEFAULT_TEST, DEFAULT_TRAIN, KKBuildConfig, build_kk, parse_people
    from cotforge.progress import bars

    explicit = train is not None or test is not None
    cfg = KKBuildConfig(
        people=parse_people(people),
        train=DEFAULT_TRAIN if train is None else train,
        test=DEFAULT_TEST if test is None else test,
        seed=seed, depth=depth, width=width, filter_degenerate=filter_degenerate,
        role_pair=role_pair, name_pool=name_pool, perturbations=tuple(dict.fromkeys(perturb)),
        shortage=shortage or ("error" if explicit else "clip"),
        dedup=dedup, style=style, perturb_train=perturb_train,
        combined=tuple(dict.fromkeys(parse_people(c) for c in combined)),
        default_sizes=not explicit, exclude=tuple(exclude),
    )
    try:
        with bars(None if progress else False) as factory:
            manifest = build_kk(out, cfg, overwrite=overwrite, progress=factory,
                                warn=lambda m: typer.echo(f"warning: {m}", err=True))
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the shards written so far are kept in {out}; rerun the same command to resume", err=True)
        raise typer.Exit(130) from None
    total = sum(e["rows"] for e in manifest["splits"].values())
    typer.echo(f"wrote {total:,} puzzles in {len(manifest['splits'])} splits to {out}")
    for note in manifest["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"content hash {manifest['content_hash']}")


@kk_app.command("check")
def check(
    paths: List[str] = typer.Argument(..., help="K&K files in the public format (.jsonl, .json, .parquet), dataset folders or folders of such files."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
):
    """Solve every puzzle in public-format K&K files and compare with their gold solutions.

    Exit code 0 when every puzzle has exactly one solution and it is the gold one, 1 otherwise.
    """
    import json

    from cotforge.datagen.kk.check import check_file
    from cotforge.datagen.kk.files import kk_files

    files = [f for p in paths for f in kk_files(p)]
    reports = [check_file(f) for f in files]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        for r in reports:
            typer.echo(
                f"{r.path}: {r.rows} puzzles, {r.unique} with exactly one solution, {r.agree} agree with gold"
                + (f"; multiple solutions in rows {r.multiple[:10]}" if r.multiple else "")
                + (f"; no solution in rows {r.unsolvable[:10]}" if r.unsolvable else "")
                + (f"; disagree in rows {r.disagree[:10]}" if r.disagree else "")
            )
    raise typer.Exit(0 if all(r.ok for r in reports) else 1)


@kk_app.command("export")
def export(
    dataset: str = typer.Argument(..., help="A K&K dataset folder built by `cotforge kk build`."),
    fmt: str = typer.Option(..., "--format", help="verl, logic-rl or xie."),
    out: str = typer.Option(..., "--out", "-o", help="Output folder."),
):
    """Write a K&K dataset in the layout another pipeline reads: verl / Logic-RL Parquet, or Xie et al.'s JSONL."""
    from cotforge.datagen.kk.export import export_kk

    written = export_kk(dataset, fmt, out, warn=lambda m: typer.echo(f"warning: {m}", err=True))
    typer.echo(f"wrote {sum(written.values()):,} rows in {len(written)} files to {out}")
