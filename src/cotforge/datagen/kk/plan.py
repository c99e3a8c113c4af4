"""What a K&K build will hold, decided and checked before anything is written.

:class:`KKBuildConfig` is the resolved command line; :func:`plan_sizes` turns it into per-size
counts, raising for requests that cannot be met (a size with no unique-solution puzzle, nothing to
build, too few distinct puzzles under ``--shortage error``) and returning warnings for requests
that can be met only slowly (a split that takes most of a size's distinct puzzles).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cotforge.datagen.kk.solver import MAX_PEOPLE  # the solver's limit (20)
from cotforge.errors import UsageError

#: Bump when the same options would produce different rows.
GENERATOR_VERSION = "2.0.0"
DEFAULT_PEOPLE = tuple(range(2, 9))
DEFAULT_TRAIN, DEFAULT_TEST = 1000, 100
#: The public release's 2-person sizes (its text-level dedup leaves enough 2-person puzzles).
PUBLIC_TRAIN = {2: 200}
#: Warn when a split takes at least this share of a size's distinct puzzles: the last ones are the
#: rarest under the grammar, so the drafts needed per new puzzle climb steeply near the end.
CROWDED_SHARE = 0.8


def parse_people(spec: str) -> tuple[int, ...]:
    """"2-8", "3,5,7" or "2-4,8" -> sorted people counts; each between 2 and 20 (``MAX_PEOPLE``)."""
    out: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise UsageError(f"--people {spec!r}: expected counts like '2-8' or '3,5,7'") from None
    if not out:
        raise UsageError(f"--people {spec!r}: no people counts given")
    bad = [n for n in out if n < 2 or n > MAX_PEOPLE]
    if bad:
        raise UsageError(f"--people {spec!r}: each count must be between 2 and {MAX_PEOPLE} (got {bad[0]})")
    return tuple(sorted(out))


def format_people(people: Iterable[int]) -> str:
    people = sorted(people)
    if people == list(range(people[0], people[-1] + 1)) and len(people) > 1:
        return f"{people[0]}-{people[-1]}"
    return ",".join(map(str, people))


def combined_name(people: Iterable[int]) -> str:
    """The config name of a combined config: "3-7ppl", "3,5,7ppl"."""
    return f"{format_people(people)}ppl"


@dataclass(frozen=True)
class KKBuildConfig:
    people: tuple[int, ...] = DEFAULT_PEOPLE
    train: int = DEFAULT_TRAIN
    test: int = DEFAULT_TEST
    seed: int = 0
    depth: int = 2
    width: int = 2
    filter_degenerate: bool = False
    role_pair: str = "knight/knave"
    name_pool: str = "common"
    perturbations: tuple[str, ...] = ()
    #: "clip": a size that cannot supply the counts asked gets all it has, split between train and
    #: test in proportion to the counts asked (both shrink), and the card says so (the default
    #: layout's behaviour); "error": fail before writing anything.
    shortage: str = "error"
    #: "logic": no two puzzles (and no train/test pair) share logic up to renaming; "text": only
    #: identical statements are duplicates, as in the public generator.
    dedup: str = "logic"
    #: "cotforge" or "public" wording (templates and name pools, see style.py).
    style: str = "cotforge"
    #: Perturbed copies of the train split too (the memorisation score of Xie et al. uses them).
    perturb_train: bool = False
    #: Extra configs that load several sizes at once (each a tuple of people counts); the card
    #: always adds one over every size built when there are several.
    combined: tuple[tuple[int, ...], ...] = ()
    #: --train/--test were not given: with text dedup, 2 people get the public 200 / 100.
    default_sizes: bool = False
    #: Folders or files whose puzzles' logic no split may have (``--exclude``); only their logic
    #: keys' count and digest enter the build identity (``exclude_record``), never the paths.
    exclude: tuple[str, ...] = ()
    exclude_record: dict | None = field(default=None, compare=False)

    def validate(self) -> None:
        from cotforge.datagen.kk import PERTURBATIONS
        from cotforge.datagen.kk.source import DEDUPS
        from cotforge.datagen.kk.style import STYLES

        if self.train < 0:
            raise UsageError(f"--train {self.train}: must be >= 0")
        if self.test < 0:
            raise UsageError(f"--test {self.test}: must be >= 0")
        if self.depth < 1:
            raise UsageError(f"--depth {self.depth}: must be >= 1")
        if self.width < 2:
            raise UsageError(f"--width {self.width}: must be >= 2")
        if self.shortage not in ("clip", "error"):
            raise UsageError(f"--shortage {self.shortage!r}: choose clip or error")
        if self.dedup not in DEDUPS:
            raise UsageError(f"--dedup {self.dedup!r}: choose {' or '.join(DEDUPS)}")
        if self.style not in STYLES:
            raise UsageError(f"--style {self.style!r}: choose {' or '.join(STYLES)}")
        for p in self.perturbations:
            if p not in PERTURBATIONS:
                raise UsageError(f"--perturb {p!r}: unknown perturbation; choose from {', '.join(PERTURBATIONS)}")
        for n in self.people:
            if n < 2 or n > MAX_PEOPLE:
                raise UsageError(f"--people: each count must be between 2 and {MAX_PEOPLE} (got {n})")
        for group in self.combined:
            missing = sorted(set(group) - set(self.people))
            if missing:
                raise UsageError(f"--combined {format_people(group)}: {missing[0]} people is not in --people {format_people(self.people)}")
            if len(group) < 2:
                raise UsageError(f"--combined {format_people(group)}: name at least two sizes")
        if self.perturb_train and not self.perturbations:
            raise UsageError("--perturb-train: name the perturbations with --perturb")
        sizes = [self.train_for(n) + self.test for n in self.people]
        if not any(sizes):
            raise UsageError(f"--train {self.train} --test {self.test}: nothing to build; ask for at least one puzzle")
        if self.perturbations and not self.test and not self.perturb_train:
            raise UsageError("--perturb with --test 0 perturbs nothing; ask for test puzzles or add --perturb-train")

    def train_for(self, n: int) -> int:
        if self.default_sizes and self.dedup == "text":
            return PUBLIC_TRAIN.get(n, self.train)
        return self.train

    def options(self):
        from cotforge.datagen.kk import KKOptions

        return KKOptions(
            depth=self.depth, width=self.width, filter_degenerate=self.filter_degenerate,
            role_pair=self.role_pair, name_pool=self.name_pool, style=self.style,
        )

    def combined_groups(self) -> list[tuple[int, ...]]:
        """Combined configs of the card: every size built, then the ones asked for."""
        groups = [tuple(self.people)] if len(self.people) > 1 else []
        for g in self.combined:
            if tuple(sorted(g)) not in groups:
                groups.append(tuple(sorted(g)))
        return groups

    def resolved(self) -> dict[str, Any]:
        d = asdict(self)
        d["people"] = list(self.people)
        d["perturbations"] = list(self.perturbations)
        d["combined"] = [list(g) for g in self.combined]
        d.pop("exclude")  # paths are local; the record of their keys identifies the exclusion
        d["generator_version"] = GENERATOR_VERSION
        return d

    def command(self, out: str, exclude: Iterable[str] | None = None) -> str:
        """The command that rebuilds this dataset (``exclude``: the paths to show for --exclude)."""
        parts = ["cotforge kk build", f"--out {out}", f"--people {format_people(self.people)}"]
        if not self.default_sizes:
            parts += [f"--train {self.train}", f"--test {self.test}"]
        parts += [f"--seed {self.seed}", f"--depth {self.depth}", f"--width {self.width}"]
        if self.filter_degenerate:
            parts.append("--filter-degenerate")
        if self.role_pair != "knight/knave":
            parts.append(f"--role-pair {self.role_pair}")
        if self.name_pool != "common":
            parts.append(f"--name-pool {self.name_pool}")
        if self.dedup != "logic":
            parts.append(f"--dedup {self.dedup}")
        if self.style != "cotforge":
            parts.append(f"--style {self.style}")
        for p in self.perturbations:
            parts.append(f"--perturb {p}")
        if self.perturb_train:
            parts.append("--perturb-train")
        for g in self.combined:
            parts.append(f"--combined {format_people(g)}")
        for path in self.exclude if exclude is None else exclude:
            parts.append(f"--exclude {path}")
        parts.append(f"--shortage {self.shortage}")
        return " ".join(parts)


@dataclass
class SizePlan:
    n_people: int
    train: int
    test: int
    available: int | None  # distinct logic identities at this size (None: too many to enumerate)
    note: str | None = None


def check_out(out: Path) -> None:
    """--out must be creatable: no existing part of its path may be a file."""
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"lies under {parent}, which is a file"
                raise UsageError(f"--out {out}: {what}; choose a folder")
            return


def plan_sizes(cfg: KKBuildConfig, excluded: frozenset[str] = frozenset()) -> tuple[list[SizePlan], list[str]]:
    """Counts per people count, checked against how many distinct puzzles exist, before any write;
    and warnings (crowded sizes) to show before building."""
    from cotforge.datagen.kk import KKShortage, count_distinct
    from cotforge.datagen.kk.options import describe

    plans, warnings = [], []
    options = cfg.options()
    for n in cfg.people:
        train = cfg.train_for(n)
        available = count_distinct(n, options)
        if available == 0:
            raise KKShortage(
                f"--people {n}: only 0 distinct {describe(n, options)} exist (none has a unique solution); nothing can be built",
                0,
            )
        asked = train + cfg.test
        taken = sum(1 for k in excluded if k.startswith(f"kk{n}-"))
        if available is not None and taken:
            available = max(available - taken, 0)  # excluded keys are of this size: an upper bound
        if cfg.dedup == "text" or available is None or available >= asked:
            plans.append(SizePlan(n, train, cfg.test, available))
            if cfg.dedup == "logic" and available and asked >= CROWDED_SHARE * available:
                warnings.append(
                    f"{n}ppl: asks for {asked:,} of the {available:,} distinct puzzles "
                    f"({100 * asked / available:.0f}%); the last ones are the rarest, so each takes many more "
                    f"drafts and the build slows down toward the end"
                )
            continue
        what = f"(depth {cfg.depth}, width {cfg.width}{', degenerate filtered' if cfg.filter_degenerate else ''}"
        what += f", {taken} excluded)" if taken else ")"
        if cfg.shortage == "error" or available == 0:
            raise KKShortage(
                f"--people {n}: only {available} logically distinct {n}-person puzzles exist {what}; "
                f"asked for {asked} (train {train} + test {cfg.test})",
                available,
            )
        test = min(cfg.test, round(available * cfg.test / asked)) if asked else 0
        if cfg.test and not test and available > 1:
            test = 1
        clipped = min(train, available - test)
        note = (
            f"{n}ppl: only {available} logically distinct puzzles exist at this size, so it holds "
            f"train {clipped} / test {test} instead of the {train} / {cfg.test} asked (--shortage clip "
            f"shrinks both splits in proportion)."
        )
        plans.append(SizePlan(n, clipped, test, available, note))
    return plans, warnings
