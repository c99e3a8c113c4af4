"""Recipes: the three files parse with valid stage keys and trainer arguments, tiny overrides merge as
documented, references fail clearly, and the warm-up chain runs end to end on CPU (and resumes)."""

import dataclasses
import json
from pathlib import Path

import pytest

from cotforge.errors import UsageError
from cotforge.trainers.recipe import KINDS, TRAIN_KINDS, load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["warmup", "demystify", "phi4_mini"])
@pytest.mark.parametrize("tiny", [False, True])
def test_recipe_files_have_valid_stages(name, tiny):
    pytest.importorskip("trl")
    from trl import DPOConfig, GRPOConfig, SFTConfig

    from cotforge.trainers.config import check_stage
    from cotforge.trainers.dpo import DPO_KEYS
    from cotforge.trainers.grpo import GRPO_KEYS
    from cotforge.trainers.ppo import PPO_KEYS, PPOSettings
    from cotforge.trainers.sft import SFT_KEYS

    own = {"sft": (SFT_KEYS, SFTConfig), "dpo": (DPO_KEYS, DPOConfig), "grpo": (GRPO_KEYS, GRPOConfig),
           "ppo": (PPO_KEYS, PPOSettings)}
    recipe = load_recipe(RECIPES / f"{name}.yaml", tiny=tiny)
    assert ("kk" in [s["name"] for s in recipe["stages"]]) == (tiny or name == "warmup")
    for st in recipe["stages"]:
        assert st["kind"] in KINDS
        if st["kind"] in TRAIN_KINDS:
            keys, cls = own[st["kind"]]
            cfg = {k: v for k, v in st.items() if k not in ("name", "kind")}
            cfg.update(output_dir="x", data=cfg["data"] if isinstance(cfg["data"], str) else {"path": "x", **{
                k: v for k, v in cfg["data"].items() if k != "from"}})
            check_stage(cfg, keys, st["name"])
            fields = {f.name for f in dataclasses.fields(cls)}
            assert set(cfg.get("args", {})) <= fields, (st["name"], set(cfg.get("args", {})) - fields)


def test_recipe_defaults_follow_the_papers():
    warm = {s["name"]: s for s in load_recipe(RECIPES / "warmup.yaml")["stages"]}
    assert warm["grpo"]["args"]["loss_type"] == "bnpo" and warm["grpo"]["args"]["beta"] == 0.0
    assert warm["grpo"]["data"]["limit"] == 100 and warm["grpo"]["max_prompt_length"] == 256
    assert warm["sft"]["args"]["learning_rate"] == 1e-6 and warm["sft"]["args"]["max_grad_norm"] == 0.1
    phi = {s["name"]: s for s in load_recipe(RECIPES / "phi4_mini.yaml")["stages"]}
    assert phi["midtrain"]["packing"] is True and phi["sft"]["packing"] is False
    assert phi["dpo"]["args"]["learning_rate"] == 5e-7
    assert phi["grpo"]["temperature_schedule"] == {"start": 1.0, "end": 0.6, "fraction": 0.5}
    dem = {s["name"]: s for s in load_recipe(RECIPES / "demystify.yaml")["stages"]}
    gammas = {r["type"]: r["gamma"] for r in dem["ppo"]["rewards"]}
    assert gammas == {"correctness": 1.0, "repetition": 0.999}
    assert dem["ppo"]["args"]["learning_rate"] == 5e-7 and dem["ppo"]["args"]["critic_learning_rate"] == 9e-6


def test_tiny_replaces_data_and_merges_args(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("""
name: r
stages:
  - {name: a, kind: sft, model: m, data: {path: big, config: accepted, limit: 100}, args: {learning_rate: 1.0, max_steps: 9}}
tiny:
  a: {data: {from: kk, split: train}, args: {max_steps: 1}}
""")
    st = load_recipe(f, tiny=True)["stages"][0]
    assert st["data"] == {"from": "kk", "split": "train"}  # replaced whole: no stray path/limit
    assert st["args"] == {"learning_rate": 1.0, "max_steps": 1}  # merged
    st = load_recipe(f, overrides=["a.args.max_steps=3"])["stages"][0]
    assert st["args"]["max_steps"] == 3


@pytest.mark.parametrize("text, message", [
    ("name: r\nstages: []\n", "non-empty list"),
    ("name: r\nstages:\n  - {name: a, kind: train}\n", "unknown kind 'train'"),
    ("name: r\nstages:\n  - {name: a, kind: sft}\n  - {name: a, kind: dpo}\n", "distinct"),
    ("name: r\nstagez: []\n", "unknown key 'stagez'"),
])
def test_bad_recipes(tmp_path, text, message):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_recipe(f)


def test_reference_to_a_stage_not_run(tmp_path):
    from cotforge.trainers.recipe import run_recipe

    f = tmp_path / "r.yaml"
    f.write_text("name: r\nstages:\n  - {name: s, kind: sft, model: {from: missing}, data: x}\n")
    with pytest.raises(UsageError, match="reads stage 'missing'"):
        run_recipe(f, tmp_path / "run", log=lambda s: None)
    with pytest.raises(UsageError, match="--stages: no stage named nope"):
        run_recipe(f, tmp_path / "run", stages=["nope"], log=lambda s: None)


@pytest.mark.slow
def test_warmup_recipe_tiny_end_to_end(tmp_path):
    pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM

    from cotforge.cli import main

    out = tmp_path / "run"
    shrink = ["--set", "distill.sampling.n=1", "--set", "distill.sampling.max_tokens=16", "--set", "sft.args.max_steps=1", "--set", "grpo.args.max_steps=1",
              "--set", "eval.limit=1"]
    assert main(["recipe", "run", str(RECIPES / "warmup.yaml"), "--tiny", "--out", str(out), *shrink]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["kk", "distill", "sft", "grpo", "eval"]
    kk_hash = json.loads((out / "kk" / "manifest.json").read_text())["content_hash"]
    distill_hash = json.loads((out / "distill" / "manifest.json").read_text())["content_hash"]
    for stage, data_hash in (("sft", distill_hash), ("grpo", kk_hash)):
        AutoModelForCausalLM.from_pretrained(out / stage)
        record = json.loads((out / stage / "cotforge_train.json").read_text())
        assert record["data"]["content_hash"] == data_hash
        assert record["recipe"]["name"] == "warmup" and record["recipe"]["stage"] == stage
        card = (out / stage / "README.md").read_text()
        assert data_hash in card and "warmup" in card
    grpo = json.loads((out / "grpo" / "cotforge_train.json").read_text())
    assert grpo["base_model"] == str(out / "sft")
    assert grpo["data"]["rows"] == 100 and grpo["report"]["data_filter"]["kept"] == 100  # GRPO on 100 examples
    assert "kk" in report["stages"][-1]["scores"]
    # a rerun skips the finished training stages
    logs = []
    from cotforge.trainers.recipe import run_recipe

    run_recipe(RECIPES / "warmup.yaml", out, tiny=True, stages=["sft", "grpo"], log=logs.append,
               overrides=["distill.sampling.n=1", "distill.sampling.max_tokens=16", "sft.args.max_steps=1", "grpo.args.max_steps=1", "eval.limit=1"])
    assert sum("finished before with this config; skipped" in line for line in logs) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name, chain, trained", [
    ("demystify", ["kk", "distill", "sft", "ppo", "eval"], {"sft": "distill", "ppo": "kk"}),
    ("phi4_mini", ["kk", "distill", "midtrain", "sft", "student_rollouts", "pairs", "dpo", "grpo", "eval"],
     {"midtrain": "distill", "sft": "distill", "dpo": "pairs", "grpo": "kk"}),
])
def test_other_recipes_tiny_chains(tmp_path, name, chain, trained):
    """The long-CoT and Phi-4-Mini chains run on CPU: each training stage's folder loads and its card names
    the data it read (folder, content hash), the recipe and the stage; each stage reads the one before."""
    pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM

    from cotforge.trainers.recipe import run_recipe

    out = tmp_path / "run"
    shrink = [f"{s}.args.max_steps=1" for s in trained] + ["eval.limit=1"]
    report = run_recipe(RECIPES / f"{name}.yaml", out, tiny=True, overrides=shrink, log=lambda s: None)
    assert [s["name"] for s in report["stages"]] == chain
    previous = {s["name"]: i for i, s in enumerate(report["stages"])}
    for stage, source in trained.items():
        AutoModelForCausalLM.from_pretrained(out / stage)
        record = json.loads((out / stage / "cotforge_train.json").read_text())
        data_hash = json.loads((out / source / "manifest.json").read_text())["content_hash"]
        assert record["data"]["path"] == str(out / source) and record["data"]["content_hash"] == data_hash
        assert record["recipe"] == {"name": name, "file": str(RECIPES / f"{name}.yaml"), "stage": stage, "tiny": True}
        card = (out / stage / "README.md").read_text()
        assert data_hash in card and f"recipe `{name}`" in card
        base = record["base_model"]
        if base != str(out / "tiny-model"):  # a later stage starts from an earlier stage's folder
            assert previous[Path(base).name] < previous[stage]
    assert (out / "report.md").is_file() and "kk" in report["stages"][-1]["scores"]
