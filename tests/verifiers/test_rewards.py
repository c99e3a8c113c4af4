"""Rewards: hand-computed values for every shaping term and recipe preset, TRL adapter
conventions, and thread safety."""

import math
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from cotforge.verifiers.base import Status, Verdict
from cotforge.verifiers import rewards as R

KK_GOLD = "(1) Amelia is a knight\n(2) Penelope is a knight\n(3) Evelyn is a knave"
KK_RIGHT = "(1) Amelia is a knight\n(2) Penelope is a knight\n(3) Evelyn is a knave"
KK_WRONG = "(1) Amelia is a knave\n(2) Penelope is a knight\n(3) Evelyn is a knave"
ADD = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
}


# --------------------------------------------------------------------------------------------
# Format


@pytest.mark.parametrize(
    "text,logic_rl,warmup",
    [
        ("<think>a</think><answer>b</answer>", True, True),
        ("<think>a</think>\n<answer>b</answer>\n", True, True),
        ("a</think><answer>b</answer>", False, True),  # warm-up prompts open <think> themselves
        ("<think>a</think>x<answer>b</answer>", True, False),  # text between the blocks
        ("<think>a</think><answer>b</answer>x", True, False),  # text after the answer
        ("</think><answer>b</answer>", False, False),  # nothing before </think>
        ("<think>a</think><answer></answer>", True, False),  # empty answer
        ("<think>a</think><think>b</think><answer>c</answer>", False, False),
        ("<think>a</think><answer>b</answer><answer>c</answer>", False, False),
        ("<answer>b</answer><think>a</think>", False, False),
        ("<think>a<answer>b</answer></think>", False, False),
        ("no tags at all", False, False),
    ],
)
def test_format_rules(text, logic_rl, warmup):
    assert R.format_check(text, rule="logic_rl")[0] is logic_rl
    assert R.format_check(text, rule="warmup")[0] is warmup
    assert R.format_reward(text, rule="logic_rl") == (1.0 if logic_rl else -1.0)
    assert R.format_reward(text, rule="warmup") == (0.0 if warmup else -2.0)


def test_format_reason_and_options():
    ok, why = R.format_check("<think>a</think><think>b</think><answer>c</answer>")
    assert not ok and "'<think>' appears 2 times" in why
    assert R.format_reward("a</think><answer>b</answer>", rule="logic_rl", prompt_opens_think=True) == 1.0
    assert R.format_reward("x", rule="logic_rl", ok=0.5, bad=0.0) == 0.0
    with pytest.raises(ValueError):
        R.format_check("x", rule="xml")


# --------------------------------------------------------------------------------------------
# Correctness


@pytest.mark.parametrize(
    "status,expected",
    [
        (Status.CORRECT, 1.0),
        (Status.INCORRECT, -1.0),
        (Status.NO_ANSWER, -1.0),
        (Status.TRUNCATED, -1.0),
        (Status.TIMEOUT, -1.0),  # a hang must not beat a wrong answer
        (Status.UNPARSABLE_GOLD, None),
        (Status.ERROR, -1.0),  # an answer that breaks the checker is wrong, not skipped
    ],
)
def test_correctness_reward(status, expected):
    assert R.correctness_reward(Verdict(status), correct=1.0, incorrect=-1.0) == expected


def test_correctness_reward_setup_failure_is_none():
    from cotforge.verifiers.base import setup_error

    assert R.correctness_reward(setup_error("workers cannot start"), correct=1.0, incorrect=-1.0) is None


# --------------------------------------------------------------------------------------------
# Cosine length scaling (hand-computed, L_max = 100)


@pytest.mark.parametrize(
    "correct,t,expected",
    [
        (True, 0, 2.0),
        (True, 25, 1.0 + (1 + math.sqrt(0.5)) / 2),  # 1.8535...
        (True, 50, 1.5),
        (True, 83, 1.0 + (1 + math.cos(0.83 * math.pi)) / 2),
        (True, 84, -10.0),  # 84 + 16 >= 100: exceeded
        (True, 100, -10.0),
        (False, 0, -10.0),
        (False, 50, -5.0),
        (False, 75, -10.0 * (1 - math.sqrt(0.5)) / 2),  # -1.4644...
        (False, 84, -10.0),
    ],
)
def test_cosine_values(correct, t, expected):
    assert R.cosine_scaled_reward(correct, t, 100) == pytest.approx(expected, abs=1e-12)


def test_cosine_shape_and_parameters():
    L = 14336
    right = [R.cosine_scaled_reward(True, t, L) for t in range(0, L - 16, 97)]
    wrong = [R.cosine_scaled_reward(False, t, L) for t in range(0, L - 16, 97)]
    assert right == sorted(right, reverse=True)  # shorter correct answers earn more
    assert wrong == sorted(wrong)  # longer wrong answers are punished less
    assert min(right) > max(wrong)
    assert R.cosine_scaled_reward(True, 10, 100, margin=0, r0c=5, rLc=5) == 5.0
    assert R.cosine_scaled_reward(False, 95, 100, margin=5, exceed=-3) == -3.0
    assert R.cosine_scaled_reward(False, 94, 100, margin=5, exceed=-3) != -3.0
    for bad in ((True, -1, 100), (True, 1, 0), (True, 1.5, 100)):
        with pytest.raises(ValueError):
            R.cosine_scaled_reward(*bad)


# --------------------------------------------------------------------------------------------
# Repetition


def test_repetition_small_example():
    dense = R.repetition_penalties([1, 2, 3, 1, 2, 3, 1], ngram_size=3, penalty=-1.0)
    assert dense == [0, 0, 0, -1, -1, -1, -1]
    assert R.repetition_penalty([1, 2, 3, 1, 2, 3, 1], ngram_size=3, penalty=-1.0) == -4.0


def test_repetition_only_start():
    seq = [1, 2, 1, 2, 1, 2, 1, 2]
    assert R.repetition_penalties(seq, ngram_size=2, penalty=-1.0) == [0, 0, -1, -1, -1, -1, -1, -1]
    assert R.repetition_penalties(seq, ngram_size=2, penalty=-1.0, only_start=True) == [0, 0, -1, -1, 0, 0, 0, 0]


def test_repetition_defaults_40gram():
    block = list(range(40))
    dense = R.repetition_penalties(block + block)
    assert dense == [0.0] * 40 + [-0.05] * 40
    assert R.repetition_penalty(block + block) == pytest.approx(-2.0)
    assert R.repetition_penalty(block + block[:39]) == 0.0  # a 39-token echo is no 40-gram
    assert R.repetition_penalty(list(range(1000))) == 0.0
    with pytest.raises(ValueError):
        R.repetition_penalties([1], penalty=0.1)


# --------------------------------------------------------------------------------------------
# Soft overlong (DAPO)


@pytest.mark.parametrize("length,expected", [(0, 0.0), (80, 0.0), (81, -0.05), (90, -0.5), (100, -1.0), (120, -1.0)])
def test_soft_overlong(length, expected):
    assert R.soft_overlong_penalty(length, 100, 20) == pytest.approx(expected)


def test_soft_overlong_bad_settings():
    with pytest.raises(ValueError):
        R.soft_overlong_penalty(1, 100, 0)
    with pytest.raises(ValueError):
        R.soft_overlong_reward_func(max_completion_length=10, cache=20)


# --------------------------------------------------------------------------------------------
# Recipe presets


def w(answer, think="reasoning"):
    """A warm-up completion: the prompt ended with '<think>'."""
    return f"{think}</think>\n<answer>{answer}</answer>"


@pytest.mark.parametrize(
    "gold,completion,expected",
    [
        ("C", w(r"\boxed{C}"), 2.0),
        ("C", w(r"The answer is \boxed{\text{C}}"), 2.0),
        ("c", w(r"\boxed{C}"), 2.0),
        ("C", w(r"\boxed{B}"), -0.5),
        ("C", w("C"), -0.5),  # only the boxed letter counts
        ("C", w("A B C D"), -0.5),
        ("C", r"\boxed{C}", -2.0),  # format
        ("C", w(r"\boxed{C}") + w(r"\boxed{C}"), -2.0),
        ("not a letter", w(r"\boxed{C}"), None),
    ],
)
def test_warmup_mmlu_pro(gold, completion, expected):
    assert R.warmup_reward("mmlu_pro", gold, completion) == expected


@pytest.mark.parametrize(
    "completion,expected",
    [
        (w(KK_RIGHT), 2.0),
        (w(KK_WRONG), -0.5),
        (w("(1) Zoey is a knight\n" + KK_RIGHT), -1.0),
        (w("(1) Amelia is a hero\n(2) Penelope is a knight\n(3) Evelyn is a knave"), -1.0),
        (w("Amelia is a knave or Amelia is a knight"), -0.5),
        (w("Amelia is a knight, Penelope is a knight, Evelyn is a knave, and Dave is a knave."), -1.0),  # extra person
        (w("Amelia is a knight, Penelope is a knight, and Evelyn is a villain."), -1.0),  # foreign role word
        (w("Amelia is a truth-teller, Penelope is a truth-teller, Evelyn is a liar"), -1.0),
        (KK_RIGHT, -2.0),
    ],
)
def test_warmup_kk(completion, expected):
    assert R.warmup_reward("kk", KK_GOLD, completion) == expected


def test_warmup_kk_unparsable_gold_is_none():
    assert R.warmup_reward("kk", "no idea", w(KK_RIGHT)) is None


def test_warmup_humaneval():
    good = w("```python\ndef add(a, b):\n    return a + b\n```")
    bad = w("```python\ndef add(a, b):\n    return a - b\n```")
    opts = {"timeout": 5.0, "use_reference": False}
    assert R.warmup_reward("humaneval", ADD, good, code_options=opts) == 2.0
    assert R.warmup_reward("humaneval", ADD, bad, code_options=opts) == -1.0
    assert R.warmup_reward("humaneval", ADD, "```python\ndef add(a, b):\n    return a + b\n```", code_options=opts) == -2.0
    assert R.warmup_reward("humaneval", {"entry_point": "add"}, good, code_options=opts) is None


def test_warmup_math():
    pytest.importorskip("cotforge.verifiers.math", reason="the math verifier is not in the tree yet")
    assert R.warmup_reward("math", "0.5", w(r"so \boxed{\frac{1}{2}}")) == 2.0
    assert R.warmup_reward("math", "0.5", w(r"so \boxed{3}")) == -0.5
    assert R.warmup_reward("math", "0.5", w("so 1/2")) == -1.0
    assert R.warmup_reward("math", "0.5", r"\boxed{0.5}") == -2.0


BROKEN_TEST = dict(ADD, test="def check(candidate):\n    assert candidate(1, 2) == 3\n  oops\n")


@pytest.mark.parametrize(
    "domain,gold",
    [
        ("mmlu_pro", "not a letter"),
        ("mmlu_pro", None),
        ("humaneval", {"entry_point": "add"}),
        ("humaneval", BROKEN_TEST),  # the test has a syntax error
        ("humaneval", dict(ADD, test="def test(candidate):\n    pass\n")),  # no check()
        ("humaneval", dict(ADD, entry_point="plus")),  # the prompt defines no such function
        ("math", None),
        ("math", ""),
        ("math", r"\text{}"),
        ("kk", "no idea"),
    ],
)
@pytest.mark.parametrize(
    "completion",
    [w(r"\boxed{C}"), w("no box, no code"), "no format at all", w("```python\ndef add(a, b):\n    return a + b\n```")],
    ids=["boxed", "unboxed", "bad-format", "code"],
)
def test_warmup_unparsable_gold_is_none_whatever_the_completion(domain, gold, completion):
    if domain == "math":
        pytest.importorskip("cotforge.verifiers.math", reason="the math verifier is not in the tree yet")
    opts = {"timeout": 5.0, "use_reference": False}
    assert R.warmup_reward(domain, gold, completion, code_options=opts) is None


class _AlwaysUnparsable:
    """A verifier whose golds are all broken: every adapter must pay nothing (None)."""

    name, version, isolated = "broken", "1", True

    def verify(self, gold, response, **kw):
        return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, "gold is broken")


def test_every_adapter_maps_unparsable_gold_to_none():
    comps, ids, golds = ["a", "b"], [[1] * 3, [1] * 100], ["g", "g"]
    broken = _AlwaysUnparsable()
    assert R.correctness_reward_func(broken)(completions=comps, completion_ids=ids, answer=golds) == [None, None]
    assert R.correctness_reward_func(broken, use_verdict_score=True)(completions=comps, answer=golds) == [None, None]
    cos = R.cosine_reward_func(broken, max_completion_length=100)  # the second one is also overlong
    assert cos(completions=comps, completion_ids=ids, answer=golds) == [None, None]
    # and the real code verifier flags a broken HumanEval gold before running anything
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    f = R.correctness_reward_func("code", gold=lambda row: row["problem"], verifier_options={"use_reference": False})
    assert f(completions=[code, code], problem=[ADD, BROKEN_TEST]) == [1.0, None]
    g = R.cosine_reward_func("code", max_completion_length=100, gold=lambda row: row["problem"],
                             verifier_options={"use_reference": False})
    out = g(completions=[code, code], completion_ids=[[1] * 10] * 2, problem=[ADD, BROKEN_TEST])
    assert out[0] > 1.0 and out[1] is None


def test_warmup_unknown_domain():
    with pytest.raises(ValueError):
        R.warmup_reward("chess", "x", "y")


@pytest.mark.parametrize(
    "completion,opens,expected",
    [
        ("<think>r</think><answer>" + KK_RIGHT + "</answer>", False, 3.0),
        ("r</think><answer>" + KK_RIGHT + "</answer>", True, 3.0),
        ("r</think><answer>" + KK_RIGHT + "</answer>", False, -3.0),
        ("<think>r</think><answer>" + KK_WRONG + "</answer>", False, -0.5),
        ("<think>r</think><answer>Amelia is a knight</answer>", False, -1.0),
    ],
)
def test_logic_rl_reward(completion, opens, expected):
    assert R.logic_rl_reward(KK_GOLD, completion, prompt_opens_think=opens) == expected


# --------------------------------------------------------------------------------------------
# TRL adapters


def chat(text):
    return [{"role": "assistant", "content": text}]


def test_correctness_func_plain_and_conversational():
    f = R.correctness_reward_func("kk")
    assert f.__name__ == "kk_correctness"
    golds = [KK_GOLD, KK_GOLD, "unreadable gold"]
    comps = [KK_RIGHT, KK_WRONG, KK_RIGHT]
    # exactly how TRL calls it: keyword arguments, columns as lists, trainer_state a scalar object
    out = f(prompts=["p"] * 3, completions=comps, completion_ids=[[1]] * 3, answer=golds, trainer_state=object())
    assert out == [1.0, 0.0, None]
    assert f(prompts=[[{"role": "user", "content": "p"}]] * 3, completions=[chat(c) for c in comps], answer=golds) == [1.0, 0.0, None]


def test_correctness_func_gold_specs_and_errors():
    f = R.correctness_reward_func("kk", gold=("names", "solution"), name="kk_names")
    assert f.__name__ == "kk_names"
    out = f(prompts=None, completions=["A is a knight, B is a knave", "A is a knave, B is a knave"],
            names=[["A", "B"]] * 2, solution=[[True, False]] * 2)
    assert out == [1.0, 0.0]
    g = R.correctness_reward_func("kk", gold=lambda row: row["gt"]["text"])
    assert g(completions=[KK_RIGHT], gt=[{"text": KK_GOLD}]) == [1.0]
    with pytest.raises(KeyError, match="'answer'"):
        R.correctness_reward_func("kk")(completions=[KK_RIGHT], solution=[KK_GOLD])
    with pytest.raises(ValueError, match="unknown verifier"):
        R.correctness_reward_func("chess")


def test_correctness_func_truncation_and_verdict_score():
    f = R.correctness_reward_func("kk", max_completion_length=4)
    out = f(completions=[KK_RIGHT, KK_RIGHT], completion_ids=[[1, 2, 3, 4], [1, 2]], answer=[KK_GOLD] * 2)
    assert out == [0.0, 1.0]  # the first hit the limit: truncated, not graded
    s = R.correctness_reward_func("kk", use_verdict_score=True, verifier_options={"scoring": "logic_rl"})
    prompt = "...<|im_start|>assistant\n<think>"
    comp = "r</think><answer>" + KK_RIGHT + "</answer>"
    assert s(prompts=[prompt, "no think"], completions=[comp, comp], answer=[KK_GOLD] * 2) == [3.0, -3.0]


def test_cosine_func():
    f = R.cosine_reward_func("kk", max_completion_length=100)
    assert f.__name__ == "cosine_scaled"
    ids = [[0] * 25, [0] * 50, [0] * 90, [0] * 10]
    out = f(completions=[KK_RIGHT, KK_WRONG, KK_RIGHT, KK_RIGHT], completion_ids=ids,
            answer=[KK_GOLD, KK_GOLD, KK_GOLD, "bad gold"])
    assert out[0] == pytest.approx(1.0 + (1 + math.sqrt(0.5)) / 2)
    assert out[1] == pytest.approx(-5.0)
    assert out[2] == -10.0
    assert out[3] is None
    with pytest.raises(ValueError, match="completion_ids"):
        f(completions=[KK_RIGHT], answer=[KK_GOLD])


def test_repetition_and_overlong_funcs():
    rep = R.repetition_penalty_func(ngram_size=3, penalty=-1.0)
    assert rep.__name__ == "repetition_3gram"
    assert rep(completions=["x", "y"], completion_ids=[[1, 2, 3, 1, 2, 3, 1], [1, 2, 3]]) == [-4.0, 0.0]
    # without token ids, the study's text rule: (1 - unique/total word 3-grams) x penalty = (1 - 3/4) x -1
    assert rep(completions=["a b c a b c"]) == [pytest.approx(-0.25)]
    ov = R.soft_overlong_reward_func(max_completion_length=100, cache=20)
    assert ov(completions=["a", "b", "c"], completion_ids=[[0] * 10, [0] * 90, [0] * 100]) == [0.0, -0.5, -1.0]


def test_format_logic_rl_and_warmup_funcs():
    fmt = R.format_reward_func("logic_rl")
    assert fmt.__name__ == "logic_rl_format"
    comp = "r</think><answer>x</answer>"
    assert fmt(prompts=["User: hi\nAssistant: <think>", "User: hi"], completions=[comp, comp]) == [1.0, -1.0]
    assert R.format_reward_func("logic_rl", prompt_opens_think=True)(prompts=None, completions=[chat(comp)]) == [1.0]
    lr = R.logic_rl_reward_func()
    assert lr(prompts=["<think>", "<think>"], completions=["r</think><answer>" + KK_RIGHT + "</answer>", "r</think>"],
              answer=[KK_GOLD, KK_GOLD]) == [3.0, -3.0]
    wm = R.warmup_reward_func("mmlu_pro")
    assert wm.__name__ == "warmup_mmlu_pro"
    assert wm(completions=[w(r"\boxed{A}"), w(r"\boxed{B}")], answer=["A", "A"]) == [2.0, -0.5]
    he = R.warmup_reward_func("humaneval", gold=("prompt_text", "test", "entry_point"), workers=2,
                              code_options={"timeout": 5.0, "use_reference": False})
    rows = {"prompt_text": [ADD["prompt"]] * 2, "test": [ADD["test"]] * 2, "entry_point": ["add"] * 2}
    comps = [w("```python\ndef add(a, b):\n    return a + b\n```"), w("```python\ndef add(a, b):\n    return 0\n```")]
    assert he(completions=comps, **rows) == [2.0, -1.0]


def test_adapters_are_thread_safe():
    rng = random.Random(0)
    names = ["Amelia", "Penelope", "Evelyn", "Jack"]
    batches = []
    for _ in range(60):
        n = rng.randint(2, 4)
        sols = [[rng.random() < 0.5 for _ in range(n)] for _ in range(4)]
        gold = "\n".join(f"({i + 1}) {names[i]} is a {'knight' if s else 'knave'}" for i, s in enumerate(sols[0]))
        comps = [
            "<think>r</think><answer>"
            + ", ".join(f"{names[i]} is a {'knight' if s else 'knave'}" for i, s in enumerate(sol))
            + "</answer>"
            for sol in sols
        ]
        ids = [[rng.randint(0, 5) for _ in range(rng.randint(1, 120))] for _ in comps]
        batches.append({"prompts": ["<think>"] * 4, "completions": comps, "completion_ids": ids, "answer": [gold] * 4})
    funcs = [
        R.correctness_reward_func("kk"),
        R.logic_rl_reward_func(),
        R.warmup_reward_func("kk"),
        R.cosine_reward_func("kk", max_completion_length=128),
        R.repetition_penalty_func(ngram_size=2),
        R.format_reward_func("warmup"),
    ]
    sequential = [[f(**b) for f in funcs] for b in batches]
    with ThreadPoolExecutor(max_workers=8) as ex:
        futures = [ex.submit(lambda b=b: [f(**b) for f in funcs]) for b in batches for _ in range(3)]
        threaded = [fut.result() for fut in futures]
    assert threaded == [s for s in sequential for _ in range(3)]
    assert any(v == 3.0 for s in sequential for v in s[1]) and any(v != 3.0 for s in sequential for v in s[1])


# --------------------------------------------------------------------------------------------
# Batch grading: the process pool for ordinary verifiers, threads for the code verifier


def test_grade_batch_math_through_the_pool():
    pytest.importorskip("cotforge.verifiers.pool", reason="the verifier pool is not in the tree yet")
    pytest.importorskip("cotforge.verifiers.math", reason="the math verifier is not in the tree yet")
    f = R.correctness_reward_func("math", workers=2)
    out = f(completions=[r"\boxed{\frac{1}{2}}", r"\boxed{3}", r"so \boxed{0.5}"], answer=["0.5", "0.5", "1/2"])
    assert out == [1.0, 0.0, 1.0]


def test_grade_batch_code_uses_threads_and_keeps_order():
    from cotforge.verifiers.code import CodeVerifier

    v = CodeVerifier(timeout=5.0, use_reference=False)
    responses = ["    return a + b\n", "    return a - b\n"] * 3
    verdicts = R.grade_batch(v, [ADD] * 6, responses, workers=3)
    assert [vd.status for vd in verdicts] == [Status.CORRECT, Status.INCORRECT] * 3


def test_grade_batch_kk_settles_in_process_and_checks_lengths():
    from cotforge.verifiers.kk import KKVerifier

    v = KKVerifier()
    assert v.presettle(KK_GOLD, KK_RIGHT).correct  # never deferred to a worker
    verdicts = R.grade_batch(v, [KK_GOLD, KK_GOLD], [KK_RIGHT, KK_WRONG], [{}, {"truncated": True}])
    assert [vd.status for vd in verdicts] == [Status.CORRECT, Status.TRUNCATED]
    assert R.grade_batch(v, [], []) == []
    with pytest.raises(ValueError, match="lengths differ"):
        R.grade_batch(v, [KK_GOLD], [])
