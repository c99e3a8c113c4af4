"""Eval metrics as pure functions over per-question sample outcomes (no I/O, no verifiers).

Conventions: a question's samples are a list of booleans (correct or not) in sample order; scores
are fractions in [0, 1]. References: Chen et al. 2021 (the unbiased pass@k estimator), Miller 2024
("Adding error bars to evals": standard errors clustered by question, paired differences).

- ``avg_at_n``: the mean over questions of each question's fraction of correct samples (pass@1
  estimated with all n samples), so it does not move with n the way "best of n" does.
- ``pass_at_k``: ``1 - C(n - c, k) / C(n, k)`` per question, averaged.
- ``maj_at_k``: majority vote over the first k samples' answer groups (the caller groups answers
  by the verifier's own equivalence); ties go to the group seen first; samples without an answer
  do not vote; a question with no vote counts as wrong.
- ``clustered_stderr``: the standard error of the mean of per-question scores - the samples of one
  question are not independent, so they are one cluster.
- ``bootstrap_ci``: percentile interval of the mean over questions resampled with replacement.
- ``paired_difference``: A - B over the questions both runs answered, with its standard error
  (of the per-question differences) and a normal 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054


def question_scores(samples: Sequence[Sequence[bool]]) -> list[float]:
    """Each question's fraction of correct samples."""
    out = []
    for i, s in enumerate(samples):
        if not s:
            raise ValueError(f"question {i} has no samples")
        out.append(sum(bool(x) for x in s) / len(s))
    return out


def avg_at_n(samples: Sequence[Sequence[bool]]) -> float:
    scores = question_scores(samples)
    if not scores:
        raise ValueError("avg@n of no questions")
    return sum(scores) / len(scores)


def pass_at_k_single(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one question with ``c`` correct among ``n`` samples (Chen et al. 2021)."""
    if not 0 <= c <= n:
        raise ValueError(f"correct count {c} outside 0..{n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be in 1..n (n={n})")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i): the numerically stable form of 1 - C(n-c,k)/C(n,k)
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_at_k(samples: Sequence[Sequence[bool]], k: int) -> float:
    vals = [pass_at_k_single(len(s), sum(bool(x) for x in s), k) for s in samples]
    if not vals:
        raise ValueError("pass@k of no questions")
    return sum(vals) / len(vals)


def majority_vote(groups: Sequence[int | None], k: int) -> int | None:
    """Index of the winning sample among the first ``k``: the first sample of the largest answer
    group (``groups[j]`` is sample j's group id, None when it has no answer); ties go to the group
    that appeared first. None when no sample of the first k has an answer."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for j, g in enumerate(groups[:k]):
        if g is None:
            continue
        counts[g] = counts.get(g, 0) + 1
        first.setdefault(g, j)
    if not counts:
        return None
    best = max(counts, key=lambda g: (counts[g], -first[g]))
    return first[best]


def maj_at_k(samples: Sequence[Sequence[bool]], groups: Sequence[Sequence[int | None]], k: int) -> float:
    """maj@k: the share of questions whose majority answer over the first k samples is correct."""
    if len(samples) != len(groups):
        raise ValueError("one group list per question")
    if not samples:
        raise ValueError("maj@k of no questions")
    wins = 0
    for s, g in zip(samples, groups):
        if len(g) != len(s):
            raise ValueError("one group id per sample")
        if not 1 <= k <= len(s):
            raise ValueError(f"k={k} must be in 1..n (n={len(s)})")
        j = majority_vote(g, k)
        wins += j is not None and bool(s[j])
    return wins / len(samples)


def group_answers(answers: Sequence[str | None], equivalent: Mapping[tuple[str, str], bool] | None = None) -> list[int | None]:
    """Group ids for one question's extracted answers: equal strings share a group, and so do
    strings that ``equivalent[(a, b)]`` (a before b in first-seen order) joins; groups are the
    connected components, numbered in order of first appearance."""
    distinct: list[str] = []
    for a in answers:
        if a is not None and a not in distinct:
            distinct.append(a)
    parent = list(range(len(distinct)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if equivalent:
        for i, a in enumerate(distinct):
            for j in range(i + 1, len(distinct)):
                if equivalent.get((a, distinct[j])) or equivalent.get((distinct[j], a)):
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
    ids: dict[int, int] = {}
    index = {a: i for i, a in enumerate(distinct)}
    out: list[int | None] = []
    for a in answers:
        if a is None:
            out.append(None)
            continue
        root = find(index[a])
        out.append(ids.setdefault(root, len(ids)))
    return out


def clustered_stderr(scores: Sequence[float]) -> float:
    """Standard error of the mean of per-question scores (clustered by question)."""
    q = len(scores)
    if q < 2:
        return 0.0
    mean = sum(scores) / q
    var = sum((s - mean) ** 2 for s in scores) / (q - 1)
    return math.sqrt(var / q)


def bootstrap_ci(scores: Sequence[float], *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over questions (seeded: the same input gives the
    same interval). Resampled with numpy in blocks, so 12k questions x 1,000 resamples is fast."""
    import numpy as np

    q = len(scores)
    if q == 0:
        raise ValueError("bootstrap of no questions")
    if q == 1:
        return (float(scores[0]), float(scores[0]))
    values = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    block = max(1, 2_000_000 // q)  # resamples per block: bounded memory
    means = []
    for start in range(0, resamples, block):
        idx = rng.integers(0, q, size=(min(block, resamples - start), q))
        means.append(values[idx].mean(axis=1))
    ordered = np.sort(np.concatenate(means))
    lo_i = int(math.floor((1 - level) / 2 * (resamples - 1)))
    hi_i = int(math.ceil((1 + level) / 2 * (resamples - 1)))
    return (float(ordered[lo_i]), float(ordered[hi_i]))


@dataclass(frozen=True)
class PairedDifference:
    questions: int
    mean_a: float
    mean_b: float
    difference: float  # mean_a - mean_b
    stderr: float
    ci95: tuple[float, float]
    bootstrap_ci95: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions, "mean_a": self.mean_a, "mean_b": self.mean_b,
            "difference": self.difference, "stderr": self.stderr,
            "ci95": list(self.ci95), "bootstrap_ci95": list(self.bootstrap_ci95),
        }


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], *, seed: int = 0) -> PairedDifference:
    """A - B on the questions present in both (per-question scores keyed by question id)."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two runs share no question")
    diffs = [a[q] - b[q] for q in shared]
    d = sum(diffs) / len(diffs)
    se = clustered_stderr(diffs)
    return PairedDifference(
        len(shared), sum(a[q] for q in shared) / len(shared), sum(b[q] for q in shared) / len(shared),
        d, se, (d - Z95 * se, d + Z95 * se), bootstrap_ci(diffs, seed=seed),
    )


def rates(statuses: Sequence[str], keys: Sequence[str]) -> dict[str, float]:
    """Share of samples with each status in ``keys``."""
    n = len(statuses)
    return {k: (sum(s == k for s in statuses) / n if n else 0.0) for k in keys}
