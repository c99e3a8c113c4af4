"""The model card's ``base_model`` is a Hub model id or absent: the Hub rejects a card whose
``base_model`` is a local path, and a chain of local stage folders leads back to the Hub model."""

import json

import yaml

from cotforge.trainers.card import RUN_RECORD, hub_base_model, write_model_card


def _front(folder):
    text = (folder / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1])


def _card(folder, base):
    folder.mkdir(parents=True, exist_ok=True)
    write_model_card(folder, stage="sft", base_model=str(base), data={"path": "d", "rows": 1}, config={}, trainer_args={},
                     report={})


def test_a_hub_id_is_the_base_model(tmp_path):
    _card(tmp_path / "m", "Qwen/Qwen2.5-Math-7B")
    assert _front(tmp_path / "m")["base_model"] == "Qwen/Qwen2.5-Math-7B"


def test_a_chain_of_local_stage_folders_leads_back_to_the_hub_model(tmp_path):
    _card(tmp_path / "sft", "Qwen/Qwen2.5-1.5B")
    _card(tmp_path / "dpo", tmp_path / "sft")
    _card(tmp_path / "grpo", tmp_path / "dpo")
    front = _front(tmp_path / "grpo")
    assert front["base_model"] == "Qwen/Qwen2.5-1.5B"
    assert str(tmp_path / "dpo") not in yaml.safe_dump(front)
    card = (tmp_path / "grpo" / "README.md").read_text()
    assert f"Starts from the local folder `{tmp_path / 'dpo'}`, which descends from `Qwen/Qwen2.5-1.5B`." in card
    # the run record keeps exactly what the stage started from
    assert json.loads((tmp_path / "grpo" / RUN_RECORD).read_text())["base_model"] == str(tmp_path / "dpo")


def test_a_local_model_of_unknown_origin_names_no_base_model(tmp_path):
    (tmp_path / "tiny").mkdir()
    _card(tmp_path / "m", tmp_path / "tiny")
    assert "base_model" not in _front(tmp_path / "m")
    assert hub_base_model("out/demo/tiny-model") is None  # a relative path is never an id
    assert hub_base_model("../x/y") is None


def test_a_cycle_of_records_ends(tmp_path):
    for a, b in (("a", "b"), ("b", "a")):
        (tmp_path / a).mkdir(exist_ok=True)
        (tmp_path / a / RUN_RECORD).write_text(json.dumps({"base_model": str(tmp_path / b)}))
    assert hub_base_model(str(tmp_path / "a")) is None
