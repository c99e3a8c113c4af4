"""Build a K&K dataset folder: configs ``<n>ppl`` with test and train splits, optional perturbed sets.

Orchestration only: the plan (:mod:`.plan`) is checked before anything is written; the engine
(sampler, solver, identity, renderer) lives in the sibling modules; the store writes the shards.
Per size, test is built first and train excludes every dedup key the test split holds, so the
splits are disjoint by construction (by logic, or by statements with ``--dedup text``). Logical
perturbations (``statement``, ``leaf``) get logic that none of the size's train and test puzzles
nor any other perturbation of the size has; language perturbations keep their original's logic.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from cotforge.datagen.kk.plan import (  # noqa: F401  (re-exported: the build API in one place)
    DEFAULT_PEOPLE,
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    GENERATOR_VERSION,
    KKBuildConfig,
    SizePlan,
    check_out,
    format_people,
    parse_people,
    plan_sizes,
)
from cotforge.records import KK_SCHEMA

FAMILY = "kk"


class PerturbedSource:
    """Perturbed copies of a finished split's rows (one kind of perturbation).

    A puzzle that admits no such perturbation (no single-leaf change keeps a unique, different
    solution with new logic, say) is skipped and counted in ``skipped``; the card reports it.
    ``forbidden``: logic keys a logical perturbation may not take; each one made joins them (in
    ``made``), so no two perturbations share logic. Everything depends only on the rows and the
    forbidden keys, so a resumed build (which regenerates the rows before ``start``) is identical.
    """

    schema = KK_SCHEMA

    def __init__(self, original_files: list[Path], kind: str, seed: int, filter_degenerate: bool = False,
                 forbidden: Iterable[str] = (), style: str | None = None):
        self.files, self.kind, self.seed = original_files, kind, seed
        self.filter_degenerate, self.style = filter_degenerate, style
        self.forbidden = frozenset(forbidden)
        self.skipped: list[str] = []
        self.made: set[str] = set()

    def rows(self, start: int = 0, done: Iterable[pa.Table] = ()) -> Iterator[dict]:
        from cotforge.datagen.kk import KKPerturbationError, perturb_row
        from cotforge.datagen.kk.perturb import LOGICAL

        produced = 0
        self.skipped, self.made = [], set()
        refused = _Union(self.forbidden, self.made)
        for f in self.files:
            for row in pq.read_table(f).to_pylist():
                try:
                    out = perturb_row(row, self.kind, self.seed, filter_degenerate=self.filter_degenerate,
                                      forbidden=refused, style=self.style)
                except KKPerturbationError:
                    self.skipped.append(row["id"])
                    continue
                if self.kind in LOGICAL:
                    self.made.add(out["logic_key"])
                if produced >= start:
                    yield out
                produced += 1


class _Union:
    """``in`` over two sets without copying them."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __contains__(self, key) -> bool:
        return key in self.a or key in self.b


def column_values(files: Iterable[Path], column: str) -> list:
    return [v for f in files for v in pq.read_table(f, columns=[column]).column(column).to_pylist()]


def dedup_keys(files: Iterable[Path], dedup: str, n_people: int) -> frozenset[str]:
    """The keys of written rows in the split dedup space (logic keys, or text keys)."""
    from cotforge.datagen.kk.source import text_key

    if dedup == "logic":
        return frozenset(column_values(files, "logic_key"))
    return frozenset(text_key(s, n_people) for s in column_values(files, "statements"))


def build_kk(
    out: str | Path,
    cfg: KKBuildConfig,
    *,
    overwrite: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    limits=None,
    name: str = "cotforge-kk",
    version: str = "1.0.0",
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume, or verify) a K&K dataset folder; returns its manifest.

    ``progress(label, total)`` may return a callback that receives row counts as they are written;
    ``warn`` receives the plan's warnings (crowded sizes) before anything is built.
    """
    from cotforge.datagen.kk import KKSplitSource
    from cotforge.datagen.kk.files import exclusion_keys
    from cotforge.datagen.kk.perturb import LOGICAL
    from cotforge.datagen.kk.stats import kk_stats
    from cotforge.datagen.kk.card import render_kk_card
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.shards import ShardLimits

    cfg.validate()
    out = Path(out)
    check_out(out)
    excluded: frozenset[str] = frozenset()
    if cfg.exclude:
        excluded, record = exclusion_keys(list(cfg.exclude))
        cfg = replace(cfg, exclude_record=record)
    plans, warnings = plan_sizes(cfg, excluded)  # may raise: nothing has been written yet
    for w in warnings:
        (warn or (lambda _m: None))(w)
    writer = DatasetWriter(
        out, name=name, family=FAMILY, version=version, build_config=cfg.resolved(),
        seeds={"seed": cfg.seed}, command=cfg.command(str(out)), overwrite=overwrite,
        limits=limits or ShardLimits(),
    )
    options = cfg.options()
    tick = progress or (lambda label, total: None)
    perturb_notes: list[str] = []
    for plan in plans:
        config, n = f"{plan.n_people}ppl", plan.n_people
        common = dict(dedup=cfg.dedup, exclude_logic=excluded)
        test_src = KKSplitSource(n, "test", plan.test, cfg.seed, options, **common)
        test = writer.write_split(config, "test", test_src, on_rows=tick(f"{config} test", plan.test))
        test_files = [out / s.path for s in test.shards]
        train_src = KKSplitSource(n, "train", plan.train, cfg.seed, options,
                                  exclude_keys=dedup_keys(test_files, cfg.dedup, n), **common)
        train = writer.write_split(config, "train", train_src, on_rows=tick(f"{config} train", plan.train))
        train_files = [out / s.path for s in train.shards]
        if not cfg.perturbations:
            continue
        # perturbed logic must be new to the size: not in train or test, nor any other perturbation
        # (read only when needed: a million-row split's keys as a Python set are 100+ MB)
        forbidden = set(column_values(test_files + train_files, "logic_key")) | excluded
        splits = [("test", test_files, plan.test)] + ([("train", train_files, plan.train)] if cfg.perturb_train else [])
        for split, files, count in splits:
            if not count:
                continue
            for kind in cfg.perturbations:
                source = PerturbedSource(files, kind, cfg.seed, cfg.filter_degenerate, forbidden, cfg.style)
                target = f"{config}_perturbed_{kind}"
                written = writer.write_split(target, split, source, on_rows=tick(f"{config} {split} perturbed {kind}", count))
                if kind in LOGICAL:  # read back: a split reused from an earlier run generated nothing now
                    forbidden |= set(column_values([out / s.path for s in written.shards], "logic_key"))
                if written.rows < count:
                    perturb_notes.append(
                        f"{target}/{split}: {count - written.rows} of {count} {split} puzzles admit no {kind} "
                        f"perturbation with a unique, different solution and new logic, and are left out."
                    )
    notes = [p.note for p in plans if p.note] + perturb_notes
    stats = kk_stats(out, writer.results, cfg, [asdict(p) for p in plans])
    return writer.finish(
        notes=notes, stats=stats,
        render_card=lambda manifest: render_kk_card(manifest, plans=[asdict(p) for p in plans], cfg=cfg),
    )
