"""Silver web data -> verifiable RL problems (``cotforge silver``).

Noisy web rows (WebInstruct style: a question and a raw web solution) become RL-ready rows
(``prompt`` + ``answer``) the way the long-CoT study built its 115k silver prompts, and every row
that does not make it is kept with the reason it was dropped.

1. **Extract** a short final answer from the raw solution: ``\\boxed{}`` > ``<answer>`` tags >
   "the answer is" > ``Answer:`` > bold > the last line (its right-hand side when it is an
   equation); optionally with an instruct model through any backend ("The final answer is
   \\boxed{...}"), for every row or only where the rules find nothing.
2. **Drop what cannot be verified**: empty rows, repeated questions, proofs ("prove", "show
   that", ...), multi-part questions, long free-text answers, a choice letter when the question
   lists no options, and any answer the verifier cannot parse as a gold answer (checked by grading
   the answer against itself with the real verifier - if that is not ``correct``, RL rewards on
   this row would be noise).
3. Optionally **keep only prompts a teacher agrees with**: k samples per prompt, kept when at
   least one sample is graded correct against the extracted answer (the study sampled 2).

The dataset has three configs: ``default`` (kept rows, RL-ready), ``dropped`` (every other row with
its reason) and ``verdicts`` (one row per input row: the answer, the drop reason, the teacher's
samples), built chunk by chunk so a killed run resumes (see :mod:`cotforge.datagen.silver.build`).
"""

from cotforge.datagen.silver.build import CHUNK_ROWS, VERDICTS_SCHEMA, build_silver, rebuild_command, verdict_stats
from cotforge.datagen.silver.config import (
    DEFAULT_INSTRUCTION,
    DROP_REASONS,
    EXTRACT_PROMPT,
    EXTRACTORS,
    FAMILY,
    GENERATOR_VERSION,
    SilverConfig,
)
from cotforge.datagen.silver.process import iter_silver_rows, process_silver, prompt_messages, read_silver_rows
from cotforge.datagen.silver.rules import (
    answer_problem,
    domain_of,
    extract_answer,
    has_options,
    last_line_answer,
    question_problem,
    strip_unit_words,
)

__all__ = [
    "CHUNK_ROWS", "DEFAULT_INSTRUCTION", "DROP_REASONS", "EXTRACT_PROMPT", "EXTRACTORS", "FAMILY", "GENERATOR_VERSION",
    "VERDICTS_SCHEMA", "SilverConfig", "answer_problem", "build_silver", "domain_of", "extract_answer", "has_options",
    "iter_silver_rows", "last_line_answer", "process_silver", "prompt_messages", "question_problem", "read_silver_rows",
    "rebuild_command", "strip_unit_words", "verdict_stats",
]
