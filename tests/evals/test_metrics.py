"""Metric functions against hand-computed values."""

import math

import pytest

from cotforge.evals import metrics as m


def test_avg_at_n_is_mean_of_per_question_fractions():
    # (1/2 + 2/2 + 0/2) / 3
    assert m.avg_at_n([[True, False], [True, True], [False, False]]) == pytest.approx(0.5)
    # unequal sample counts: (1/3 + 1/1) / 2
    assert m.avg_at_n([[True, False, False], [True]]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "n,c,k,expected",
    [
        (4, 1, 2, 1 - 3 / 6),  # 1 - C(3,2)/C(4,2)
        (5, 2, 3, 1 - 1 / 10),  # 1 - C(3,3)/C(5,3)
        (10, 3, 1, 0.3),  # pass@1 = c/n
        (8, 0, 8, 0.0),
        (4, 3, 2, 1.0),  # n - c < k: always a correct one among k
        (16, 4, 4, 1 - (12 * 11 * 10 * 9) / (16 * 15 * 14 * 13)),
    ],
)
def test_unbiased_pass_at_k(n, c, k, expected):
    assert m.pass_at_k_single(n, c, k) == pytest.approx(expected)


def test_pass_at_k_averages_questions_and_rejects_bad_k():
    assert m.pass_at_k([[True, False, False, False], [False] * 4], 2) == pytest.approx((0.5 + 0.0) / 2)
    with pytest.raises(ValueError):
        m.pass_at_k_single(4, 1, 5)
    with pytest.raises(ValueError):
        m.pass_at_k_single(4, 5, 1)


def test_majority_vote_ties_go_to_the_group_seen_first():
    assert m.majority_vote([0, 1, 1, None], 4) == 1  # group 1 has two votes: its first sample
    assert m.majority_vote([0, 1, 1, None], 1) == 0
    assert m.majority_vote([1, 0], 2) == 0  # tie 1-1: the group that appeared first (sample 0)
    assert m.majority_vote([None, None], 2) is None


def test_maj_at_k_hand_computed():
    correct = [[True, False, False, True], [False, True, True, False]]
    groups = [[0, 1, 1, 0], [0, 1, 1, None]]
    # q1: groups 0 and 1 tie 2-2 -> group 0 (sample 0, correct); q2: group 1 wins (sample 1, correct)
    assert m.maj_at_k(correct, groups, 4) == pytest.approx(1.0)
    # k=3: q1 group 1 wins (sample 1, wrong); q2 group 1 wins (correct)
    assert m.maj_at_k(correct, groups, 3) == pytest.approx(0.5)
    # k=1 is pass@1 of the first sample
    assert m.maj_at_k(correct, groups, 1) == pytest.approx(0.5)


def test_group_answers_joins_equivalent_strings_transitively():
    answers = ["1/2", "0.5", "3", None, "0.5", "\\frac12"]
    eq = {("1/2", "0.5"): True, ("0.5", "\\frac12"): True, ("1/2", "3"): False}
    assert m.group_answers(answers, eq) == [0, 0, 1, None, 0, 0]
    assert m.group_answers(answers) == [0, 1, 2, None, 1, 3]  # strings only


def test_clustered_stderr_is_the_stderr_of_question_means():
    # mean 0.5; sample variance (0.25 + 0.25 + 0 + 0) / 3 = 1/6; se = sqrt(1/6 / 4)
    assert m.clustered_stderr([0.0, 1.0, 0.5, 0.5]) == pytest.approx(math.sqrt(1 / 24))
    assert m.clustered_stderr([0.7]) == 0.0


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    scores = [0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.25, 1.0]
    lo, hi = m.bootstrap_ci(scores, seed=3)
    assert (lo, hi) == m.bootstrap_ci(scores, seed=3)
    assert lo < sum(scores) / len(scores) < hi
    assert m.bootstrap_ci([0.4] * 5) == (0.4, 0.4)


def test_paired_difference_hand_computed():
    a = {"q1": 1.0, "q2": 0.5, "q3": 0.0}
    b = {"q1": 0.5, "q2": 0.5, "q3": 0.0, "q4": 1.0}  # q4 is not shared: left out
    d = m.paired_difference(a, b)
    assert d.questions == 3
    assert d.difference == pytest.approx(1 / 6)
    # diffs [0.5, 0, 0]: variance ((1/3)^2 + 2 (1/6)^2) / 2 = 1/12; se = sqrt(1/12 / 3) = 1/6
    assert d.stderr == pytest.approx(1 / 6)
    assert d.ci95 == pytest.approx((1 / 6 - m.Z95 / 6, 1 / 6 + m.Z95 / 6))
    with pytest.raises(ValueError):
        m.paired_difference({"x": 1.0}, {"y": 1.0})


def test_rates_count_each_status():
    r = m.rates(["correct", "no_answer", "truncated", "no_answer"], ("no_answer", "truncated", "timeout"))
    assert r == {"no_answer": 0.5, "truncated": 0.25, "timeout": 0.0}
