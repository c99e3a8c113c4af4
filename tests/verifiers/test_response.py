"""Shared response handling: <think> splitting, truncation, and final-answer extraction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotforge.verifiers.base import Status
from cotforge.verifiers.response import (
    answer_tag,
    clean_answer,
    extract_final_answer,
    extract_with_source,
    last_boxed,
    parse_response,
    to_text,
)

# (text, expected content of the last box)
BOXED = [
    (r"so \boxed{840}", "840"),
    (r"\boxed{840} and again \boxed{840}", "840"),  # never "840840"
    (r"first \boxed{1}, finally \boxed{2}", "2"),
    (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{1}{\sqrt{2}}"),
    (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces do not close the box
    (r"\fbox{3}", "3"),
    (r"$\boxed 5$", "5"),
    (r"\boxed{\text{(C)}}", r"\text{(C)}"),
    (r"\boxed{1} then \boxed{2", None),  # unclosed final box: no final answer, not the earlier one
    (r"\boxed{}", None),
    (r"\boxed{  }", None),
    ("no box here", None),
    (r"\boxedfoo{3}", None),
]


@pytest.mark.parametrize("text,expected", BOXED)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


# (text, expected answer, rule)
EXTRACT = [
    (r"The answer is $\boxed{42}$.", "42", "boxed"),
    (r"<answer>7</answer>", "7", "answer_tag"),
    (r"<answer>1</answer> then <answer> 2 </answer>", "2", "answer_tag"),
    (r"Thus the answer is $\frac{1}{2}$.", r"\frac{1}{2}", "answer_is"),
    ("The final answer is 3.5. Done.", "3.5", "answer_is"),
    ("so the correct answer is: 12", "12", "answer_is"),
    ("Answer: 17", "17", "answer_colon"),
    ("**Final Answer:** 12", "12", "answer_colon"),
    # the Answer: rule cuts inside bold markup; the half left over must not stay on the answer
    ("Final Answer: **73**.", "73", "answer_colon"),
    ("Answer: **73**", "73", "answer_colon"),
    ("**Final Answer: 73**", "73", "answer_colon"),
    ("**Answer:** **$73$**.", "73", "answer_colon"),
    ("Answer: x**2 + 1", "x**2 + 1", "answer_colon"),  # an inner ** is content, not markup
    ("So there are **73** ways.", "73", "bold"),  # bold answers are not missed
    ("Therefore, 997^{-1} = **333** (mod 1000).", "333", "bold"),
    ("**Step 1: set up**\nwe compute\nand so on", None, "none"),  # headings are not answers
    ("**Step 1:** foo", None, "none"),
    ("I have no idea.", None, "none"),
    # issue 7 section 4: several final boxes are one answer; a final answer stated after boxes wins
    (r"The solutions are $\boxed{3}$ and $\boxed{-4}$.", "3, -4", "boxed"),
    (r"So $x = \boxed{3}$ or $x = \boxed{-4}$.", "3, -4", "boxed"),
    (r"$\boxed{1}, \boxed{2}, \boxed{3}$", "1, 2, 3", "boxed"),
    (r"First \boxed{840}. Double-checking: \boxed{840}", "840", "boxed"),  # separate sentences: the last box
    (r"Part one is \boxed{2}. Part two is \boxed{5}.", "5", "boxed"),
    (r"We get $\boxed{5}$ first. Adding 2, the final answer is 7.", "7", "answer_is"),
    ("Steps give $\\boxed{4}$ and then more.\n\nFinal Answer: 12", "12", "answer_colon"),
    (r"The area is $\boxed{6}$. Checking: the final answer is correct.", "6", "boxed"),  # no value stated: the box
    # bare formula-only responses are the answer
    ("t^2-4t+4", "t^2-4t+4", "bare"),
    (r"\dfrac{2}{5}", r"\dfrac{2}{5}", "bare"),
    (r"$\frac{2}{7}.$", r"\frac{2}{7}", "bare"),
    (r"\text{even}", r"\text{even}", "bare"),
    ("even", "even", "bare"),
    (r"\sin x + \cos x", r"\sin x + \cos x", "bare"),
    ("I think 5", None, "none"),  # prose
    ("x" * 100, None, "none"),  # too long to be a bare answer
    # sentence punctuation inside math delimiters
    (r"The answer is $(3,4),$", "(3,4)", "answer_is"),
    (r"The answer is $x^2+1,$ as required", "x^2+1", "answer_is"),
    # other languages
    ("Entonces, la respuesta es 5.", "5", "answer_is"),
    (r"因此，答案是 $\frac{1}{2}$。", r"\frac{1}{2}", "answer_is"),
    ("所以答案为7。", "7", "answer_is"),
    ("Die Antwort ist 12.", "12", "answer_is"),
    ("La réponse est 12.", "12", "answer_is"),
    ("A resposta é 12.", "12", "answer_is"),
    ("La risposta è 12.", "12", "answer_is"),
    ("よって答えは7です。", "7", "answer_is"),
    ("따라서 정답은 7", "7", "answer_is"),
    ("Vậy đáp án là 7.", "7", "answer_is"),
    ("Ответ: 12", "12", "answer_colon"),
    ("答案：12", "12", "answer_colon"),
    ("Respuesta: 8", "8", "answer_colon"),
    # priority: a box beats a phrase, a tag beats a phrase
    (r"The answer is 3. Actually \boxed{4}", "4", "boxed"),
    ("<answer>5</answer> The answer is 6.", "5", "answer_tag"),
]


@pytest.mark.parametrize("text,expected,rule", EXTRACT)
def test_extract_final_answer(text, expected, rule):
    assert extract_with_source(text) == (expected, rule)
    assert extract_final_answer(text) == expected


def test_answer_tag_and_clean_answer():
    assert answer_tag("<answer>\n x \n</answer>") == "x"
    assert answer_tag("<answer>unclosed") is None
    assert answer_tag("<answer></answer>") is None
    assert clean_answer("  $**5**$. ") == "5"
    assert clean_answer(r"\(x+1\)") == "x+1"
    assert clean_answer(" . ") is None


# (response, truncated, status, answer_text, reasoning)
PARSE = [
    ("<think>abc</think>The answer is 3", False, None, "The answer is 3", "abc"),
    ("abc</think>  42 ", False, None, "42", "abc"),  # prompt ended with <think>
    ("<think>a</think><think>b</think>c", False, None, "c", "a</think><think>b"),
    ("<think>" + r"\boxed{3}", False, Status.NO_ANSWER, None, r"\boxed{3}"),  # unclosed: no answer
    ("<think>long thought", True, Status.TRUNCATED, None, "long thought"),
    (r"\boxed{3}", True, Status.TRUNCATED, r"\boxed{3}", None),
    ("<think>x</think>   ", False, Status.NO_ANSWER, None, "x"),
    ("", False, Status.NO_ANSWER, None, None),
    ("   \n ", False, Status.NO_ANSWER, None, None),
    (None, False, Status.NO_ANSWER, None, None),
    (b"\\boxed{5}", False, None, "\\boxed{5}", None),
    (b"\xff\xfe\xfd", False, None, "\ufffd\ufffd\ufffd", None),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "ok 5"}], False, None, "ok 5", None),
    ({"role": "assistant", "content": "9"}, False, None, "9", None),
    (["only completion"], False, None, "only completion", None),
    (12, False, None, "12", None),
    (object(), False, Status.NO_ANSWER, None, None),
    ("nul\x00byte", False, None, "nulbyte", None),
]


@pytest.mark.parametrize("response,truncated,status,answer,reasoning", PARSE)
def test_parse_response(response, truncated, status, answer, reasoning):
    parsed = parse_response(response, truncated=truncated)
    assert parsed.status == status
    assert parsed.answer_text == answer
    assert parsed.reasoning == reasoning
    if status is not None:
        assert parsed.reason


def test_to_text_rejects_junk():
    assert to_text([1, 2]) is None
    assert to_text(True) is None
    assert to_text({"no": "content"}) is None


def test_huge_inputs_are_handled():
    # 1 MB of text, a million unclosed braces, a million boxes: linear scans, no exceptions.
    assert parse_response("x" * 1_000_000).answer_text is not None
    assert last_boxed("\\boxed{" + "{" * 1_000_000) is None
    assert last_boxed("\\boxed{1}" * 100_000) == "1"
    assert extract_final_answer("the answer is " * 50_000) == ("the answer is " * 50_000)[len("the answer is "):].strip()
    assert extract_final_answer("Answer: 7\n" * 100_000) == "7"


junk = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.text(max_size=300),
    st.text(alphabet="\\{}$<>/thinkboxedanswer*:() \nA1", max_size=300),
    st.lists(st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=20)), max_size=3),
    st.integers(),
    st.floats(allow_nan=True),
)


@settings(max_examples=300, deadline=None)
@given(junk, st.booleans())
def test_parse_and_extract_never_raise(response, truncated):
    parsed = parse_response(response, truncated=truncated)
    assert parsed.status in (None, Status.NO_ANSWER, Status.TRUNCATED)
    if parsed.status is None:
        assert parsed.answer_text
        answer, rule = extract_with_source(parsed.answer_text)
        assert (answer is None) == (rule == "none")
        if answer is not None:
            assert answer.strip()


@pytest.mark.parametrize(
    "text,boxes",
    [
        (r"$\boxed{(2, 3)} \text{ for part (a) and } \boxed{(4, 1)}$", ["(2, 3)", "(4, 1)"]),
        (r"\boxed{5} apples and \boxed{7} pears", ["5", "7"]),
        (r"\boxed{3} and \boxed{-4}", ["3", "-4"]),
        (r"First $\boxed{4}$, then tripling gives $\boxed{12}$", ["12"]),  # "gives": working, not parts
        (r"$x=\boxed{3}$ so $x^2 = \boxed{9}$", ["9"]),
        (r"Step 1 gives $\boxed{4}$, step 2 gives $\boxed{8}$.", ["8"]),
        (r"\boxed{1} " + "a" * 35 + r" and \boxed{2}", ["2"]),  # too long to be a label
    ],
)
def test_final_boxes_joined_by_part_labels(text, boxes):
    from cotforge.verifiers.response import final_boxes

    assert final_boxes(text) == boxes


def test_final_boxes_join_rule_is_linear_on_long_letter_runs():
    from cotforge.verifiers.response import _joins_boxes

    # a nested-quantifier regex would backtrack exponentially on a 40-letter run with no match
    assert _joins_boxes("a" * 39 + "!") is False


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}"),
        ("计划的比例为13/28", None),  # a sentence in another script, not a formula
        ("Ответ 12", None),
        ("t^2-4t+4", "t^2-4t+4"),
    ],
)
def test_bare_formula_matrices_and_other_scripts(text, expected):
    from cotforge.verifiers.response import bare_formula

    assert bare_formula(text) == expected


def test_a_bold_label_before_a_colon_is_not_the_answer():
    assert extract_with_source("**结论**：总共有99颗弹珠。")[1] != "bold"
    assert extract_with_source("So there are **73** ways.") == ("73", "bold")


def test_final_boxes_reads_boxes_from_the_end_only_while_they_join(monkeypatch):
    # thousands of unclosed boxes (a degenerate output) must not each be scanned to the end
    import cotforge.verifiers.response as R

    calls = []
    real = R._box_content
    monkeypatch.setattr(R, "_box_content", lambda text, start: calls.append(start) or real(text, start))
    text = "\\boxed{. " * 5000 + " so $\\boxed{3}$ and $\\boxed{-4}$"
    assert R.final_boxes(text) == ["3", "-4"]
    assert len(calls) == 3  # the two joined boxes and the one before them that does not join


@pytest.mark.parametrize("text", [
    "La respuesta es 5.", "LA RESPUESTA ES 5.", "La réponse est 5.", "La reponse est 5.", "Die Antwort ist 5.",
    "A resposta é 5.", "La risposta è 5.", "Ответ - 5.", "答案是5。", "答えは5です", "정답은 5\n", "Đáp án là 5.",
    "Jawaban adalah 5.", "Het antwoord is 5.", "Odpowiedz to 5.", "Odpowiedź to 5.",
])
def test_other_languages_anchors_are_found_where_the_english_shortcut_is_skipped(text):
    from cotforge.verifiers.response import extract_with_source, may_hold_other_languages_anchor

    assert may_hold_other_languages_anchor(text)
    assert extract_with_source("Some work first.\n" + text) == ("5", "answer_is")


def test_the_odd_case_folds_list_is_whole():
    # Every character that a case-insensitive pattern matches to a letter of ASCII or of the
    # other scripts' anchor words, where lowercasing it gives another character, is in the list
    # that sends word searches back to a full scan (and nothing else is).
    import re

    from cotforge.verifiers import response as R

    letters = sorted(set("abcdefghijklmnopqrstuvwxyz") | set("".join(R._SCRIPT_ANCHOR_WORDS)))
    any_letter = re.compile("(?i)[" + re.escape("".join(letters)) + "]")
    folding = [chr(c) for c in range(128, 0x110000) if any_letter.fullmatch(chr(c))]
    odd = {ch for ch in folding if any(re.fullmatch("(?i)" + re.escape(d), ch) and ch.lower() != d for d in letters)}
    assert odd and {ch for ch in folding if R._ODD_CASE_FOLDS_RE.fullmatch(ch)} == odd
    assert not R.word_search_is_exact("the an\u017fwer is B") and R.word_search_is_exact("the answer is B \u2019")
