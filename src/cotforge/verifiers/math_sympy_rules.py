"""The SymPy-level rules the math verifier applies in a worker before math-verify's own ``verify``
(each one saves a slow ``simplify`` or refuses a false match): two closed-form numbers that
certainly differ, equations with different single-term left sides, a line of working taken
from an unmarked response, and an inequality answer read as the interval set it describes. Each
rule is a row family in ``tests/verifiers/test_math_cases.py``.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["CONSTANT_LETTERS", "equation_sides_differ", "inequality_as_set", "numeric_differs", "working_line"]


def numeric_differs(gold_parsed: list, pred: list) -> bool:
    """Whether two closed-form numbers (no symbols, no floats) certainly differ, by 30-digit
    evaluation: values further apart than 1e-9 (relative) differ. Saves math-verify's
    ``simplify(gold - pred)`` on most wrong answers. Never used to call two values equal: a
    numeric match is not a proof (it would accept an unsimplified trigonometric restatement of
    the problem), so equality is math-verify's exact check alone.
    """
    from sympy import Expr, Float

    g, p = gold_parsed[0], pred[0]
    if not (isinstance(g, Expr) and isinstance(p, Expr)):
        return False
    try:
        if not g.is_number or g.has(Float) or p.has(Float):
            return False
        gv = complex(g.evalf(30))
        if p.is_number:
            return _far_apart(gv, complex(p.evalf(30)))
        return _varies_from(gv, p)
    except (TypeError, ValueError, ArithmeticError, AttributeError, RecursionError):
        return False


def _far_apart(gv: complex, pv: complex) -> bool:
    if any(v != v or abs(v) == float("inf") for v in (gv, pv)):
        return False
    return abs(gv - pv) > 1e-9 * max(1.0, abs(gv), abs(pv))


# Letters that may stand for a constant (the imaginary unit, Euler's number) in one parse and be
# a plain symbol in another: an answer using them is left to math-verify.
CONSTANT_LETTERS = frozenset({"i", "j", "e", "E", "I", "pi"})
_POINTS = ((Fraction(37, 23), Fraction(29, 17), Fraction(53, 31)), (Fraction(41, 19), Fraction(13, 11), Fraction(61, 43)))


def _varies_from(gv: complex, p) -> bool:
    """Whether an expression in free symbols (``54 (2abc)^{1/3} ...``) certainly is not the number
    ``gv``: at a point of positive rationals where it evaluates to a finite value, that value is
    far from ``gv``. An expression equal to a constant for every value of its symbols would
    evaluate to it there, so a far value proves the difference; a near one decides nothing."""
    symbols = sorted(p.free_symbols, key=str)
    if not symbols or any(str(s) in CONSTANT_LETTERS for s in symbols):
        return False
    for point in _POINTS:
        values = {s: point[k % len(point)] + k for k, s in enumerate(symbols)}
        pv = complex(p.subs(values).evalf(30))
        if pv == pv and abs(pv) != float("inf"):
            return _far_apart(gv, pv)
    return False


def equation_sides_differ(gold_parsed: list, pred: list) -> bool:
    r"""Two equations whose left-hand sides are single terms (``\tan x = k``, ``y = ...``) that
    differ are different answers (``\tan x = k`` is not ``\cot x = k``). Sums on the left
    (``2x - y = -3``) are left to math-verify, which compares rearranged equations."""
    from sympy import Add, Eq

    g, p = gold_parsed[0], pred[0]
    if not (isinstance(g, Eq) and isinstance(p, Eq)):
        return False
    if isinstance(g.lhs, Add) or isinstance(p.lhs, Add):
        return False
    # Single terms are compared structurally (SymPy's ==): proving tan x != cot x with
    # math-verify's simplify takes seconds, and a single-term left side is a name, not a value.
    return g.lhs != p.lhs and not (g.lhs == p.rhs and g.rhs == p.lhs)


def working_line(gold_parsed: list, pred: list) -> bool:
    """In an unmarked response, ``19x - 4x + 1 - 81 = 15x - 80`` is a step of the working: its
    right side is not stated as the answer (the published Qwen2.5-Math labels agree)."""
    from sympy import Add, Eq

    g, p = gold_parsed[0], pred[0]
    return isinstance(p, Eq) and not isinstance(g, Eq) and isinstance(p.lhs, Add)


def inequality_as_set(gold_parsed: list, pred: list):
    """The set an answer's inequality describes (``x > 3`` -> (3, oo), ``1 \\le x < 2`` -> [1, 2),
    ``x \\le -2`` or ``x \\ge 3`` -> a union) when the gold is an interval set, else None.

    math-verify compares a relation with an interval as different objects, so ``x > 3`` was wrong
    for ``(3, \\infty)``; a grader reading the answer counts the same set. Only a gold that cannot
    be an ordered pair is a set here: a union, or an interval with an infinite end or a square
    bracket (``(1, 2)`` may be the point, and ``1 < x < 2`` is no point), also written
    ``x \\in [a, b]``. The answer must be inequalities (no equation) in solved form: one letter
    that stands for no constant, alone against a number on each (``x^2 > 4`` is not converted).
    """
    from sympy import And, FiniteSet, Interval, Or, Union, oo
    from sympy.core.relational import Equality, Relational, Unequality

    g, p = gold_parsed[0], pred[0]
    if isinstance(g, Equality) and isinstance(g.rhs, (Interval, Union)) and g.lhs.is_Symbol:
        g = g.rhs  # "x \in [-2, 7]" (math-verify: Eq(x, Interval(-2, 7))) is the interval
    if isinstance(g, Interval):
        if not (not bool(g.left_open) or not bool(g.right_open) or g.start == -oo or g.end == oo):  # SymPy booleans
            return None
    elif not isinstance(g, Union) or not all(isinstance(a, Interval) for a in g.args):
        return None
    parts = list(p.args) if isinstance(p, FiniteSet) else [p]  # "x <= -2 or x >= 3" parses as {x <= -2, x >= 3}

    def relations(e):
        if isinstance(e, (And, Or)):
            return [r for a in e.args for r in relations(a)]
        return [e]

    rels = [r for part in parts for r in relations(part)]
    if not rels or not all(isinstance(r, Relational) and not isinstance(r, (Equality, Unequality)) for r in rels):
        return None
    symbols = set().union(*(r.free_symbols for r in rels))
    if len(symbols) != 1 or str(next(iter(symbols))) in CONSTANT_LETTERS:
        return None
    # solved form only: the letter alone on one side, a number on the other ("x > 3", "3 < x").
    # "x^2 > 4" or "e^x > 1" describe the gold's set too, but they are what the question asked to
    # solve: paying them would pay a restatement wherever no question is passed to the guard.
    if not all((r.lhs.is_Symbol and r.rhs.is_number) or (r.rhs.is_Symbol and r.lhs.is_number) for r in rels):
        return None
    try:
        sets = [part.as_set() for part in parts]
    except (NotImplementedError, TypeError, ValueError, ArithmeticError, RecursionError):
        return None
    return sets[0] if len(sets) == 1 else Union(*sets)
