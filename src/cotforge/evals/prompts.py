"""The prompt templates the recipes evaluate with. Each has a name and a hash of its text: both are
recorded in the run, because a changed word moves scores.

=================  ==========================================================================
name               what the model sees
=================  ==========================================================================
``boxed``          system "Please reason step by step, and put your final answer within
                   \\boxed{}." + the question (Qwen2.5-Math's ``qwen25-math-cot``, SkyThought)
``r1``             the R1 system prompt (``<think>``/``<answer>`` tags) + the question, final
                   answer in ``\\boxed{}`` inside ``<answer>`` (the warm-up recipe)
``letter``         question + options ``A. ...`` listed, "The answer is (X)" (0-shot CoT)
``letter_r1``      the R1 system prompt + the letter question, letter in ``\\boxed{}``
``mmlu_pro_5shot`` TIGER-Lab's 5-shot CoT prompt: five worked validation questions of the same
                   category, then the question, "Answer: Let's think step by step."
``code``           complete the function; one fenced Python block
``code_r1``        the R1 system prompt + the code request
``kk_r1``          the K&K R1 prompt of the warm-up and Logic-RL recipes (cotforge.datagen.kk)
=================  ==========================================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LETTERS = "ABCDEFGHIJ"

R1_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)
BOXED_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
R1_MATH_SUFFIX = "\n\nPut your final answer within \\boxed{} inside the <answer> </answer> tags."
LETTER_HEAD = (
    "Answer the following multiple choice question. Think step by step, then finish with "
    '"The answer is (X)" where X is the letter of the correct option.'
)
LETTER_R1_SUFFIX = "\n\nPut the letter of the correct option within \\boxed{} inside the <answer> </answer> tags."
MMLU_PRO_HEAD = (
    "The following are multiple choice questions (with answers) about {category}. Think step by step and then "
    'finish your answer with "the answer is (X)" where X is the correct letter choice.\n\n'
)
CODE_HEAD = (
    "Complete the following Python function. Reply with the complete function (with its imports) "
    "in one ```python code block.\n\n```python\n{prompt}```"
)


def options_block(options: Sequence[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))


def letter_question(question: str, options: Sequence[str]) -> str:
    return f"Question: {question}\nOptions:\n{options_block(options)}"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str  # every constant the template uses, for the hash
    build: Callable[[dict[str, Any]], list[dict[str, str]]]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def render(self, **fields: Any) -> list[dict[str, str]]:
        return self.build(fields)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256}


def _user(text: str, system: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": text}]


def _mmlu_pro_5shot(f: dict[str, Any]) -> list[dict[str, str]]:
    head = MMLU_PRO_HEAD.format(category=f.get("category") or "various subjects")
    shots = []
    for ex in f.get("shots") or ():
        cot = str(ex["cot_content"]).replace("A: Let's think step by step.", "Answer: Let's think step by step.", 1)
        shots.append(letter_question(ex["question"], ex["options"]) + "\n" + cot.strip())
    body = "\n\n".join(shots + [letter_question(f["question"], f["options"]) + "\nAnswer: Let's think step by step."])
    return _user(head + body)


def _kk_r1(f: dict[str, Any]) -> list[dict[str, str]]:
    from cotforge.datagen.kk.prompts import chat_prompt
    from cotforge.datagen.kk.render import ROLE_PAIRS

    return chat_prompt(f["quiz"], f["names"], ROLE_PAIRS["knight/knave"])


def _kk_text() -> str:
    from cotforge.datagen.kk.prompts import PROMPT_VERSION, SYSTEM_PROMPT

    return PROMPT_VERSION + SYSTEM_PROMPT


PROMPTS: dict[str, PromptTemplate] = {
    "boxed": PromptTemplate("boxed", BOXED_SYSTEM, lambda f: _user(f["question"], BOXED_SYSTEM)),
    "r1": PromptTemplate("r1", R1_SYSTEM + R1_MATH_SUFFIX, lambda f: _user(f["question"] + R1_MATH_SUFFIX, R1_SYSTEM)),
    "letter": PromptTemplate(
        "letter", LETTER_HEAD, lambda f: _user(LETTER_HEAD + "\n\n" + letter_question(f["question"], f["options"]))
    ),
    "letter_r1": PromptTemplate(
        "letter_r1", R1_SYSTEM + LETTER_R1_SUFFIX,
        lambda f: _user(letter_question(f["question"], f["options"]) + LETTER_R1_SUFFIX, R1_SYSTEM),
    ),
    "mmlu_pro_5shot": PromptTemplate("mmlu_pro_5shot", MMLU_PRO_HEAD, _mmlu_pro_5shot),
    "code": PromptTemplate("code", CODE_HEAD, lambda f: _user(CODE_HEAD.format(prompt=f["prompt"]))),
    "code_r1": PromptTemplate("code_r1", R1_SYSTEM + CODE_HEAD, lambda f: _user(CODE_HEAD.format(prompt=f["prompt"]), R1_SYSTEM)),
}
# The K&K template's text lives in cotforge.datagen.kk.prompts: its version and system prompt are hashed.
PROMPTS["kk_r1"] = PromptTemplate("kk_r1", "kk_r1:" + _kk_text(), _kk_r1)
