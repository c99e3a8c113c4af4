"""Imported once by the pool's forkserver so that every (re)started worker is forked warm.

Importing SymPy and math-verify takes ~0.5 s and math-verify builds its ANTLR LaTeX parser on
first use; doing both here, before the fork, makes replacing a killed worker a matter of
milliseconds instead of a second, which is what keeps a run of pathological answers fast.
"""

from __future__ import annotations

import os

# Shapes of competition-math answers, written for this list (no benchmark's answers). ANTLR's
# Python runtime builds its prediction tables (the DFA) lazily and keeps them per process: the
# first parse of an answer shaped like these costs 0.1-0.4 s, a parse of the same shape once the
# tables hold it 10-30 ms (a rational expression in radicals: 362 ms cold, 27 ms warm). Parsing
# them here, before any worker is forked, gives every worker (and every replacement) the warm
# tables; the verdicts are the same either way (the tables only cache the parser's decisions).
# Cost: ~1.3 s of CPU once per forkserver. COTFORGE_PARSER_WARMUP=0 skips it.
WARM_UP = (
    r"\frac{3 \sqrt{2} (x + 1)}{(x - 2)^2}", r"\frac{2 \sqrt[3]{4 p q} (p^2 + q^2)}{(p + q)^4}", r"\frac{(a + b)(a - b)}{a^2 + b^2}",
    r"\frac{1}{2} \left[ \sin^2 \left( \frac{\pi}{7} \right) + \sin \left( \frac{3 \pi}{7} \right) \right]",
    r"\frac{\cos 40^\circ (2 - \sin 40^\circ)}{\sin 40^\circ}", r"2 \sin \frac{\pi k}{3} \cos \frac{2 \pi k}{3}",
    r"\tan^{-1} \frac{2}{\sqrt{5}}", r"\sqrt{30^2 + 200} + 3 \sqrt{10^2 + 50}", r"\frac{(1^2 + 1)(3^2 + 1)}{(2^2 + 1)}",
    r"4x - 3y + 2z - 7 = 0", r"y = -\frac{3}{4} x + \frac{5}{2}", r"(2, -5, 3)", r"\left( \frac{1}{3}, -7 \right)",
    r"(-\infty, -1) \cup (4, \infty)", r"[-3, 5]", r"x \in (0, 2]", r"\begin{pmatrix} 2 \\ -1 \\ 4 \end{pmatrix}",
    r"\mathbf{u} = \begin{pmatrix} 1 \\ 0 \end{pmatrix}", r"3 - 2i", r"\frac{5 + 12i}{13}", r"\frac{7}{24}", r"12 \sqrt{3}",
    r"5\pi", r"\dfrac{2}{9}", r"0 < t < 3", r"x \neq 2, 3", r"\theta \approx 12.5^\circ", r"x \approx 3.14",
    r"\text{odd}", r"6 \text{ cm}", r"35\%", r"f(x) = 2x + 1", r"a_{10} = 55", r"AB \cdot CD = 4r^2 - EF^2",
    r"\log_3 \frac{1}{9} = -2", r"\frac{\sqrt{5}-1}{2}", r"m + n", r"\binom{7}{3}", r"|p| + |q|", r"n^2 + 3n + 2",
)


def warm_up_parser(expressions=WARM_UP) -> int:
    """Run ANTLR's LaTeX parser (no SymPy conversion) over ``expressions``; how many parsed."""
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    converter, parsed = _Latex2Sympy(), 0
    for text in expressions:
        try:
            converter.create_parser(text).math()
            parsed += 1
        except Exception:  # a shape the grammar refuses still warms the tables it reached
            pass
    return parsed


try:  # math-verify is a core dependency, but a broken install must not stop the forkserver
    import logging

    import math_verify

    import cotforge.verifiers.math  # noqa: F401  (installs the log filter for disabled timeouts)

    _warm = math_verify.parse("$\\frac{1}{2}+x^2$", parsing_timeout=None)
    math_verify.verify(_warm, math_verify.parse("$x^2+0.5$", parsing_timeout=None), timeout_seconds=None)
    del _warm
    if os.environ.get("COTFORGE_PARSER_WARMUP", "1") != "0":
        warm_up_parser()
except Exception as exc:  # pragma: no cover
    logging.getLogger(__name__).debug("verifier preload incomplete: %s", exc)

for _module in ("cotforge.verifiers.choice", "cotforge.verifiers.theoremqa"):
    try:
        __import__(_module)
    except Exception:  # pragma: no cover - optional: modules may be absent in a partial install
        pass
