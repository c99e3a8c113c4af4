"""Reward hacks (issue 7 section 3): nothing a completion can do pays more than a wrong answer,
and None is only for items that cannot be graded. One row per hack (principle 9)."""

import math

import pytest

from cotforge.verifiers import rewards as R
from cotforge.verifiers.base import Status, Verdict, setup_error

KK_GOLD = "(1) Amelia is a knight\n(2) Penelope is a knight\n(3) Evelyn is a knave"
KK_RIGHT = "(1) Amelia is a knight\n(2) Penelope is a knight\n(3) Evelyn is a knave"


def tagged(answer, think="r"):
    return f"<think>{think}</think><answer>{answer}</answer>"


# --------------------------------------------------------------------------------------------
# Answers that break the checker


class _Raises:
    """A verifier whose grading of one answer fails (what an OverflowError in SymPy looks like)."""

    name, version, isolated = "raises", "1", True

    def verify(self, gold, response, **kw):
        if "tower" in response:
            return Verdict(Status.ERROR, 0.0, None, "verifier raised OverflowError: int too large")
        if "setup" in response:
            return setup_error("verifier could not be loaded in the worker")
        return Verdict(Status.CORRECT if response == gold else Status.INCORRECT, 1.0 if response == gold else 0.0)


def test_an_answer_that_breaks_the_checker_scores_as_wrong_in_every_adapter():
    comps, golds, ids = ["tower", "wrong", "g"], ["g"] * 3, [[1] * 10] * 3
    v = _Raises()
    assert R.correctness_reward_func(v, incorrect=-1.0)(completions=comps, answer=golds) == [-1.0, -1.0, 1.0]
    cos = R.cosine_reward_func(v, max_completion_length=100)(completions=comps, completion_ids=ids, answer=golds)
    assert cos[0] == cos[1] < cos[2]
    assert R.correctness_reward_func(v, use_verdict_score=True)(completions=comps, answer=golds)[0] == 0.0


def test_a_setup_failure_is_none_not_wrong():
    v = _Raises()
    assert R.correctness_reward_func(v)(completions=["setup"], answer=["g"]) == [None]
    assert R.cosine_reward_func(v, max_completion_length=100)(completions=["setup"], completion_ids=[[1]], answer=["g"]) == [None]


TOWER = r"\boxed{2^{2^{2^{2^{2^{2}}}}}}"


@pytest.mark.parametrize("tower", [TOWER, r"\boxed{9^{9^{9^{9}}}}", r"\boxed{10^{10^{10^{10^{10}}}}}", r"\boxed{((((((((((1))))))))))!!!!!!}"])
def test_power_towers_never_beat_a_wrong_answer_with_the_real_math_verifier(tower):
    f = R.correctness_reward_func("math")
    wrong, hack = f(completions=[r"\boxed{3}", tower], answer=["5", "5"])
    assert wrong == 0.0 and hack is not None and hack <= wrong
    cos = R.cosine_reward_func("math", max_completion_length=200)
    c_wrong, c_hack = cos(completions=[r"\boxed{3}", tower], completion_ids=[[1] * 20] * 2, answer=["5", "5"])
    assert c_hack is not None and c_hack <= c_wrong
    warm = R.warmup_reward("math", "5", f"r</think><answer>{tower}</answer>")
    assert warm is not None and warm <= -0.5


# --------------------------------------------------------------------------------------------
# No last-number fallback in rewards


@pytest.mark.parametrize(
    "completion",
    [
        "We check the cases, which we know is 0",
        "The sum of the digits is 0 after all",
        "<think>the answer is 0</think> hmm, something like 0",
    ],
)
def test_rewards_do_not_grade_an_unmarked_response_by_its_last_number(completion):
    assert R.correctness_reward_func("math")(completions=[completion], answer=["0"]) == [0.0]
    # the verifier's own default still has the fallback (evals say which they use)
    loose = R.correctness_reward_func("math", verifier_options={"fallback": True})(completions=["so it is 0"], answer=["0"])
    assert loose == [1.0]


def test_marked_answers_still_pay():
    f = R.correctness_reward_func("math")
    assert f(completions=[r"so $\boxed{\frac{1}{2}}$", "The answer is 0.5."], answer=["0.5", "1/2"]) == [1.0, 1.0]


# --------------------------------------------------------------------------------------------
# A combined reward is None for the whole row when the gold cannot be graded


def test_combined_reward_gates_the_format_term_on_an_unparsable_gold():
    fmt = R.format_reward_func("logic_rl")
    acc = R.correctness_reward_func("kk", incorrect=-1.0)
    both = R.combined_reward_func([fmt, (acc, 2.0)])
    assert both.__name__ == "logic_rl_format+kk_correctness"
    comps = [tagged(KK_RIGHT), tagged(KK_RIGHT), "no tags " + KK_RIGHT]
    out = both(prompts=["p"] * 3, completions=comps, answer=[KK_GOLD, "unreadable gold", KK_GOLD])
    assert out == [1.0 + 2.0, None, -1.0 + 2.0]
    # the separate functions would still pay the format term on the broken row (TRL nansums them)
    assert fmt(prompts=["p"], completions=[comps[1]]) == [1.0]
    with pytest.raises(ValueError):
        R.combined_reward_func([])


def test_trl_excludes_a_row_on_which_every_function_returns_none():
    """The combined reward relies on TRL 1.16 treating an all-None row as unscorable (no advantage)."""
    trl = pytest.importorskip("trl")
    import inspect

    from trl.trainer import grpo_trainer

    src = inspect.getsource(grpo_trainer)
    assert trl.__version__.startswith("1.16")
    assert "unscorable_mask = torch.isnan(rewards_per_func).all(dim=1)" in src


# --------------------------------------------------------------------------------------------
# Repetition penalty scale


def test_repetition_scales():
    block = list(range(40))
    tokens = block * 100  # 4,000 tokens, 3,960 of them repeats
    assert R.repetition_penalty(tokens) == pytest.approx(-0.05 * 3960)  # the summed form grows with length
    assert R.repetition_penalty_mean(tokens) == pytest.approx(-0.05 * 3960 / 4000)  # per-token mean stays in [-0.05, 0]
    dense = R.repetition_penalties(tokens)
    assert len(dense) == 4000 and set(dense) == {0.0, -0.05}
    mean = R.repetition_penalty_func(reduction="mean")
    assert mean.__name__ == "repetition_40gram_mean"
    assert mean(completions=["x"], completion_ids=[tokens]) == [pytest.approx(-0.0495)]
    with pytest.raises(ValueError):
        R.repetition_penalty_func(reduction="max")


@pytest.mark.parametrize(
    "text,n,expected",
    [
        ("a b c a b c", 3, (1 - 3 / 4) * -0.05),
        ("A b C a B c", 3, (1 - 3 / 4) * -0.05),  # lower-cased words
        ("one two three four", 3, 0.0),  # no repeat
        ("too short", 3, 0.0),  # fewer words than n
        ("x " * 50, 40, (1 - 1 / 11) * -0.05),  # 11 identical 40-grams
    ],
)
def test_text_repetition_rule(text, n, expected):
    assert R.text_repetition_penalty(text, ngram_size=n) == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Logic-RL: as strict as its own parser


@pytest.mark.parametrize(
    "answer,expected",
    [
        (KK_RIGHT, 3.0),
        ("Amelia is a knight, Penelope is a knight, and Evelyn is a knave.", 3.0),
        # their parser needs '<name> is a <role>'
        ("Amelia: knight\nPenelope: knight\nEvelyn: knave", -1.0),
        ("Zoey: knight\n" + KK_RIGHT, -1.0),
        ("Amelia - knight, Penelope - knight, Evelyn - knave", -1.0),
        ("Amelia and Penelope are knights, Evelyn is a knave", -1.0),
        # and exactly n role words
        (KK_RIGHT + "\nKnights always tell the truth.", -1.0),
        (KK_RIGHT + " (so no knave among the first two)", -1.0),
        ("(1) Amelia is a knight\n(2) Penelope is a knave\n(3) Evelyn is a knave", -0.5),
    ],
)
def test_logic_rl_matches_its_reference_parser(answer, expected):
    assert R.logic_rl_reward(KK_GOLD, tagged(answer)) == expected


def test_logic_rl_other_role_words_and_articles():
    gold = {"names": ["Ava", "Ben"], "solution": [True, False], "knight_knave": {"knight": "angel", "knave": "devil"}}
    assert R.logic_rl_reward(gold, tagged("Ava is an angel, Ben is a devil")) == 3.0
    assert R.logic_rl_reward(gold, tagged("Ava is a knight, Ben is a knave")) == -1.0  # not this puzzle's words
    assert R.logic_rl_reward(gold, tagged("Ava is a devil, Ben is an angel")) == -0.5


# --------------------------------------------------------------------------------------------
# <think> opened by the prompt: plain text or the chat template


R1_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _Tokenizer:
    def __init__(self, template):
        self.template = template

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        from cotforge.verifiers.rewards.think import _render_template

        return _render_template(self.template, messages)


def test_prompt_opens_think_from_text_and_templates():
    assert R.text_opens_think("User: x\nAssistant: <think>")
    assert R.text_opens_think("<think>\nOkay, let me")
    assert not R.text_opens_think("<think>a</think> now answer")
    assert not R.text_opens_think(None)
    assert R.template_opens_think(chat_template=R1_TEMPLATE)
    assert not R.template_opens_think(chat_template=PLAIN_TEMPLATE)
    assert R.template_opens_think(tokenizer=_Tokenizer(R1_TEMPLATE))


def test_conversational_prompts_use_the_chat_template():
    chat_prompt = [[{"role": "user", "content": "Who is a knight?"}]]
    comp = ["reasoning</think><answer>" + KK_RIGHT + "</answer>"]
    for kwargs in ({"chat_template": R1_TEMPLATE}, {"tokenizer": _Tokenizer(R1_TEMPLATE)}):
        assert R.format_reward_func("logic_rl", **kwargs)(prompts=chat_prompt, completions=comp) == [1.0]
        assert R.logic_rl_reward_func(**kwargs)(prompts=chat_prompt, completions=comp, answer=[KK_GOLD]) == [3.0]
        f = R.correctness_reward_func("kk", use_verdict_score=True, verifier_options={"scoring": "logic_rl"}, **kwargs)
        assert f(prompts=chat_prompt, completions=comp, answer=[KK_GOLD]) == [3.0]
    # without a template the completion lacks its <think>: format fails
    assert R.format_reward_func("logic_rl")(prompts=chat_prompt, completions=comp) == [-1.0]
    assert R.format_reward_func("logic_rl", chat_template=PLAIN_TEMPLATE)(prompts=chat_prompt, completions=comp) == [-1.0]


def test_cosine_of_a_hack_is_never_above_the_wrong_floor():
    """Sanity of the scale: the best a wrong (or checker-breaking) answer earns is rLw = 0."""
    worst_right = min(R.cosine_scaled_reward(True, t, 1000) for t in range(0, 984))
    best_wrong = max(R.cosine_scaled_reward(False, t, 1000) for t in range(0, 984))
    assert best_wrong <= 0.0 < 1.0 <= worst_right
    assert math.isclose(R.cosine_scaled_reward(False, 0, 1000), -10.0)


# --------------------------------------------------------------------------------------------
# Restating the problem is not an answer (the guard is on in rewards)


@pytest.mark.parametrize(
    "question,restated,gold,right",
    [
        (r"Compute $\dbinom{8}{4}$.", r"\boxed{\dbinom{8}{4}}", "70", r"\boxed{70}"),
        (r"Evaluate $\sqrt{3^2 + 4^2}$.", r"\boxed{\sqrt{3^2 + 4^2}}", "5", r"\boxed{5}"),
    ],
)
def test_rewards_refuse_a_restated_question(question, restated, gold, right):
    f = R.correctness_reward_func("math")
    assert f(prompts=[question, question], completions=[restated, right], answer=[gold, gold]) == [0.0, 1.0]
    chat = [[{"role": "user", "content": question}]] * 2
    assert f(prompts=chat, completions=[restated, right], answer=[gold, gold]) == [0.0, 1.0]
    g = R.correctness_reward_func("math", question="problem")
    assert g(prompts=["x", "x"], completions=[restated, right], answer=[gold, gold], problem=[question] * 2) == [0.0, 1.0]
    with pytest.raises(KeyError, match="problem"):
        g(prompts=["x"], completions=[restated], answer=[gold])
