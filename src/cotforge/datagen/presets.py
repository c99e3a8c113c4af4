"""Distillation presets matching the published recipes (see RECIPES.md in the project's shared notes).

A preset fixes the teacher, the sampling parameters, the number of candidates per prompt, what is
kept, and the prompt template; every value can still be overridden on the command line. Values
marked [code] were read in the recipe's public code, [paper] come from the paper, and
[unconfirmed] are cotforge's choice where neither says (documented so nobody mistakes them for the
paper's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cotforge.errors import UsageError

#: R1-style system prompt of the warm-up recipe and Logic-RL [code]; the user message is the puzzle.
R1_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "Now the user asks you to solve a logical reasoning problem. After thinking, when you finally reach a "
    "conclusion, clearly state the identity of each character within <answer> </answer> tags. "
    "i.e., <answer> (1) Zoey is a knight\n(2) ... </answer>."
)
#: Qwen2.5-Math's chain-of-thought instruction, as its evaluation harness sends it [code].
BOXED_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
#: QwQ-32B-Preview's system prompt from its model card [code].
QWQ_PREVIEW_SYSTEM = (
    "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. You should think step-by-step."
)


@dataclass(frozen=True)
class PromptTemplate:
    """How a problem becomes chat messages: an optional system message and a user message format."""

    system: str | None = None
    user: str = "{problem}"

    def messages(self, problem: str) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": self.user.replace("{problem}", problem)})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "user": self.user}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: str
    sampling: dict[str, Any]
    n: int
    keep: str  # "correct" or "all"
    template: PromptTemplate
    domain: str
    n_choices: tuple[int, ...] = ()
    max_per_prompt: int | None = None
    finish_reasons: tuple[str, ...] = ("stop",)
    notes: tuple[str, ...] = field(default=())
    sft_formats: tuple[str, ...] = ("messages", "prompt_completion")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model": self.model, "sampling": dict(self.sampling), "n": self.n,
            "keep": self.keep, "template": self.template.to_dict(), "domain": self.domain,
            "max_per_prompt": self.max_per_prompt, "finish_reasons": list(self.finish_reasons),
            "sft_formats": list(self.sft_formats), "notes": list(self.notes),
        }


PRESETS: dict[str, Preset] = {
    "kk-warmup": Preset(
        name="kk-warmup",
        description="Warm-up before RLVR (Shrestha et al. 2025): QwQ-32B traces on K&K puzzles, wrong ones kept.",
        model="Qwen/QwQ-32B",  # [paper]
        # [code]: vLLM, 4 samples, T 0.6, top-p 0.95, top-k 40, 8192 tokens, stop at </answer> (re-appended)
        sampling={"temperature": 0.6, "top_p": 0.95, "top_k": 40, "max_tokens": 8192,
                  "stop": ["</answer>"], "include_stop": True},
        n=4,
        keep="all",  # [paper]: wrong traces were not filtered out
        template=PromptTemplate(system=R1_SYSTEM, user="{problem}"),
        domain="kk",
        # the paper kept everything the teacher wrote; a trace cut at 8192 tokens has no answer but
        # is still a trace, so the keep-all preset does not filter on finish reason either
        finish_reasons=("stop", "length"),
        notes=("The preset's R1 prompt is used even for a cotforge K&K dataset; map --column prompt=prompt to "
               "send the dataset's own prompt column instead.",
               "The paper used 3-7 people (900 train puzzles each): pass --config 3ppl,4ppl,5ppl,6ppl,7ppl to "
               "distill them in one run.",
               "Besides `accepted` (messages), the `text` config holds each trace as one text after the "
               "recipe's response template \" Assistant: <think>\\n\"; train with the loss on what follows it."),
        sft_formats=("messages", "prompt_completion", "text"),
    ),
    "long-cot": Preset(
        name="long-cot",
        description="Long CoT (Yeo et al. 2025): QwQ-32B-Preview on MATH train, N candidates, keep correct.",
        model="Qwen/QwQ-32B-Preview",  # [paper]
        # [unconfirmed]: the paper's rejection-sampling temperature is not in RECIPES.md; T 0.7 /
        # top-p 0.95 are its evaluation settings, 16,384 tokens its evaluation budget.
        sampling={"temperature": 0.7, "top_p": 0.95, "top_k": -1, "max_tokens": 16384},
        n=32,  # [paper]: N in {32, 64, 128, 192, 256}
        n_choices=(32, 64, 128, 192, 256),
        keep="correct",
        template=PromptTemplate(system=QWQ_PREVIEW_SYSTEM, user="{problem}\n\n" + BOXED_SYSTEM),
        domain="math",
    ),
    "short-cot": Preset(
        name="short-cot",
        description="Short CoT (Yeo et al. 2025): Qwen2.5-Math-72B-Instruct on MATH train, N candidates, keep correct.",
        model="Qwen/Qwen2.5-Math-72B-Instruct",  # [paper]
        # [unconfirmed] sampling as for long-cot; 3,072 new tokens so that prompt + completion fit the
        # model's 4,096-token context.
        sampling={"temperature": 0.7, "top_p": 0.95, "top_k": -1, "max_tokens": 3072},
        n=32,
        n_choices=(32, 64, 128, 192, 256),
        keep="correct",
        template=PromptTemplate(system=BOXED_SYSTEM, user="{problem}"),
        domain="math",
    ),
    "phi4-mini": Preset(
        name="phi4-mini",
        description="Phi-4-Mini-Reasoning style distillation: DeepSeek-R1 traces, 8 rollouts per prompt, "
                    "kept only when the verifier says correct.",
        model="deepseek-ai/DeepSeek-R1",  # [paper]: the teacher of Phi-4-Mini-Reasoning's distillation stage
        # [unconfirmed]: the paper's evaluation sampling (T 0.6, top-p 0.95, 32K tokens) stands in for the
        # undisclosed distillation settings
        sampling={"temperature": 0.6, "top_p": 0.95, "top_k": -1, "max_tokens": 32768},
        n=8,  # [paper]: about 8 rollouts per question, verified (correct ones kept)
        keep="correct",
        template=PromptTemplate(system=None, user="{problem}\n\n" + BOXED_SYSTEM),
        domain="math",
        notes=("Keep the input's difficulty and domain tags with --keep-column (e.g. --keep-column level "
               "--keep-column subject): they travel in every row's `metadata`.",),
    ),
}

#: Used when no preset is named: plain boxed-answer math prompts, keep correct.
DEFAULT = Preset(
    name="none",
    description="No preset: boxed-answer prompts, keep correct completions.",
    model="",
    sampling={"temperature": 0.7, "top_p": 0.95, "top_k": -1, "max_tokens": 4096},
    n=4,
    keep="correct",
    template=PromptTemplate(system=None, user="{problem}\n\n" + BOXED_SYSTEM),
    domain="math",
)


def get_preset(name: str | None) -> Preset:
    if name is None or name == "none":
        return DEFAULT
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"--preset {name!r}: unknown; choose one of {', '.join(PRESETS)}") from None
