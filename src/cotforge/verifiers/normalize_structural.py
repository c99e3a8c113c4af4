"""Structural comparison of two normalised answers without SymPy: scalars, sets, tuples,
intervals, matrices, ``\\text{}`` words and ``x = ...`` equations, compared the way math-verify 0.9
compares what it would build (see :mod:`cotforge.verifiers.normalize_algebra` for the algebra).
``structural_compare`` returns ``True``/``False`` when certain, ``None`` to defer."""

from __future__ import annotations

import re

from cotforge.verifiers.normalize_algebra import (  # noqa: F401
    _EXCLUDED_LETTERS, _BASE_NUMBER_RE, _CONSTANT_WORDS, _DIGIT_SPACE_DIGIT_RE, _FLOAT_ABS_GAP, _GREEK, _RELATION_RE, _TEXT_WORD_RE, _TOL,
    _UNICODE_RE, _WORD_RE, _Unsupported, _Val,
)
from cotforge.verifiers.normalize_latex import _INT_RE
from cotforge.verifiers.normalize_parser import _INF, _closing, _elements, _endpoint, _scalar, _split_top, _tokenize

__all__ = ["structural_compare"]


def _structure(text: str):
    """Parse a normalised answer into ``(kind, payload)``; raises :class:`_Unsupported`."""
    if _UNICODE_RE.search(text) or "%" in text or _DIGIT_SPACE_DIGIT_RE.search(text):
        raise _Unsupported("unicode, percent or spaced digits")
    m = _TEXT_WORD_RE.match(text)
    if m:
        word = m.group(1).replace(" ", "").lower()
        if word in _CONSTANT_WORDS:
            raise _Unsupported("a constant's name")
        return "text", word
    if re.fullmatch(r"[A-HJ-Z]", text):
        return "text", text.lower()  # a bare option letter (math-verify lower-cases it too)
    if "\\begin" in text:
        m = re.fullmatch(r"\\begin\{([pb]matrix)\}(.*)\\end\{\1\}", text, re.S)
        if not m:
            raise _Unsupported("environment")
        rows = [r for r in _split_top(_tokenize(m.group(2)), "\\\\")]
        if rows and not rows[-1]:
            rows.pop()
        cells = [[_scalar(c) for c in _split_top(r, "&")] for r in rows]
        if not cells or len({len(r) for r in cells}) != 1:
            raise _Unsupported("ragged matrix")
        return "matrix", cells
    if _CUP_RE.search(text):
        parts = _CUP_RE.split(text)
        kinds = [_structure(part.strip()) for part in parts]
        if any(kind != "interval" for kind, _ in kinds):
            raise _Unsupported("a union of something other than intervals")
        return "union", [iv for _, iv in kinds]
    if _WORD_RE.search(re.sub(r"\\[A-Za-z]+", " ", text)) or _RELATION_RE.search(text):
        raise _Unsupported("words or a relation")
    tokens = _tokenize(text)
    if not tokens:
        raise _Unsupported("empty")
    first, last = tokens[0][1], tokens[-1][1]
    if first == "\\{" and _closing(tokens, 0) == len(tokens) - 1:
        items = _split_top(tokens[1:-1], ",")
        return "set", [v for part in items for v in _elements(part)]
    if first in ("(", "[") and last in (")", "]") and _closing(tokens, 0) == len(tokens) - 1:
        items = _split_top(tokens[1:-1], ",")
        if len(items) == 1:
            if first == "(" and last == ")":
                return "set", _elements(items[0])
            raise _Unsupported("[x]")
        if len(items) == 2:
            lo, hi = _endpoint(items[0]), _endpoint(items[1])
            if lo == _INF or hi == "-" + _INF:
                raise _Unsupported("reversed infinite interval")
            if isinstance(lo, _Val) and isinstance(hi, _Val) and not hi.samples[0].real - lo.samples[0].real > 1e-9 * max(1.0, lo.mag, hi.mag):
                # (15, -29), [5, 2], (3, 3): no interval, math-verify builds the tuple; kept apart
                # from (a, b, c) tuples since a bracket pair of another shape may convert otherwise
                return "pair" + first + last, [lo, hi]
            if (lo == "-" + _INF and first == "[") or (hi == _INF and last == "]"):
                raise _Unsupported("closed at infinity")
            return "interval", (first == "(", lo, hi, last == ")")
        if first == "(" and last == ")":
            return "tuple", [_scalar(part) for part in items]
        raise _Unsupported("bracketed list")
    items = _split_top(tokens, ",")
    if any(not part for part in items):
        raise _Unsupported("empty list item")
    if len(items) == 2 and all(len(p) == 1 and p[0][0] == "num" for p in items) and re.fullmatch(r"\d+,\d+", text.strip()):
        raise _Unsupported("decimal comma or a two-number list")
    values = [v for part in items for v in _elements(part)]
    if len(items) > 1 or len(values) > 1:
        for a, b in zip(items, items[1:]):  # "1,000, 2": thousands separators or a list?
            if len(b) == 1 and b[0][0] == "num" and len(b[0][1]) == 3 and a and a[-1][0] == "num":
                raise _Unsupported("thousands separator or list")
        return "set", values
    return "scalar", values[0]


def _scale(*vals: _Val) -> float:
    return max([1.0] + [v.mag for v in vals])


def _differ(a: _Val, b: _Val) -> bool:
    """Whether the sampled values prove ``a != b`` (far apart at some sample point)."""
    gap = max(abs(x - y) for x, y in zip(a.samples, b.samples))
    if (a.decimal or b.decimal) and gap <= _FLOAT_ABS_GAP:
        return False
    return gap > _TOL * _scale(a, b)


def _lone_symbol(v: _Val) -> bool:
    if v.poly is None or len(v.poly) != 1:
        return False
    ((r, mono), c), = v.poly.items()
    return r == 1 and c == 1 and len(mono) == 1 and mono[0][1] == 1 and mono[0][0] not in ("pi", "i")


def _scalar_compare(g: _Val, a: _Val) -> bool | None:
    if g.poly is not None and a.poly is not None and g.poly == a.poly:
        # math-verify compares a lone symbol by its printed form (x vs x(x+1) - x^2 is "different")
        # and may read i as a symbol on one side only: equal forms are left to it then
        if _lone_symbol(g) or _lone_symbol(a) or g.imaginary or a.imaginary:
            return None
        return True
    return False if _differ(g, a) else None


def _set_compare(gs: list[_Val], As: list[_Val]) -> bool | None:
    vals = gs + As
    if any(v.poly is None for v in vals):
        return None

    def key(v: _Val) -> frozenset:
        return frozenset(v.poly.items())

    gk, ak = {key(v): v for v in gs}, {key(v): v for v in As}
    if gk.keys() == ak.keys():
        # math-verify orders set elements numerically before comparing them pairwise: with
        # symbols, i or floats its order and its pairing are not ours, so only differences settle
        return None if any(v.variables or v.imaginary or v.decimal for v in vals) else True
    # Different sets: whatever order math-verify pairs them in, some element that has no equal on
    # the other side meets one it certainly differs from.
    only = [v for k, v in gk.items() if k not in ak] + [v for k, v in ak.items() if k not in gk]
    others = list(gk.values()) + list(ak.values())
    if all(all(_differ(u, w) for w in others if key(w) != key(u)) for u in only):
        return False
    return None


def _elementwise(pairs: list[tuple[_Val, _Val]]) -> bool | None:
    results = [_scalar_compare(g, a) for g, a in pairs]
    if any(r is False for r in results):
        return False
    return True if all(results) else None


def _flatten(kind: str, payload) -> list:
    """The scalars of a parsed structure (interval and union endpoints that are numbers)."""
    if kind == "scalar":
        return [payload]
    if kind == "matrix":
        return [v for row in payload for v in row]
    if kind == "interval":
        return [e for e in payload[1:3] if isinstance(e, _Val)]
    if kind == "union":
        return [e for iv in payload for e in iv[1:3] if isinstance(e, _Val)]
    return list(payload)  # set, tuple, pair


def _interval_compare(g: tuple, a: tuple) -> bool | None:
    (glo_open, glo, ghi, ghi_open), (alo_open, alo, ahi, ahi_open) = g, a
    ends = [_endpoint_compare(glo, alo), _endpoint_compare(ghi, ahi)]
    if (glo_open, ghi_open) != (alo_open, ahi_open) or False in ends:
        return False
    return True if all(ends) else None


def _endpoint_compare(g, a) -> bool | None:
    if isinstance(g, str) or isinstance(a, str):
        return g == a if isinstance(g, str) and isinstance(a, str) else False
    return _scalar_compare(g, a)


def structural_compare(gold: str, answer: str) -> bool | None:
    """Compare two normalised answers through the exact algebra; ``None`` when not certain."""
    try:
        return _structural_compare(gold, answer)
    except (_Unsupported, ArithmeticError, ValueError, OverflowError, RecursionError):
        return None


_CUP_RE = re.compile(r"\\cup(?![A-Za-z])")
_IN_RE = re.compile(r"\\in(?![A-Za-z])")
_SIMPLE_LHS_RE = re.compile(r"(?:[A-Za-z]|\\(?:%s)(?![A-Za-z])|_\{?\w+\}?|\s)+" % "|".join(sorted(_GREEK)))


def _split_equation(text: str) -> tuple[str, str, bool] | None:
    """``(lhs, rhs, simple)`` of ``lhs = rhs`` (exactly one '='); ``None`` without '='.

    ``simple``: the left side is a name (``x``, ``QM``, ``\\alpha``, ``a_1``), which math-verify
    surely parses; another left side might not parse, so only a difference may be settled."""
    if "=" not in text:
        m = _IN_RE.search(text)
        if m is None or _IN_RE.search(text, m.end()):
            return None
        # "x \in [-2, 7]": math-verify builds Eq(x, Interval(-2, 7)), an equation like "x = ..."
        lhs, rhs = text[: m.start()], text[m.end():]
        if not lhs.strip() or not _SIMPLE_LHS_RE.fullmatch(lhs.strip()):
            raise _Unsupported("membership of something other than a name")
        return lhs, rhs, True
    lhs, _, rhs = text.partition("=")
    if "=" in rhs or not lhs.strip() or "\\pm" in lhs or "," in lhs:
        raise _Unsupported("chained equations or an empty side")
    return lhs, rhs, _SIMPLE_LHS_RE.fullmatch(lhs.strip()) is not None


def _structural_compare(gold: str, answer: str) -> bool | None:
    geq, aeq = _split_equation(gold), _split_equation(answer)
    if geq and aeq:
        return _equations_compare(geq, aeq)
    if geq:
        if not geq[2]:
            return None  # 2x + z = 1 against 1: math-verify keeps the gold's equation
        gold = geq[1]  # x = 5 against 5: math-verify compares the right-hand side
    if aeq:
        answer = aeq[1]  # math-verify takes the last right-hand side of the answer
        same = _structural_compare_values(gold, answer)
        return None if (same and not aeq[2]) else same
    return _structural_compare_values(gold, answer)


def _equations_compare(geq: tuple[str, str, bool], aeq: tuple[str, str, bool]) -> bool | None:
    """Two equations ``name = rhs`` with the same name on the left (``y = -2x`` and ``y = -2x``).

    math-verify first compares ``lhs - rhs`` of the two: equal right-hand sides make them equal.
    When the name is absent from both right-hand sides it has coefficient 1 in both equations,
    so they are equivalent (for its solve-and-compare too) exactly when the right-hand sides are
    the same function: right-hand sides that certainly differ make different equations. Other
    pairs (``2x - y = -3``, a name also on the right) are left to math-verify."""
    (gl, gr, g_simple), (al, ar, a_simple) = geq, aeq
    if not (g_simple and a_simple):
        return None
    gname, aname = _tokenize(gl), _tokenize(al)
    if gname != aname or len(gname) != 1 or gname[0][0] != "letter" or gname[0][1] in _EXCLUDED_LETTERS or gname[0][1] == "i":
        return None
    name = gname[0]
    if name in _tokenize(gr) or name in _tokenize(ar):
        return None
    kg, g = _structure(gr.strip())
    ka, a = _structure(ar.strip())
    if kg == ka == "scalar":
        return _scalar_compare(g, a)
    return None


def _structural_compare_values(gold: str, answer: str) -> bool | None:
    bg, ba = _BASE_NUMBER_RE.match(gold), _BASE_NUMBER_RE.match(answer)
    if bg or ba:  # 4210_{5}: math-verify reads the digits and drops the base
        if bg and ba and bg.group(2) == ba.group(2):
            return bg.group(1) == ba.group(1) or (False if int(bg.group(1)) != int(ba.group(1)) else None)
        other = ba if bg else bg
        number = (bg or ba).group(1)
        plain = answer if bg else gold
        if other is None and _INT_RE.match(plain):
            return False if int(plain) != int(number) else None
        return None
    kg, g = _structure(gold)
    ka, a = _structure(answer)
    if kg == "text" or ka == "text":
        if kg == ka:
            return g == a
        # a word against numbers: math-verify compares a symbol with a number by its printed form,
        # and a one-symbol set with a set of numbers by its elements
        kind, other = (ka, a) if kg == "text" else (kg, g)
        flat = _flatten(kind, other)
        if all(v.poly is not None and not v.variables for v in flat):
            return False
        return None
    if kg == ka == "scalar":
        return _scalar_compare(g, a)
    if kg in ("scalar", "set") and ka in ("scalar", "set"):
        return _set_compare([g] if kg == "scalar" else g, [a] if ka == "scalar" else a)
    if kg == ka == "tuple":
        if len(g) != len(a):
            return False
        return _elementwise(list(zip(g, a)))
    if kg == ka == "interval":
        return _interval_compare(g, a)
    if kg == ka and kg.startswith("pair"):
        return _elementwise(list(zip(g, a)))  # two tuples: element by element
    if kg == ka == "union":
        # The same intervals in the same order are the same union; anything else may merge or
        # reorder in SymPy's canonical form, so only equality is settled.
        if len(g) == len(a) and all(_interval_compare(x, y) is True for x, y in zip(g, a)):
            return True
        return None
    if {kg, ka} == {"interval", "scalar"}:
        return False  # an interval is never one number
    if kg == ka == "matrix":
        if len(g) != len(a) or len(g[0]) != len(a[0]):
            return None
        return _elementwise([(x, y) for rg, ra in zip(g, a) for x, y in zip(rg, ra)])
    return None
