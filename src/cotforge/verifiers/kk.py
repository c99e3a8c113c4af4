"""Knights & Knaves answer verifier: strict extraction, per-person comparison, three score presets.

Gold answers come in every shape the public K&K data and cotforge rows use: the
``solution_text_format`` string ("(1) Henry is a knight\\n(2) Jack is a knave"), the
``solution_text`` sentence ("Henry is a knight, and Jack is a knave."), a dict with ``names`` and
``solution`` (list of bool, True = the truthful role), or a whole row (which may also carry the
role words in ``knight_knave``, as perturbed puzzles do: pioneer/laggard, saint/sinner, ...).

Where the answer is, strictly, in this order (reasoning inside ``<think>`` never counts):

1. the last ``<answer>...</answer>`` block (an unclosed final ``<answer>`` counts too: samplers
   that stop at ``</answer>`` drop the stop string);
2. else the text after the last ``CONCLUSION:`` (the public K&K chain-of-thought format);
3. else the *final complete assignment*: the last run of claims that names every person exactly
   once, joined only by list glue (numbering, bullets, commas, "and"). Reasoning before it earns
   nothing, and an unhedged later claim that contradicts it makes that person wrong.

Inside a block every unhedged claim counts, so an answer cannot hedge its bets:

- "A is a knave or A is a knight", "A is a knight/knave", two different assignments in one
  block -> the person is *ambiguous*, never correct (peers' substring scoring accepted this);
- claims in conditional, hypothetical or disjunctive clauses ("if A is a knight, ...",
  "assume ...", "either ... or ...") and inside quotation marks (a quoted statement is not an
  assertion) are ignored - but the mere word "if" elsewhere never makes a right answer wrong;
- each person must be named: "everyone is a knight" assigns nobody, so a constant guess earns
  credit only when it names every person and the gold really is constant;
- names and role words match case-insensitively, in any order and phrasing ("Henry: Knight",
  "**Henry** is a **knight**", "Henry is not a knave", "Henry and Jack are knights").

Scores (``scoring=``): ``exact`` (1/0, default); ``logic_rl`` (Logic-RL: format +1/-1, where
``<think>``, ``</think>``, ``<answer>``, ``</answer>`` each appear once and in order; answer, only
when the format holds, +2 exact / -1.5 complete but wrong / -2 unparseable, incomplete or ambiguous;
-2 when the format fails; "unparseable" also as Logic-RL's own parser reads it: every person as
``<name> is a <role>`` and exactly n role words in ``<answer>``, see :func:`logic_rl_parse`); ``warmup`` (warm-up-before-RLVR: format failure -2; an assignment line
with an unknown name or role word -1; exact +2; anything else -0.5). An assignment item is read
the same way in a one-per-line list and in a prose list ("A is a knight, B is a knave, and Dave
is a knave."); an answer that also assigns a role to someone outside the puzzle is never
``correct``, in any preset. Status is ``correct`` /
``incorrect`` / ``no_answer`` (``truncated`` when the caller says the completion was cut), and
``details`` hold the per-person comparison.
"""
from __future__ import annotations

import re
from typing import Any

from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers.kk_extract import Assignment, _answer_block, extract_assignment
from cotforge.verifiers.kk_gold import ROLE_PAIRS, KKGold, _article, _roles_option, parse_gold
from cotforge.verifiers.response import parse_response, to_text

__all__ = [
    "ROLE_PAIRS",
    "KKGold",
    "KKVerifier",
    "Assignment",
    "extract_assignment",
    "logic_rl_parse",
    "parse_gold",
]

SCORINGS = ("exact", "logic_rl", "warmup")

# --------------------------------------------------------------------------------------------
# Verifier


class KKVerifier:
    """Grades a K&K response against its solution, person by person; see the module docstring.

    ``scoring``: ``"exact"`` (1/0), ``"logic_rl"`` or ``"warmup"``. ``roles``: a (truthful, liar)
    pair overriding the gold's role words. ``prompt_opens_think``: the prompt ends with
    ``<think>`` (R1-style templates), so the completion is graded as if it began with it - only the
    ``logic_rl`` format rule counts ``<think>``. Both can also be passed per call to :meth:`verify`.
    """

    name = "kk"
    version = "1"

    def __init__(self, *, scoring: str = "exact", roles: Any = None, prompt_opens_think: bool = False):
        if scoring not in SCORINGS:
            raise ValueError(f"unknown scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
        self.scoring = scoring
        self.roles = _roles_option(roles)
        self.prompt_opens_think = bool(prompt_opens_think)

    def presettle(self, gold: Any, response: Any, **kwargs: Any) -> Verdict:
        """Grade in the caller: K&K grading is linear-time string work with no SymPy, so the
        process pool (:func:`cotforge.verifiers.pool.verify_batch`) never needs a worker for it."""
        return self.verify(gold, response, **kwargs)

    def verify(self, gold: Any, response: Any, **kwargs: Any) -> Verdict:
        try:
            return self._verify(gold, response, **kwargs)
        except Exception as exc:  # pragma: no cover - the verifier must never raise on model output
            return Verdict(Status.ERROR, 0.0, None, f"kk verifier failed: {type(exc).__name__}: {exc}")

    def _verify(
        self,
        gold: Any,
        response: Any,
        *,
        truncated: bool = False,
        roles: Any = None,
        prompt_opens_think: bool | None = None,
        **_: Any,
    ) -> Verdict:
        try:
            g = parse_gold(gold, roles if roles is not None else self.roles)
        except ValueError as exc:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, f"gold: {exc}")
        opens = self.prompt_opens_think if prompt_opens_think is None else bool(prompt_opens_think)
        scoring = self.scoring
        text = to_text(response)
        details: dict[str, Any] = {"scoring": scoring, "n_people": len(g.names)}

        if scoring in ("logic_rl", "warmup"):
            from cotforge.verifiers.rewards import format_check  # lazy: rewards imports verifiers

            full = ("<think>" + text) if (opens and text is not None and "<think>" not in text) else text
            ok, why = format_check(full or "", rule=scoring)
            details["format_ok"] = ok
            if not ok:
                score = -3.0 if scoring == "logic_rl" else -2.0
                status = Status.TRUNCATED if truncated else Status.NO_ANSWER
                return Verdict(status, score, None, f"format: {why}", details)

        parsed = parse_response(text, truncated=truncated)
        if parsed.status is not None:
            score = {"exact": 0.0, "logic_rl": -3.0, "warmup": -2.0}[scoring]
            return Verdict(parsed.status, score, None, parsed.reason, details)
        assert parsed.answer_text is not None
        a = extract_assignment(g, parsed.answer_text, tags_only=scoring != "exact")
        details["source"] = a.source
        if a.unknown:
            details["unknown"] = list(a.unknown)

        predicted: dict[str, str | None] = {}
        per_person: dict[str, bool] = {}
        for name, truth, claimed in zip(g.names, g.solution, a.claimed):
            if not claimed:
                predicted[name] = None
            elif len(claimed) > 1:
                predicted[name] = "ambiguous"
            else:
                predicted[name] = g.role_of(next(iter(claimed)))
            per_person[name] = claimed == frozenset([truth])
        n_right = sum(per_person.values())
        details.update(per_person=per_person, predicted=predicted, n_correct=n_right)
        extracted = _render(g, a) if a.any else None

        missing = [n for n, p in predicted.items() if p is None]
        ambiguous = [n for n, p in predicted.items() if p == "ambiguous"]
        if not a.any:
            status, reason = Status.NO_ANSWER, "no assignment of any person found" + (
                " in <answer>" if a.source == "answer_tag" else ""
            )
        elif n_right == len(g.names):
            status, reason = Status.CORRECT, ""
        else:
            status = Status.INCORRECT
            parts = []
            if ambiguous:
                parts.append("ambiguous role for " + ", ".join(ambiguous))
            if missing:
                parts.append("no role given for " + ", ".join(missing))
            wrong = len(g.names) - n_right - len(ambiguous) - len(missing)
            if wrong:
                parts.append(f"{wrong} of {len(g.names)} wrong")
            reason = "; ".join(parts)
        extra_people = any(u.startswith("name ") for u in a.unknown)
        if status is Status.CORRECT and (extra_people or (a.unknown and scoring != "exact")):
            # An answer that also assigns someone who is not in the puzzle is not the solution, in
            # every preset. The format-strict presets read the answer as a list, so a foreign role
            # word makes it malformed too (as in their code); ``exact`` only needs every person right.
            status = Status.INCORRECT
        if a.unknown:
            reason = "; ".join(p for p in (reason, "unknown " + ", ".join(a.unknown)) if p)

        if scoring == "logic_rl":
            strict = logic_rl_parse(g, a.text if a.source == "answer_tag" else "")
            details["logic_rl_parse"] = strict
            if strict is None:
                if status is Status.CORRECT:
                    status = Status.INCORRECT
                reason = "; ".join(p for p in (reason, _LOGIC_RL_FORM.format(n=len(g.names))) if p)
                return Verdict(status, 1.0 - 2.0, extracted, reason, details)
            if status is Status.CORRECT and strict != dict(zip(g.names, g.solution)):
                status = Status.INCORRECT
                reason = "Logic-RL's parser reads a different assignment"
            return Verdict(status, 1.0 + (2.0 if status is Status.CORRECT else -1.5), extracted, reason, details)
        score = self._score(scoring, status, unknown=bool(a.unknown))
        return Verdict(status, score, extracted, reason, details)

    @staticmethod
    def _score(scoring: str, status: Status, *, unknown: bool) -> float:
        correct = status is Status.CORRECT
        if scoring == "exact":
            return 1.0 if correct else 0.0
        # warmup (logic_rl is scored in _verify, with Logic-RL's own parser)
        if unknown:
            return -1.0
        return 2.0 if correct else -0.5


_LOGIC_RL_FORM = "Logic-RL needs '<name> is a <role>' for each person and exactly {n} role words in <answer>"


def logic_rl_parse(gold: KKGold, answer: str) -> dict[str, bool] | None:
    """Logic-RL's own answer parser (``parse_model_answer`` in its ``kk.py``), over the puzzle's
    role words instead of its hard-coded knight/knave: the answer must hold exactly as many role
    words (case-insensitive substrings, as there) as the puzzle has people, and each person's first
    ``<name> is a <role>`` gives their role; anything else is unparseable (``None``)."""
    low = answer.lower()
    if sum(low.count(r.lower()) for r in gold.roles) != len(gold.names):
        return None
    role_alt = "|".join(rf"{_article(r)}\s+\b(?P<r{k}>{re.escape(r)})\b" for k, r in enumerate(gold.roles))
    found: dict[str, bool] = {}
    for name in gold.names:
        m = re.search(rf"\b{re.escape(name)}\b\s+is\s+(?:{role_alt})", answer, re.IGNORECASE)
        if m is None:
            return None
        found[name] = m.group("r0") is not None
    return found


def _render(g: KKGold, a: Assignment) -> str:
    lines = []
    for i, (name, claimed) in enumerate(zip(g.names, a.claimed), 1):
        if not claimed:
            lines.append(f"({i}) {name}: no answer")
        elif len(claimed) > 1:
            lines.append(f"({i}) {name}: ambiguous ({'/'.join(g.roles)})")
        else:
            role = g.role_of(next(iter(claimed)))
            lines.append(f"({i}) {name} is {_article(role)} {role}")
    return "\n".join(lines)
