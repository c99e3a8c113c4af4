"""Assemble one ``KK_SCHEMA`` row from a solved puzzle and its wording."""

from __future__ import annotations

import hashlib
from typing import Sequence

from cotforge.datagen.kk.cot import narrate, search_tuples
from cotforge.datagen.kk.prompts import chat_prompt
from cotforge.datagen.kk.render import Layout, join_names, render_quiz, render_statements
from cotforge.datagen.kk.solver import full_mask
from cotforge.datagen.kk.statements import format_statements


def row_id(quiz: str, statements: str, answer: str, perturbation: str | None) -> str:
    """Stable id: a hash of the content that defines the item."""
    payload = "\x1f".join([quiz, statements, answer, perturbation or ""]).encode()
    return "kk-" + hashlib.blake2b(payload, digest_size=10).hexdigest()


def build_row(
    statements: tuple,
    tables: Sequence[int],
    assignment: int,
    layout: Layout,
    *,
    index: int,
    depth: int,
    width: int,
    logic_key: str,
    perturbation: str | None = None,
    perturbed_from: str | None = None,
) -> dict:
    n = len(statements)
    names, roles = layout.names, layout.roles
    claims = render_statements(statements, names, roles)
    quiz = render_quiz(layout, claims)
    solution = [assignment >> p & 1 == 1 for p in range(n)]
    # solution_text and solution_text_format from one list of clauses (the row builder's hot path)
    said = [f"{name} is {roles.a_knight if s else roles.a_knave}" for name, s in zip(names, solution)]
    text = join_names(said) + "."
    answer = "\n".join([f"({i}) {c}" for i, c in enumerate(said, 1)])
    tape = search_tuples(statements, tables, n)
    head, steps, foot, cot = narrate(tape, names, roles, claims, f"Therefore, {text}")
    stmts = format_statements(statements)
    full = full_mask(n)
    return {
        "quiz": quiz,
        "names": list(names),
        "knight_knave": roles.words(),
        "solution": solution,
        "solution_text": text,
        "solution_text_format": answer,
        "cot_head": head,
        "cot_repeat_steps": steps,
        "cot_foot": foot,
        "statements": stmts,
        "id": row_id(quiz, stmts, answer, perturbation),
        "index": index,
        "n_people": n,
        "depth": depth,
        "width": width,
        "logic_key": logic_key,
        "n_degenerate": sum(1 for t in tables if t == 0 or t == full),
        "prompt": chat_prompt(quiz, names, roles),
        "answer": answer,
        "cot": cot,
        "perturbation": perturbation,
        "perturbed_from": perturbed_from,
    }
