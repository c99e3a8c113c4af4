"""The exact algebra of the structural fast path: scalars as canonical polynomials over square
roots, pi and variables, each with sampled complex values (see the comment below). Used by
:mod:`cotforge.verifiers.normalize_parser`; no SymPy."""

from __future__ import annotations

import cmath
import math
import re
import zlib
from dataclasses import dataclass
from fractions import Fraction

# -- structural comparison: exact algebra without SymPy ------------------------------------------
#
# What the number rules above cannot settle (radicals, pi, polynomials, tuples, intervals, sets,
# column vectors, \text answers, "x = ..." answers) is parsed here into a small exact algebra and
# compared the way math-verify 0.9 compares the SymPy objects it would build:
#
# - A scalar is a polynomial with Fraction coefficients over monomials made of one square root of a
#   square-free integer, pi and variables (integer powers; i with i^2 = -1). Square roots of distinct
#   square-free integers are linearly independent over Q(pi, variables), so two canonical forms are
#   equal exactly when the values are: "correct" here is a proof, not a tolerance.
# - Each scalar also carries its value at three fixed pseudo-random complex points (one per
#   variable) and the largest magnitude met while computing it. Operations that leave the exact
#   algebra (nested radicals, fractional powers, division by a sum) keep only these samples, which
#   can prove a difference (values far apart at some point) but never an equality.
# - Containers follow math-verify's rules: a bare list or \{...\} is a set (order and repeats do not
#   matter, a lone value is a one-element set), (a, b, c) a tuple (element-wise, same length),
#   (a, b) / [a, b) ... an interval (same brackets and endpoints; an interval is never a single
#   number), matrices element-wise. Any mix whose outcome depends on math-verify's conversions
#   between these (an open interval against a two-element list, ...) is deferred.
# - "lhs = rhs" against a bare gold compares rhs, as math-verify does; two equations are deferred.
#
# Anything outside this grammar raises _Unsupported and the pair goes to math-verify.


class _Unsupported(Exception):
    """The text is outside the fast grammar: defer to math-verify."""


_SAMPLES = 3
_TOL = 1e-9  # relative gap (to the largest magnitude seen) that proves two sampled values differ
_FLOAT_ABS_GAP = 2e-6  # with a decimal involved: math-verify rounds floats to 6 places
_MAX_TERMS = 64
# e is Euler's number to math-verify only sometimes, I is sometimes the imaginary unit. i is read
# as the imaginary unit here, but math-verify reads it as a symbol unless it stands alone ("274i"
# is 274 times a symbol i, "274 i" is 274 I), so a value with i is never settled "correct".
_EXCLUDED_LETTERS = frozenset("eEI")
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta kappa lambda mu nu xi rho "
    "sigma tau phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega".split()
)
_RELATION_RE = re.compile(r"[<>!]|\\(?:le|ge|leq|geq|ne|neq|approx|in|notin|to|sim|equiv|pmod|mod|subset|cup|cap|setminus|lt|gt)(?![A-Za-z])")
_TOKEN_RE = re.compile(r"\s+|(\d+(?:\.\d*)?|\.\d+)|(\\\\)|(\\[{}])|(\\[A-Za-z]+)|([A-Za-z])|([-+*/^_(){}\[\],&=|'])")
_DIGIT_SPACE_DIGIT_RE = re.compile(r"\d\s+\.?\d")
_WORD_RE = re.compile(r"(?<!\\)[A-Za-z]{3,}")
_TEXT_WORD_RE = re.compile(r"^\\(?:text|textbf|mathrm|textrm|mbox)\{\s*\(?\s*([A-Za-z][A-Za-z ]*?)\s*\)?\s*\}$")
_CONSTANT_WORDS = frozenset({"i", "pi", "oo", "inf", "infinity", "nan", "zoo"})
_BASE_NUMBER_RE = re.compile(r"^(\d+)_\{?(\d+)\}?$")
_UNICODE_RE = re.compile(r"[^\x00-\x7f]")


def _squarefree(n: int) -> tuple[int, int] | None:
    """``(k, r)`` with ``n = k^2 * r`` and ``r`` square-free, for ``0 < n <= 10^12``; else None."""
    if n <= 0 or n > 10**12:
        return None
    k, r, p = 1, 1, 2
    while p * p <= n and p <= 10**4:
        e = 0
        while n % p == 0:
            n //= p
            e += 1
        k *= p ** (e // 2)
        r *= p ** (e % 2)
        p += 1 if p == 2 else 2
    if n > 1:
        s = math.isqrt(n)
        if s * s == n:
            k *= s
        elif n < 10**8:  # no factor up to 10^4 below 10^8: n is prime
            r *= n
        else:
            return None
    return k, r


def _var_point(name: str, k: int) -> complex:
    """The value of variable ``name`` at sample point ``k``: fixed, pseudo-random, modulus 1."""
    h = zlib.crc32(f"{name}/{k}".encode())
    angle = 0.1 + (h & 0xFFFFFF) / 0xFFFFFF * 6.0  # away from 0 and 2 pi: no real sample point
    return complex(math.cos(angle), math.sin(angle))  # on the unit circle, so x^1994 stays finite


# A monomial key: (square-free radicand, ((name, exponent), ...) sorted). "i" has exponent 1 only.
_Key = tuple


def _mono_mul(a: _Key, b: _Key) -> tuple[Fraction, _Key]:
    (ra, va), (rb, vb) = a, b
    g = math.gcd(ra, rb)
    coeff = Fraction(g)
    exps = dict(va)
    for name, e in vb:
        exps[name] = exps.get(name, 0) + e
    ipow = exps.pop("i", 0) % 4
    if ipow >= 2:
        coeff = -coeff
        ipow -= 2
    if ipow:
        exps["i"] = 1
    return coeff, ((ra // g) * (rb // g), tuple(sorted((n, e) for n, e in exps.items() if e)))


@dataclass(frozen=True)
class _Val:
    """A scalar: exact canonical polynomial (or None when it left the algebra) and samples."""

    poly: dict | None
    samples: tuple
    mag: float
    decimal: bool = False

    @property
    def variables(self) -> bool:
        return self.poly is None or any(n not in ("i", "pi") for _, v in self.poly for n, _ in v)

    @property
    def imaginary(self) -> bool:
        return self.poly is None or any(n == "i" for _, v in self.poly for n, _ in v)


def _mk(poly: dict | None, samples, mag: float, decimal: bool) -> _Val:
    samples = tuple(samples)
    for s in samples:
        if not (math.isfinite(s.real) and math.isfinite(s.imag)):
            raise _Unsupported("non-finite value")
    if poly is not None:
        poly = {k: c for k, c in poly.items() if c}
        if len(poly) > _MAX_TERMS:
            poly = None
    mag = max([mag] + [abs(s) for s in samples])
    if mag > 1e100:
        raise _Unsupported("value too large")
    return _Val(poly, samples, mag, decimal)


def _const(value: Fraction, decimal: bool = False) -> _Val:
    return _mk({(1, ()): value}, [complex(value)] * _SAMPLES, abs(float(value)), decimal)


def _symbol(name: str) -> _Val:
    if name == "pi":
        return _mk({(1, (("pi", 1),)): Fraction(1)}, [complex(math.pi)] * _SAMPLES, math.pi, False)
    return _mk({(1, ((name, 1),)): Fraction(1)}, [_var_point(name, k) for k in range(_SAMPLES)], 1.5, False)


def _add(a: _Val, b: _Val, sign: int = 1) -> _Val:
    poly = None
    if a.poly is not None and b.poly is not None:
        poly = dict(a.poly)
        for k, c in b.poly.items():
            poly[k] = poly.get(k, 0) + sign * c
    return _mk(poly, [x + sign * y for x, y in zip(a.samples, b.samples)], max(a.mag, b.mag), a.decimal or b.decimal)


def _mul(a: _Val, b: _Val) -> _Val:
    poly = None
    if a.poly is not None and b.poly is not None and len(a.poly) * len(b.poly) <= 4 * _MAX_TERMS:
        poly = {}
        for ka, ca in a.poly.items():
            for kb, cb in b.poly.items():
                c, k = _mono_mul(ka, kb)
                poly[k] = poly.get(k, 0) + c * ca * cb
    return _mk(poly, [x * y for x, y in zip(a.samples, b.samples)], max(a.mag, b.mag), a.decimal or b.decimal)


def _inverse(a: _Val) -> _Val:
    if any(abs(s) <= 1e-12 * max(1.0, a.mag) for s in a.samples):
        raise _Unsupported("division by zero (or nearly)")
    poly = None
    if a.poly is not None and len(a.poly) == 1:  # 1 / (c sqrt(r) m) = sqrt(r) m^-1 / (c r)
        ((r, v), c), = a.poly.items()
        sign, key = _mono_mul((r, ()), (1, tuple((n, -e) for n, e in v)))
        poly = {key: sign / (c * r)}  # i^-1 = -i: _mono_mul reduces i^-1 to i^3 = -i
    return _mk(poly, [1 / s for s in a.samples], max(a.mag, max(1 / abs(s) for s in a.samples)), a.decimal)


def _pow(base: _Val, exp: _Val) -> _Val:
    if exp.poly is not None and set(exp.poly) <= {(1, ())}:
        e = exp.poly.get((1, ()), Fraction(0))
        if e.denominator == 1 and abs(e) <= 64:
            n = int(e)
            out = _const(Fraction(1))
            for _ in range(abs(n)):
                out = _mul(out, base)
            return _inverse(out) if n < 0 else out
        if e.denominator == 1 and abs(e) <= 10_000:
            n = int(e)
            if base.poly is not None and set(base.poly) <= {(1, ())}:  # a rational: exact
                q = base.poly.get((1, ()), Fraction(0))
                if q == 0 and n < 0:
                    raise _Unsupported("division by zero")
                if (q.numerator.bit_length() + q.denominator.bit_length()) * abs(n) > 20_000:
                    raise _Unsupported("power too large")
                return _const(q**n, base.decimal)
            try:  # x^{1994}: only the samples (the variables lie on the unit circle)
                samples = [x**n for x in base.samples]
            except (OverflowError, ZeroDivisionError) as exc:
                raise _Unsupported(str(exc)) from None
            return _mk(None, samples, base.mag, base.decimal)
    if exp.variables or base.variables:
        raise _Unsupported("symbolic exponent")
    try:
        samples = [b ** x for b, x in zip(base.samples, exp.samples)]
    except (OverflowError, ZeroDivisionError) as exc:
        raise _Unsupported(str(exc)) from None
    return _mk(None, samples, max(base.mag, exp.mag), base.decimal or exp.decimal)


def _sqrt(a: _Val, n: int = 2) -> _Val:
    if n == 2 and a.poly is not None and set(a.poly) <= {(1, ())}:
        q = a.poly.get((1, ()), Fraction(0))
        if q == 0:
            return _const(Fraction(0))
        neg = q < 0
        q = abs(q)
        sf = _squarefree(q.numerator * q.denominator)
        if sf is not None:
            k, r = sf
            poly = {(r, (("i", 1),) if neg else ()): Fraction(k, q.denominator)}
            value = complex(0, 1) if neg else complex(1)
            value *= k / q.denominator * math.sqrt(r)
            return _mk(poly, [value] * _SAMPLES, max(a.mag, abs(value)), a.decimal)
    if a.variables and n != 2:
        raise _Unsupported("root of a symbolic expression")
    return _mk(None, [s ** (1 / n) if n != 2 else cmath.sqrt(s) for s in a.samples], a.mag, a.decimal)
