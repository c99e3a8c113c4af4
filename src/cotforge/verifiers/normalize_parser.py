"""Tokeniser and recursive-descent parser of the structural fast path: LaTeX text to the exact
scalars of :mod:`cotforge.verifiers.normalize_algebra`, lists split at top-level commas, ``\\pm``
expanded. Anything outside the grammar raises ``_Unsupported``."""

from __future__ import annotations

from fractions import Fraction

from cotforge.verifiers.normalize_algebra import (  # noqa: F401 - the parser's vocabulary
    _EXCLUDED_LETTERS, _GREEK, _SAMPLES, _TOKEN_RE, _Unsupported, _Val, _add, _const, _inverse, _mk, _mul, _pow, _sqrt, _symbol,
)

class _Parser:
    """Recursive descent over a token list for one scalar expression (see the grammar below)."""

    # expr := ['+'|'-'] term (('+'|'-') term)*
    # term := power (('*'|'/')? power)*            -- juxtaposition multiplies, except number-number
    # power := atom ['^' group]
    # atom := number [\frac (mixed number)] | letter [_sub] | \pi | greek | \frac A B | \sqrt[n] A
    #       | '(' expr ')' | '{' expr '}'

    def __init__(self, tokens: list[tuple[str, str]]):
        self.toks = tokens
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.take()[1] != text:
            raise _Unsupported(f"expected {text}")

    def parse_all(self) -> _Val:
        v = self.expr()
        if self.peek()[0] != "end":
            raise _Unsupported(f"trailing {self.peek()[1]!r}")
        return v

    def expr(self) -> _Val:
        sign = 1
        if self.peek()[1] in "+-" and self.peek()[0] == "op":
            sign = -1 if self.take()[1] == "-" else 1
        v = self.term()
        if sign < 0:
            v = _mul(_const(Fraction(-1)), v)
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            v = _add(v, self.term(), 1 if op == "+" else -1)
        return v

    def _starts_atom(self) -> bool:
        kind, text = self.peek()
        return kind in ("num", "letter") or text in ("(", "{") or (kind == "cmd" and (text in ("\\frac", "\\sqrt", "\\pi") or text[1:] in _GREEK))

    def term(self) -> _Val:
        v = self.power()
        last_num = self.toks[self.i - 1][0] == "num"
        while True:
            kind, text = self.peek()
            if kind == "op" and text in ("*", "/"):
                self.take()
                rhs = self.power()
                v = _mul(v, rhs if text == "*" else _inverse(rhs))
            elif self._starts_atom():
                if last_num and kind == "num":
                    raise _Unsupported("two numbers side by side")
                v = _mul(v, self.power())
            else:
                return v
            last_num = self.toks[self.i - 1][0] == "num"

    def power(self) -> _Val:
        v = self.atom()
        if self.peek()[1] == "^":
            self.take()
            v = _pow(v, self.group())
        if self.peek()[1] in ("^", "_", "'"):
            raise _Unsupported("nested script")
        return v

    def group(self) -> _Val:
        """A braced group or one token (one digit or letter), as TeX reads macro arguments."""
        kind, text = self.peek()
        if text == "{":
            self.take()
            v = self.expr()
            self.expect("}")
            return v
        if kind == "num" and len(text) == 1:
            self.take()
            return _const(Fraction(int(text)))
        if kind == "letter" or (kind == "cmd" and (text == "\\pi" or text[1:] in _GREEK)):
            return self.atom()
        raise _Unsupported("unbraced argument")

    def atom(self) -> _Val:
        kind, text = self.take()
        if kind == "num":
            value = _const(Fraction(text), decimal="." in text)
            if "." not in text and self.peek()[1] == "\\frac":  # 1\frac{4}{5} is 9/5 to math-verify
                frac = self.atom()
                if frac.poly is None or set(frac.poly) != {(1, ())} or frac.poly[(1, ())] < 0:
                    raise _Unsupported("mixed number with a non-numeric fraction")
                return _add(value, frac)
            return value
        if kind == "letter":
            if text in _EXCLUDED_LETTERS:
                raise _Unsupported("e or I")
            if text == "i" and self.peek()[1] not in ("_", "("):
                return _mk({(1, (("i", 1),)): Fraction(1)}, [1j] * _SAMPLES, 1.0, False)
            name = text
            if self.peek()[1] == "_":
                self.take()
                sub_kind, sub = self.take()
                if sub == "{":
                    parts = []
                    while self.peek()[0] in ("num", "letter"):
                        parts.append(self.take()[1])
                    self.expect("}")
                    sub = "".join(parts)
                elif sub_kind not in ("num", "letter") or len(sub) != 1:
                    raise _Unsupported("subscript")
                if not sub:
                    raise _Unsupported("empty subscript")
                name = f"{text}_{sub}"
            if self.peek()[1] == "(":
                raise _Unsupported("f(x): a function or a product")
            return _symbol(name)
        if kind == "cmd":
            if text == "\\pi":
                return _symbol("pi")
            if text[1:] in _GREEK:
                if self.peek()[1] == "(":
                    raise _Unsupported("function of a greek letter")
                return _symbol(text[1:])
            if text == "\\frac":
                if self.peek()[0] == "num" and len(self.peek()[1]) == 2 and self.peek()[1].isdigit():
                    digits = self.take()[1]  # \frac12
                    return _mul(_const(Fraction(int(digits[0]))), _inverse(_const(Fraction(int(digits[1])))))
                num = self.group()
                den = self.group()
                return _mul(num, _inverse(den))
            if text == "\\sqrt":
                n = 2
                if self.peek()[1] == "[":
                    self.take()
                    k, t = self.take()
                    if k != "num" or not t.isdigit() or not 2 <= int(t) <= 16:
                        raise _Unsupported("root index")
                    n = int(t)
                    self.expect("]")
                return _sqrt(self.group(), n)
            raise _Unsupported(f"command {text}")
        if text == "(":
            v = self.expr()
            self.expect(")")
            return v
        if text == "{":
            v = self.expr()
            self.expect("}")
            return v
        raise _Unsupported(f"token {text!r}")


def _tokenize(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    kinds = ("num", "rowsep", "brace", "cmd", "letter", "op")
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            raise _Unsupported(f"character {s[pos]!r}")
        pos = m.end()
        if m.lastindex is None:
            continue  # whitespace
        out.append((kinds[m.lastindex - 1], m.group(m.lastindex)))
    return out


def _scalar(tokens: list) -> _Val:
    if not tokens:
        raise _Unsupported("empty")
    return _Parser(tokens).parse_all()


def _split_top(tokens: list, sep: str) -> list[list]:
    """Split at ``sep`` tokens outside any bracket."""
    parts, cur, depth = [], [], 0
    for tok in tokens:
        t = tok[1]
        if t in ("(", "[", "{", "\\{"):
            depth += 1
        elif t in (")", "]", "}", "\\}"):
            depth -= 1
        if depth == 0 and t == sep and tok[0] in ("op", "rowsep", "cmd"):
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    parts.append(cur)
    return parts


def _closing(tokens: list, start: int) -> int:
    """Index of the bracket closing the one at ``start`` (any of ( [ { \\{ closes any of ) ] } \\})."""
    depth = 0
    for j in range(start, len(tokens)):
        t = tokens[j][1]
        if t in ("(", "[", "{", "\\{"):
            depth += 1
        elif t in (")", "]", "}", "\\}"):
            depth -= 1
            if depth == 0:
                return j
    return -1


def _elements(tokens: list) -> list[_Val]:
    """One element of a list; ``a \\pm b`` is two."""
    parts = _split_top(tokens, "\\pm")
    if len(parts) == 1:
        if any(t[1] in ("\\pm", "\\mp") for t in tokens):
            raise _Unsupported("nested \\pm")
        return [_scalar(tokens)]
    if len(parts) != 2:
        raise _Unsupported("several \\pm")
    left, right = parts
    depth = 0
    for t in right:  # a \pm b + c is ambiguous
        depth += (t[1] in ("(", "[", "{")) - (t[1] in (")", "]", "}"))
        if depth == 0 and t[1] in ("+", "-", "\\mp"):
            raise _Unsupported("sum after \\pm")
    r = _scalar(right)
    if not left:
        return [r, _mul(_const(Fraction(-1)), r)]
    lv = _scalar(left)
    return [_add(lv, r), _add(lv, r, -1)]


_INF = "inf"


def _endpoint(tokens: list) -> _Val | str:
    texts = [t[1] for t in tokens]
    if texts in (["\\infty"], ["+", "\\infty"]):
        return _INF
    if texts == ["-", "\\infty"]:
        return "-" + _INF
    v = _scalar(tokens)
    if v.poly is None or v.variables or v.imaginary:
        raise _Unsupported("interval endpoint is not a real exact number")
    return v
