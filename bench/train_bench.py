"""Learning, not just running: the four trainers on CPU with the tiny model (not a timed test).

- SFT on K&K constructed chain of thought: the training loss falls.
- DPO on arithmetic pairs (chosen: right answer in <answer> tags; rejected: wrong, untagged): the reward margin grows.
- GRPO and PPO (and the critic-free ``reinforce`` variant) on a learnable task: reward 1 when the
  completion's reasoning contains the reflection word "Wait" (the tiny model writes it about a third
  of the time), else 0: the mean reward rises.

Each curve's peer is its own start, measured in the same run: the bench prints the mean of the
last quarter of the curve against step 1 (the untrained model; ratio or difference), over ``--repeats`` seeds
(range min..max), prints the curves, and writes a PNG. The machine may be shared: wall times are
given for orientation only.

    python bench/train_bench.py --out /tmp/train_bench --steps 30 --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def wait_reward(prompts=None, completions=None, completion_ids=None, **kw):
    """1.0 when the completion contains "Wait", else 0.0 (a TRL reward function)."""
    out = []
    for c in completions:
        text = c if isinstance(c, str) else " ".join(m.get("content", "") for m in c)
        out.append(1.0 if "Wait" in text else 0.0)
    return out


def _quiet(_msg: str) -> None:
    pass


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _arith_prompts(n: int, seed: int) -> list[dict]:
    from cotforge.testing.tiny_model import tiny_prompt

    rng = random.Random(seed)
    return [{"prompt": tiny_prompt(rng.randint(0, 20), rng.randint(0, 20))} for _ in range(n)]


def sft_curve(work: Path, model: str, steps: int, seed: int) -> list[float]:
    import pyarrow.parquet as pq

    from cotforge.datagen.kk.build import KKBuildConfig, build_kk
    from cotforge.store.dataset import split_paths
    from cotforge.trainers.sft import run_sft

    kk = work / "kk"
    build_kk(kk, KKBuildConfig(people=(3,), train=24, test=2, seed=seed), overwrite=True)
    rows = []
    for f in split_paths(kk)["3ppl/train"]:
        t = pq.read_table(f, columns=["prompt", "cot", "answer"]).to_pylist()
        for r in t:
            text = f"<think>\n{r['cot'].strip()}\n</think>\n<answer>\n{r['answer']}\n</answer>"
            rows.append({"messages": list(r["prompt"]) + [{"role": "assistant", "content": text}]})
    data = _jsonl(work / "sft.jsonl", rows)
    out = work / "sft"
    run_sft({"model": model, "data": str(data), "output_dir": str(out), "max_length": 4096, "overwrite": True,
             "seed": seed, "args": {"max_steps": steps, "learning_rate": 3e-3, "warmup_steps": 0,
                                    "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                                    "max_grad_norm": 1.0, "disable_tqdm": True}}, log=_quiet)
    return [h["loss"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]


def dpo_curve(work: Path, model: str, steps: int, seed: int) -> list[float]:
    from cotforge.trainers.dpo import run_dpo

    rng = random.Random(seed)
    rows = []
    for _ in range(64):
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        wrong = a + b + rng.choice([-3, -2, -1, 1, 2, 3])
        # A preference the tiny model can learn (it cannot add): chosen is right and tagged, rejected is wrong
        # and untagged, as a rollout that fails the format and the answer.
        rows.append({"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                     "chosen": [{"role": "assistant", "content": f"<think>{a} plus {b} is {a + b}.</think> <answer>{a + b}</answer>"}],
                     "rejected": [{"role": "assistant", "content": f"<think>{a} plus {b} is {wrong}.</think> {wrong}"}]})
    data = _jsonl(work / "pairs.jsonl", rows)
    out = work / "dpo"
    run_dpo({"model": model, "data": str(data), "output_dir": str(out), "max_length": 256, "overwrite": True,
             "seed": seed, "args": {"max_steps": steps, "learning_rate": 1e-3, "per_device_train_batch_size": 8,
                                    "gradient_accumulation_steps": 1, "disable_tqdm": True}}, log=_quiet)
    return [h["rewards/margins"] for h in json.loads((out / "log_history.json").read_text()) if "rewards/margins" in h]


def grpo_curve(work: Path, model: str, steps: int, seed: int) -> list[float]:
    from cotforge.trainers.grpo import run_grpo

    data = _jsonl(work / "rl.jsonl", _arith_prompts(64, seed))
    out = work / "grpo"
    run_grpo({"model": model, "data": str(data), "output_dir": str(out), "overwrite": True, "seed": seed,
              "rewards": [{"func": "__main__:wait_reward"}],
              "args": {"max_steps": steps, "learning_rate": 3e-3, "num_generations": 4, "per_device_train_batch_size": 8,
                       "max_completion_length": 24, "temperature": 1.0, "weight_decay": 0.0, "disable_tqdm": True}}, log=_quiet)
    return [h["reward"] for h in json.loads((out / "log_history.json").read_text()) if "reward" in h]


def ppo_curve(work: Path, model: str, steps: int, seed: int, variant: str) -> list[float]:
    from cotforge.trainers.ppo import run_ppo

    data = _jsonl(work / "rl.jsonl", _arith_prompts(64, seed))
    out = work / variant
    run_ppo({"model": model, "data": str(data), "output_dir": str(out), "overwrite": True, "seed": seed,
             "variant": variant, "rewards": [{"type": "wait", "gamma": 1.0, "func": "__main__:wait_reward"}],
             "args": {"max_steps": steps, "learning_rate": 3e-3, "critic_learning_rate": 1e-2, "prompts_per_step": 4,
                      "samples_per_prompt": 4, "max_new_tokens": 24, "kl_coef": 0.0}}, log=_quiet)
    return [h["reward"] for h in json.loads((out / "log_history.json").read_text())]


def _start_end(curve: list[float]) -> tuple[float, float]:
    """Step 1 (the untrained model's loss, margin or samples' reward) and the mean of the last quarter."""
    k = max(1, len(curve) // 4)
    return curve[0], sum(curve[-k:]) / k


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="train_bench_out")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--only", default="sft,dpo,grpo,ppo,reinforce")
    args = p.parse_args(argv)
    import warnings

    import transformers

    from cotforge.testing.tiny_model import build_tiny_model

    # The curves are the output: no progress bars, per-step dicts or deprecation warnings around them.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore")

    out = Path(args.out)
    model = str(build_tiny_model(out / "tiny-model"))
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    metric = {"sft": "loss", "dpo": "reward margin", "grpo": "mean reward", "ppo": "mean reward", "reinforce": "mean reward"}
    curves: dict[str, list[list[float]]] = {w: [] for w in wanted}
    times: dict[str, list[float]] = {w: [] for w in wanted}
    for rep in range(args.repeats):
        for w in wanted:
            work = out / f"{w}-seed{rep}"
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            # TRL prints each step's log dict; it goes to the run's own log, the curve is printed below.
            with open(work / "train.log", "w") as chatter, contextlib.redirect_stdout(chatter):
                if w == "sft":
                    c = sft_curve(work, model, args.steps, rep)
                elif w == "dpo":
                    c = dpo_curve(work, model, args.steps, rep)
                elif w == "grpo":
                    c = grpo_curve(work, model, args.steps, rep)
                else:
                    c = ppo_curve(work, model, args.steps, rep, w)
            times[w].append(time.perf_counter() - t0)
            curves[w].append(c)
            print(f"{w} seed {rep}: {metric[w]} " + " ".join(f"{x:.3g}" for x in c), flush=True)
    print("\nstage      metric         step 1 -> last quarter mean     (range over seeds)        wall s")
    summary = {}
    for w in wanted:
        firsts, lasts = zip(*(_start_end(c) for c in curves[w]))
        if w == "sft":
            ratios = [lq / fq for fq, lq in zip(firsts, lasts)]
            change = f"end/start {min(ratios):.2f}..{max(ratios):.2f}"
        else:
            diffs = [lq - fq for fq, lq in zip(firsts, lasts)]
            change = f"end-start {min(diffs):+.3f}..{max(diffs):+.3f}"
        summary[w] = {"step1": list(firsts), "last_quarter": list(lasts), "curves": curves[w], "seconds": times[w]}
        print(f"{w:10s} {metric[w]:14s} {min(firsts):.3f}..{max(firsts):.3f} -> {min(lasts):.3f}..{max(lasts):.3f}   "
              f"{change:28s} {min(times[w]):.0f}..{max(times[w]):.0f}")
    (out / "train_bench.json").write_text(json.dumps(summary, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(wanted), figsize=(4 * len(wanted), 3.2))
        axes = [axes] if len(wanted) == 1 else list(axes)
        for ax, w in zip(axes, wanted):
            for rep, c in enumerate(curves[w]):
                ax.plot(range(1, len(c) + 1), c, label=f"seed {rep}")
            ax.set_title(w)
            ax.set_xlabel("step")
            ax.set_ylabel(metric[w])
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "train_bench.png", dpi=110)
        print(f"\nwrote {out / 'train_bench.png'} and {out / 'train_bench.json'}")
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install 'cotforge[eval]')")
    print("note: CPU shared with other jobs; wall times are indicative only.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
