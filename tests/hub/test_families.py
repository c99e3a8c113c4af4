"""Distill and pairs folders, as their builders write them, publish and pull back verified."""

from __future__ import annotations

from cotforge.hub.publish import publish
from cotforge.hub.pull import pull

GOLD = "(1) Ann is a knight\n(2) Bob is a knave"


class Fixed:
    """A teacher that always says the same thing (the builders' own tests use the same stand-in)."""

    name = "fixed"

    def __init__(self, model, text):
        self.model, self.text = model, text

    def generate(self, requests, params):
        from cotforge.datagen.backends.base import Completion

        return [[Completion(self.text + f" ({j})", None, 5, 7 + j, "stop", None, j) for j in range(params.n)]
                for _ in requests]

    def close(self):
        pass


def _distill(root, model, text):
    from cotforge.datagen.distill import DistillConfig, distill
    from cotforge.datagen.inputs import Problem

    problems = [Problem(0, "Ann and Bob: who is who?", GOLD, "kk"), Problem(1, "Ann and Bob again?", GOLD, "kk")]
    cfg = DistillConfig(backend="fixed", model=model, sampling={"n": 2}, template={"system": None, "user": "{problem}"},
                        keep="all")
    distill(problems, root, cfg, generator=Fixed(model, text))
    return root


def test_distill_and_pairs_folders_publish_and_pull(tmp_path, hub, api):
    from cotforge.datagen.pairs import PairsConfig, build_pairs

    strong = _distill(tmp_path / "strong", "strong", f"<answer>{GOLD}</answer>")
    weak = _distill(tmp_path / "weak", "weak", "<answer>(1) Ann is a knave\n(2) Bob is a knave</answer>")
    build_pairs([strong, weak], tmp_path / "pairs", PairsConfig(max_per_prompt=2))

    distilled = publish(strong, "org/distill", api=api)
    assert distilled.status == "published" and distilled.tag == "v1.0.0"
    pairs = publish(tmp_path / "pairs", "org/pairs", api=api)
    assert pairs.load_line == 'load_dataset("org/pairs", "default", revision="v1.0.0")'
    back = pull("org/distill", "v1.0.0", tmp_path / "back", api=api)
    assert back.content_hash == distilled.content_hash and set(back.rows) >= {"accepted/train", "all/train"}
    assert publish(tmp_path / "pairs", "org/pairs", api=api).status == "unchanged"
