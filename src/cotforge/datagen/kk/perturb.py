"""Perturbed copies of K&K rows (the memorisation probes of Xie et al. 2024).

Logical perturbations change the puzzle and keep a unique but *different* solution, and a
different logic: the result's logic key differs from the original's (a change that only renames
the people of the original is rejected) and from every key in ``forbidden`` (the caller's: e.g.
the dataset's train and test puzzles and the perturbations already made):

* ``statement``: one person's statement is resampled from the grammar (same depth and width; at
  depth 2 "impossible" is exact, the whole statement catalogue being checked);
* ``leaf``: one leaf ("X is a knight/knave") of one statement is replaced by another leaf. All
  single-leaf replacements are enumerated and tried in random order, so "impossible" is exact.

Language perturbations keep the logic (and the logic key) and change the words:

* ``role_pair``: another role pair (hero/villain, ...); ``flip_role``: the role words swapped
  (truth-tellers are called knaves); ``uncommon_names``: names from the uncommon pool;
  ``reorder``: the statements appear in a different order.

Everything else in the text stays as it was: the row's quiz is parsed back into its layout (which
phrasing each person got, sentence order), and only the perturbed part is re-rendered. A row whose
quiz was not rendered by cotforge (e.g. a public row) gets fresh phrasings instead.

Each result is a pure function of (row, kind, seed).
"""

from __future__ import annotations

from dataclasses import replace

from cotforge.errors import UsageError

from cotforge.datagen.kk.identity import logic_key
from cotforge.datagen.kk.options import KKPerturbationError
from cotforge.datagen.kk.render import (
    ROLE_PAIRS,
    STYLE_TEMPLATES,
    Layout,
    name_pool,
    parse_layout,
    render_statements,
    role_pair_from_words,
)
from cotforge.datagen.kk.style import STYLES
from cotforge.datagen.kk.rng import sample_distinct, shuffled, stream, uniform_below
from cotforge.datagen.kk.rows import build_row, row_id
from cotforge.datagen.kk.sampler import StatementSampler
from cotforge.datagen.kk.solver import (
    MAX_PEOPLE,
    consistent_mask,
    evaluate,
    full_mask,
    is_single,
    knight_masks,
    truth_tables,
)
from cotforge.datagen.kk.statements import (
    LIE,
    TRUTH,
    depth as stmt_depth,
    get_at,
    leaf_paths,
    parse_statements,
    replace_at,
    width as stmt_width,
)

PERTURBATIONS = ("statement", "leaf", "role_pair", "flip_role", "uncommon_names", "reorder")
#: The perturbations that change the logic (the others change only the words).
LOGICAL = ("statement", "leaf")

#: Statement resamples tried before giving up (each costs one statement and one consistency pass) ...
STATEMENT_TRIES = 20_000
#: ... or, at depth 2, before checking the whole statement catalogue (which makes "impossible" exact).
CATALOGUE_TRIES = 2_000


def perturb_row(
    row: dict,
    kind: str,
    seed: int,
    *,
    filter_degenerate: bool = False,
    forbidden=frozenset(),
    style: str | None = None,
) -> dict:
    """A perturbed copy of a K&K row (pure function of row, kind, seed and ``forbidden``).

    Sets ``perturbation`` and ``perturbed_from`` (the row's id) and a new ``id``. ``statement`` and
    ``leaf`` keep a unique but different solution, give a logic key other than the original's and
    not in ``forbidden`` (any container of logic keys), and raise :class:`KKPerturbationError` (a
    :class:`UsageError`) when no such change exists: exact for ``leaf`` (all single-leaf changes are
    tried) and for ``statement`` at depth 2 (the whole statement catalogue is checked); after
    bounded tries for deeper statements. ``filter_degenerate`` keeps resampled statements free of
    tautologies and contradictions. ``style``: the wording the row was built with ("cotforge" or
    "public"), tried first when reading its layout back and used for the uncommon names.
    """
    if kind not in PERTURBATIONS:
        raise UsageError(f"perturbation must be one of {', '.join(PERTURBATIONS)}, got {kind!r}")
    where = f"row {row.get('id', row.get('index', '?'))}"
    try:
        names = tuple(row["names"])
        statements = parse_statements(row["statements"], len(names))
        roles = role_pair_from_words(row["knight_knave"])
        quiz = row["quiz"]
    except KeyError as exc:
        raise UsageError(f"{where}: missing field {exc.args[0]!r}") from None
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    n = len(names)
    if not 2 <= n <= MAX_PEOPLE:
        raise UsageError(f"{where}: {n} people; the engine handles 2 to {MAX_PEOPLE}")
    tables = truth_tables(statements, n)
    cons = consistent_mask(tables, n)
    if not is_single(cons):
        raise UsageError(f"{where}: the puzzle does not have a unique solution")
    assignment = cons.bit_length() - 1
    depth = int(row.get("depth") or max(stmt_depth(s) for s in statements))
    width = int(row.get("width") or max(stmt_width(s) for s in statements))
    # rows from elsewhere (e.g. the public files) have no id: derive one from their content
    origin = row.get("id") or row_id(quiz, row["statements"], row.get("solution_text_format") or "", None)
    rng = stream("kk-perturb", origin, kind, seed)

    if style is not None and style not in STYLES:
        raise UsageError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    contents = render_statements(statements, names, roles)
    order = (style,) + tuple(s for s in STYLES if s != style) if style else STYLES
    layout = parse_layout(quiz, names, roles, contents, order)
    if layout is None:  # not our rendering: fresh phrasings, original order
        fresh = style or "cotforge"
        templates = tuple(uniform_below(rng, len(STYLE_TEMPLATES[fresh])) for _ in range(n))
        layout = Layout(names, roles, templates, tuple(range(n)), fresh)

    key = logic_key(statements, n, assignment)  # recomputed: a row's own column is not trusted
    if kind in LOGICAL:
        refused = _Refused(key, forbidden)
        if kind == "statement":
            statements, tables, assignment, key = _perturb_statement(
                statements, tables, assignment, depth, width, filter_degenerate, rng, where, origin, refused
            )
        else:
            statements, tables, assignment, key = _perturb_leaf(
                statements, tables, assignment, filter_degenerate, rng, where, origin, refused
            )
    elif kind == "role_pair":
        current = {roles.spec, roles.flipped().spec}
        choices = [p for spec, p in ROLE_PAIRS.items() if spec not in current]
        layout = replace(layout, roles=choices[uniform_below(rng, len(choices))])
    elif kind == "flip_role":
        layout = replace(layout, roles=roles.flipped())
    elif kind == "uncommon_names":
        uncommon = name_pool(layout.style, "uncommon")
        if n > len(uncommon):
            raise UsageError(f"{where}: {n} people but only {len(uncommon)} uncommon names")
        while True:
            new_names = tuple(sample_distinct(rng, list(uncommon), n))
            if new_names != names:
                break
        layout = replace(layout, names=new_names)
    elif kind == "reorder":
        while True:
            order = tuple(shuffled(rng, list(layout.order)))
            if order != layout.order:
                break
        layout = replace(layout, order=order)

    return build_row(
        statements, tables, assignment, layout,
        index=int(row.get("index") or 0), depth=depth, width=width, logic_key=key,
        perturbation=kind, perturbed_from=origin,
    )  # fmt: skip


class _Refused:
    """Logic keys a logical perturbation may not have: the original's and the caller's."""

    def __init__(self, original: str, forbidden):
        self.original, self.forbidden = original, forbidden

    def key_if_new(self, statements, n: int, assignment: int) -> str | None:
        key = logic_key(statements, n, assignment)
        return None if key == self.original or key in self.forbidden else key


def _perturb_statement(statements, tables, assignment, depth, width, filter_degenerate, rng, where, row_id, refused):
    """Rejection sampling as in the public generator: a uniform person, a statement from the grammar,
    until the solution is unique and different. At depth 2 the grammar's statements are a finite
    catalogue, so after ``CATALOGUE_TRIES`` misses every candidate is checked: a valid one is drawn
    with its grammar probability (the same conditional distribution), or impossibility is exact."""
    n = len(statements)
    sampler = StatementSampler(n, depth, width)
    full = full_mask(n)

    def attempt(p, stmt, table):
        if stmt == statements[p] or (filter_degenerate and (table == 0 or table == full)):
            return None
        new_tables = list(tables)
        new_tables[p] = table
        cons = consistent_mask(new_tables, n)
        if is_single(cons) and cons.bit_length() - 1 != assignment:
            new = statements[:p] + (stmt,) + statements[p + 1 :]
            key = refused.key_if_new(new, n, cons.bit_length() - 1)
            if key is not None:
                return new, new_tables, cons.bit_length() - 1, key
        return None

    cat = sampler.catalogue
    tries = CATALOGUE_TRIES if cat is not None else STATEMENT_TRIES
    for _ in range(tries):
        p = uniform_below(rng, n)
        found = attempt(p, *sampler.statement(rng, p))
        if found:
            return found
    if cat is None:
        raise KKPerturbationError(
            f"{where}: no resampled statement gave a unique, different solution and new logic in {tries} tries",
            row_id, "statement",
        )
    km = knight_masks(n)
    valid, weights = [], []
    for p in range(n):
        cum, prev = cat.cumulative[p], 0.0
        for j, c in enumerate(cum):
            weight, prev = c - prev, c
            if weight <= 0:
                continue
            table = cat.tables[j] if cat.tables is not None else evaluate(cat.trees[j], km, full)
            found = attempt(p, cat.trees[j], table)
            if found:
                valid.append(found)
                weights.append(weight / cum[-1])
    if not valid:
        raise KKPerturbationError(
            f"{where}: no other statement for any person gives a unique, different solution and new logic", row_id, "statement"
        )
    u, acc = rng.random() * sum(weights), 0.0
    for found, w in zip(valid, weights):
        acc += w
        if u < acc:
            return found
    return valid[-1]


def _perturb_leaf(statements, tables, assignment, filter_degenerate, rng, where, row_id, refused):
    n = len(statements)
    km, full = knight_masks(n), full_mask(n)
    candidates = []
    for p, stmt in enumerate(statements):
        for path in leaf_paths(stmt):
            old = get_at(stmt, path)
            for q in range(n):
                for op in (TRUTH, LIE):
                    if (op, q) == old or (op == LIE and q == p):  # "I am a knave" is never generated
                        continue
                    candidates.append((p, path, (op, q)))
    for p, path, leaf in shuffled(rng, candidates):
        stmt = replace_at(statements[p], path, leaf)
        if path:
            siblings = get_at(stmt, path[:-1])[1:]
            if len(set(siblings)) != len(siblings):  # children of one operator stay distinct
                continue
        table = evaluate(stmt, km, full)
        if filter_degenerate and (table == 0 or table == full):
            continue
        new_tables = list(tables)
        new_tables[p] = table
        cons = consistent_mask(new_tables, n)
        if is_single(cons) and cons.bit_length() - 1 != assignment:
            new = statements[:p] + (stmt,) + statements[p + 1 :]
            key = refused.key_if_new(new, n, cons.bit_length() - 1)
            if key is not None:
                return new, new_tables, cons.bit_length() - 1, key
    raise KKPerturbationError(f"{where}: no single-leaf change gives a unique, different solution and new logic", row_id, "leaf")
