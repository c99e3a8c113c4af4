"""Code verifier: HumanEval canonical solutions pass, wrong ones fail, and the sandbox's limits hold."""

import gzip
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cotforge.verifiers import get_verifier
from cotforge.verifiers.base import Status
from cotforge.verifiers.code import CodeVerifier, build_program, extract_code, gold_problem

HUMANEVAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
needs_humaneval = pytest.mark.skipif(not HUMANEVAL.exists(), reason=f"HumanEval not found at {HUMANEVAL}")

# A tiny self-contained problem, so most tests do not depend on the shared data.
ADD = {
    "task_id": "toy/add",
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "entry_point": "add",
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
}


@pytest.fixture(scope="module")
def fast():
    """Short timeouts so the hanging cases end quickly; no reference run."""
    return CodeVerifier(timeout=2.0, min_timeout=0.5, max_timeout=5.0, use_reference=False, memory_mb=512)


@pytest.fixture(scope="module")
def humaneval():
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --------------------------------------------------------------------------------------------
# HumanEval


@needs_humaneval
def test_all_canonical_solutions_pass(humaneval):
    v = CodeVerifier(use_reference=False)
    with ThreadPoolExecutor(max_workers=4) as ex:
        verdicts = list(ex.map(lambda r: v.verify(r, r["canonical_solution"]), humaneval))
    failed = [(r["task_id"], vd.reason) for r, vd in zip(humaneval, verdicts) if not vd.correct]
    assert len(humaneval) == 164 and failed == []


@needs_humaneval
def test_full_definitions_in_fences_pass_and_wrong_ones_fail(humaneval):
    v = CodeVerifier()  # with the reference-scaled timeout
    for r in humaneval[:20]:
        full = r["prompt"] + r["canonical_solution"]
        response = f"<think>Let me write it.</think>\nHere:\n```python\n{full}```\nDone."
        good = v.verify(r, response)
        assert good.correct, (r["task_id"], good)
        assert good.details["source"] == "fence"
        bad = v.verify(r, "```python\ndef " + r["entry_point"] + "(*args, **kwargs):\n    raise NotImplementedError\n```")
        assert bad.status is Status.INCORRECT and "NotImplementedError" in bad.reason, (r["task_id"], bad)


@needs_humaneval
def test_subtly_wrong_solution_fails(humaneval):
    r = humaneval[0]
    wrong = r["canonical_solution"].replace("distance < threshold", "distance > threshold")
    assert wrong != r["canonical_solution"]
    v = CodeVerifier().verify(r, wrong)
    assert v.status is Status.INCORRECT and "AssertionError" in v.reason


# --------------------------------------------------------------------------------------------
# Outcomes and the sandbox

CASES = [
    pytest.param("    return a + b\n", Status.CORRECT, "", id="body-completion"),
    pytest.param("return a + b", Status.CORRECT, "", id="body-with-indentation-stripped"),
    pytest.param("```python\ndef add(a, b):\n    return a + b\n```", Status.CORRECT, "", id="fenced-definition"),
    pytest.param("```python\ndef add(a, b):\n    return a - b\n```", Status.INCORRECT, "AssertionError", id="wrong"),
    pytest.param("```python\ndef add(a, b)\n    return a + b\n```", Status.INCORRECT, "SyntaxError", id="syntax-error"),
    pytest.param("```python\nimport sys\nsys.exit(0)\n```", Status.INCORRECT, "SystemExit", id="sys-exit-before-tests"),
    pytest.param("```python\nimport os\nos._exit(0)\n```", Status.INCORRECT, "before the tests finished", id="os-exit-before-tests"),
    pytest.param("```python\nexit()\n```", Status.INCORRECT, "TypeError", id="exit-builtin-disabled"),
    pytest.param("```python\nimport os\nos.fork()\n```", Status.INCORRECT, "TypeError", id="fork-disabled"),
    pytest.param("```python\nimport os\nos.system('echo hi')\n```", Status.INCORRECT, "TypeError", id="system-disabled"),
    pytest.param("```python\nimport subprocess\nsubprocess.run(['true'])\n```", Status.INCORRECT, "ModuleNotFoundError", id="subprocess-disabled"),
    pytest.param("```python\nimport ctypes\n```", Status.INCORRECT, "ModuleNotFoundError", id="ctypes-blocked"),
    pytest.param("```python\nimport shutil, tempfile\ndef add(a, b):\n    return a + b\n```", Status.CORRECT, "",
                 id="shutil-and-tempfile-import"),  # they import posix: the guard must not block it
    pytest.param(
        "```python\ndef add(a, b):\n    with open('big', 'w') as f:\n        f.write('x' * (64 * 1024 * 1024))\n    return a + b\n```",
        Status.INCORRECT, "File too large", id="file-size-limit",
    ),
    pytest.param("```python\ndef add(a, b):\n    while True:\n        pass\n```", Status.TIMEOUT, "timed out", id="infinite-loop"),
    pytest.param("```python\nimport time\ntime.sleep(60)\n```", Status.TIMEOUT, "timed out", id="sleep-forever"),
    pytest.param("<think>no idea</think>", Status.NO_ANSWER, "", id="nothing-after-think"),
    pytest.param("<think>```python\ndef add(a, b):\n    return a + b\n```", Status.NO_ANSWER, "unclosed", id="code-only-in-unclosed-think"),
]


@pytest.mark.parametrize("response,status,reason", CASES)
def test_outcomes(fast, response, status, reason):
    v = fast.verify(ADD, response)
    assert v.status is status, v
    assert reason in v.reason
    assert v.score == (1.0 if status is Status.CORRECT else 0.0)


@pytest.mark.parametrize(
    "body",
    [
        "    x = bytearray(8 * 1024 ** 3)\n    return a + b\n",
        "    x = []\n    while True:\n        x.append(bytearray(32 * 1024 ** 2))\n",
    ],
    ids=["one-huge-allocation", "growing-allocations"],
)
def test_memory_bombs_hit_the_cap(body):
    # A generous wall timeout: the cap, not the clock, must end these.
    v = CodeVerifier(timeout=30.0, use_reference=False, memory_mb=256)
    verdict = v.verify(ADD, "```python\ndef add(a, b):\n" + body + "```")
    assert verdict.status is Status.INCORRECT and "MemoryError" in verdict.reason, verdict


def test_truncated_is_not_graded(fast):
    assert fast.verify(ADD, "    return a + b\n", truncated=True).status is Status.TRUNCATED


def test_environment_is_scrubbed(fast, monkeypatch):
    monkeypatch.setenv("COTFORGE_TEST_SECRET", "do-not-leak")
    gold = dict(ADD, test="def check(candidate):\n    import os\n    assert 'COTFORGE_TEST_SECRET' not in os.environ\n"
                          "    assert candidate(1, 2) == 3\n")
    assert fast.verify(gold, "    return a + b\n").correct


def test_runs_in_a_temporary_directory_that_is_removed(fast):
    gold = dict(ADD, test="def check(candidate):\n    import os\n    assert False, 'CWD=' + os.getcwd()\n")
    v = fast.verify(gold, "    return a + b\n")
    cwd = v.reason.split("CWD=", 1)[1].strip()
    assert os.path.basename(cwd).startswith("cotforge-code-")
    assert not os.path.exists(cwd)


def test_destructive_calls_cannot_touch_files(fast, tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    response = f"```python\nimport os, shutil\ndef add(a, b):\n    os.remove({str(victim)!r})\n    return a + b\n```"
    v = fast.verify(ADD, response)
    assert v.status is Status.INCORRECT and victim.read_text() == "precious"


@pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0), reason="privilege drop only applies to root")
def test_root_runs_candidate_and_tests_under_two_fresh_uids(fast):
    # This interpreter lives under a 0700 /root here: the drop must work anyway.
    gold = dict(ADD, test="def check(candidate):\n    import os, json\n    assert os.getuid() != 0\n"
                          "    assert candidate(1, 2) == 3\n")
    body = "```python\nimport os\ndef add(a, b):\n    assert os.getuid() not in (0, 65534), os.getuid()\n    return a + b\n```"
    verdict = fast.verify(gold, body)
    assert verdict.correct, verdict
    assert verdict.details["sandbox_user"] == "sandbox uid" and "uid" in verdict.details["sandbox"]


def test_reference_scales_the_timeout():
    slow = dict(ADD, canonical_solution="    import time\n    time.sleep(0.3)\n    return a + b\n")
    v = CodeVerifier(min_timeout=0.5, max_timeout=20.0, reference_factor=4.0)
    verdict = v.verify(slow, "    return a + b\n")
    assert verdict.correct
    # 4 x a run that sleeps 0.3 s (twice: two asserts) is above the 0.5 s floor
    assert verdict.details["timeout_s"] >= 4 * 0.6
    fast_ref = CodeVerifier(min_timeout=0.5, max_timeout=20.0).verify(ADD, "    return a + b\n")
    assert fast_ref.details["timeout_s"] >= 0.5


def test_gold_problems_are_unparsable_gold(fast):
    assert fast.verify({"entry_point": "add"}, "x").status is Status.UNPARSABLE_GOLD
    assert fast.verify({"test": "def check(c): pass", "entry_point": "not valid"}, "x").status is Status.UNPARSABLE_GOLD
    assert fast.verify("def check(c): pass", "x").status is Status.UNPARSABLE_GOLD
    broken = dict(ADD, canonical_solution="    return a * b\n")
    v = CodeVerifier(min_timeout=0.5).verify(broken, "    return a + b\n")
    assert v.status is Status.UNPARSABLE_GOLD and "reference solution fails" in v.reason


@pytest.mark.parametrize(
    "gold,why",
    [
        (dict(ADD, test="def check(candidate):\n    assert candidate(1, 2) == 3\n  oops\n"), "does not compile"),
        (dict(ADD, test="def check(candidate)\n    pass\n"), "does not compile"),
        (dict(ADD, test="def test_add(candidate):\n    assert candidate(1, 2) == 3\n"), "no check"),
        (dict(ADD, test="assert add(1, 2) == 3\n"), "no check"),
        (dict(ADD, entry_point="plus"), "not defined by the prompt + canonical_solution"),
        ({k: v for k, v in ADD.items() if k != "canonical_solution"} | {"entry_point": "plus"}, "not declared in the prompt"),
        (dict(ADD, canonical_solution="  return a +\n"), "do not compile"),
        (dict(ADD, entry_point="def"), "not a Python identifier"),
    ],
    ids=["test-indentation", "test-syntax", "no-check", "bare-asserts", "missing-entry", "missing-entry-prompt-only",
         "canonical-syntax", "keyword-entry"],
)
def test_broken_gold_is_caught_before_running(fast, gold, why):
    # A right candidate would otherwise be graded "incorrect" by a gold that can never pass.
    v = fast.verify(gold, "```python\ndef add(a, b):\n    return a + b\n```")
    assert v.status is Status.UNPARSABLE_GOLD and why in v.reason, v
    assert "wall_s" not in v.details  # nothing ran
    assert gold_problem(gold) == v.reason


def test_valid_golds_pass_the_static_check(fast):
    assert gold_problem(ADD) is None
    assert gold_problem({"test": ADD["test"], "entry_point": "add"}) is None  # candidate defines it
    assert gold_problem({k: v for k, v in ADD.items() if k != "canonical_solution"}) is None


@needs_humaneval
def test_humaneval_golds_pass_the_static_check(humaneval):
    assert [r["task_id"] for r in humaneval if gold_problem(r)] == []


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        CodeVerifier(timeout=0)
    with pytest.raises(ValueError):
        CodeVerifier(min_timeout=5, max_timeout=1)
    with pytest.raises(ValueError):
        CodeVerifier(memory_mb=1)


def test_registry_builds_code():
    assert isinstance(get_verifier("code", memory_mb=None), CodeVerifier)


# --------------------------------------------------------------------------------------------
# Extraction


@pytest.mark.parametrize(
    "response,expected,source",
    [
        ("```python\ndef add(a, b):\n    return 1\n```\nand usage:\n```python\nprint(add(1, 2))\n```",
         "def add(a, b):\n    return 1\n", "fence"),
        ("<think>```python\ndef add(a, b):\n    return 0\n```</think>```python\ndef add(a, b):\n    return 2\n```",
         "def add(a, b):\n    return 2\n", "fence"),
        ("```\ndef add(a, b):\n    return 3\n```", "def add(a, b):\n    return 3\n", "fence"),
        ("```python\ndef add(a, b):\n    return 4\n", "def add(a, b):\n    return 4\n", "fence"),
        ("<answer>def add(a, b):\n    return 5</answer>", "def add(a, b):\n    return 5\n", "answer_tag"),
        ("    return 6", "    return 6\n", "raw"),
        ("```python\ndef helper():\n    pass\n```\n```python\ndef add(a, b):\n    return 7\n```\n```python\nx = 1\n```",
         "def add(a, b):\n    return 7\n", "fence"),
    ],
    ids=["last-fence-defining-entry", "after-think", "unlabelled-fence", "unclosed-fence", "answer-tag", "raw-body", "skips-later-non-defining"],
)
def test_extract_code(response, expected, source):
    assert extract_code(response, "add") == (expected, source)


def test_build_program_keeps_prompt_helpers():
    gold = dict(ADD, prompt="import math\n\ndef helper(x):\n    return x\n\n" + ADD["prompt"])
    program = build_program(gold, "def add(a, b):\n    return helper(a) + b\n")
    assert program.startswith("import math") and program.rstrip().endswith("check(add)")


def test_verifier_pickles_without_its_lock_and_caches():
    import pickle

    v = CodeVerifier(timeout=5.0, min_timeout=0.5)
    assert v.verify(ADD, "    return a + b\n").correct  # fills the reference cache
    clone = pickle.loads(pickle.dumps(v))
    assert clone.timeout == 5.0 and clone._ref_cache == {}
    assert clone.verify(ADD, "    return a - b\n").status is Status.INCORRECT
