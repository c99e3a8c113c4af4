"""The K&K dataset card: template ``cards/kk.md.j2`` filled from the manifest and its statistics.

The card holds no local path (its load snippet and rebuild command use placeholders), so two
folders with the same data have byte-identical cards. Besides the per-size configs its YAML lists
combined configs ("3-7ppl": every split of several sizes in one config), which ``load_dataset``
reads like any other.
"""

from __future__ import annotations

from typing import Any

import yaml

from cotforge.store import layout

META = {
    "license": "mit",
    "language": ["en"],
    "task_categories": ["text-generation", "question-answering"],
    "tags": ["logic", "reasoning", "knights-and-knaves", "synthetic", "rlvr", "cotforge"],
    "pretty_name": "Knights and Knaves puzzles (cotforge)",
}

FIELDS = [
    ("quiz", "string", "the puzzle text: preamble, one statement per person, question"),
    ("names", "list[string]", "the inhabitants, in order (person i is names[i])"),
    ("knight_knave", "struct", "the role words used (public K&K field)"),
    ("solution", "list[bool]", "True = knight (truth-teller), per person"),
    ("solution_text", "string", '"A is a knight, B is a knave, and C is a knight."'),
    ("solution_text_format", "string", '"(1) A is a knight\\n(2) B is a knave ..."'),
    ("cot_head / cot_repeat_steps / cot_foot", "string / list / string", "public-style constructed reasoning steps"),
    ("statements", "string", "public tuple encoding, people 0-indexed: ('and', ('telling-truth', 1), ('lying', 2))"),
    ("id", "string", "stable id: hash of the puzzle's content"),
    ("index", "int64", "position within its split"),
    ("n_people / depth / width", "int16", "size and grammar limits it was sampled with"),
    ("logic_key", "string", "canonical logical identity: statements' truth tables, minimised over renamings"),
    ("n_degenerate", "int16", "statements that are tautologies or contradictions"),
    ("prompt", "list[{role, content}]", "R1-style chat prompt asking for <think> then <answer>"),
    ("answer", "string", "ground truth for reward functions (= solution_text_format)"),
    ("cot", "string", "constructed long CoT: the solver's search narrated, ending in the answer"),
    ("perturbation / perturbed_from", "string", "perturbation kind and original id (null for originals)"),
]

def combined_configs(manifest: dict[str, Any], groups: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    """One ``configs:`` entry per group of sizes: each split lists the shard patterns of its sizes."""
    from cotforge.datagen.kk.plan import combined_name

    out = []
    for group in groups:
        files: dict[str, list[str]] = {}
        for n in group:
            for split in ("train", "test"):
                if manifest["splits"].get(f"{n}ppl/{split}", {}).get("rows"):
                    files.setdefault(split, []).append(layout.split_glob(f"{n}ppl", split))
        if files:
            out.append({"config_name": combined_name(group),
                        "data_files": [{"split": s, "path": p} for s, p in files.items()]})
    return out


def _unread_role_words(cfg) -> str:
    """Which rows use role words other than knight/knave, for the Logic-RL warning."""
    from cotforge.datagen.kk.export import LOGIC_RL_ROLE_WORDS

    parts = []
    if set(cfg.role_pair.split("/", 1)) != LOGIC_RL_ROLE_WORDS:
        parts.append(f"{cfg.role_pair} in every config")
    if "role_pair" in cfg.perturbations:
        parts.append("the `role_pair` perturbation's pairs in the `<n>ppl_perturbed_role_pair` configs")
    return "; ".join(parts)


def render_kk_card(manifest: dict[str, Any], *, plans: list[dict[str, Any]], cfg=None, out_dir: str | None = None) -> str:
    """The card (``out_dir`` is accepted for old callers and ignored: cards name no local path)."""
    from cotforge.datagen.kk.export import logic_rl_unreadable
    from cotforge.datagen.kk.plan import KKBuildConfig, combined_name
    from cotforge.hub.cards import configs_yaml, render_card

    if cfg is None:
        known = {k: v for k, v in manifest["build_config"].items() if k in KKBuildConfig.__dataclass_fields__}
        known["people"] = tuple(known.get("people", ()))
        known["perturbations"] = tuple(known.get("perturbations", ()))
        known["combined"] = tuple(tuple(g) for g in known.get("combined", ()))
        cfg = KKBuildConfig(**known)
    splits = []
    for key, entry in manifest["splits"].items():
        config, split = layout.parse_split_key(key)
        splits.append({"config": config, "split": split, "rows": entry["rows"], "shards": len(entry["shards"]),
                       "stats": manifest["stats"].get(key, {})})
    totals = {"rows": sum(s["rows"] for s in splits)}
    combined = combined_configs(manifest, cfg.combined_groups())
    references = []
    for p in plans:
        ref = manifest["stats"].get(f"reference/{p['n_people']}ppl")
        if ref:
            references.append({"config": f"{p['n_people']}ppl", "plan": p, "ref": ref,
                               "splits": [s for s in splits if s["config"] == f"{p['n_people']}ppl" and s["rows"]]})
    placeholders = [f"EXCLUDE_{i + 1}" for i in range(len(cfg.exclude))]
    first = next((s for s in splits if s["rows"]), splits[0])
    body = render_card(
        "kk.md.j2", manifest, meta=META, splits=splits, plans=plans, fields=FIELDS, totals=totals, config=cfg,
        exclude=manifest["build_config"].get("exclude_record"), command=cfg.command("OUT", placeholders),
        combined=[c["config_name"] for c in combined], first=first, references=references,
        combined_split=combined[0]["data_files"][0]["split"] if combined else None,
        logic_rl_warning=logic_rl_unreadable(cfg.role_pair, cfg.perturbations),
        logic_rl_unread=_unread_role_words(cfg),
        logical=[k for k in cfg.perturbations if k in ("statement", "leaf")],
        language=[k for k in cfg.perturbations if k not in ("statement", "leaf")],
        combined_name=combined_name,
    )
    # the front matter gains the combined configs (render_card writes the per-config ones)
    assert body.startswith("---\n")
    end = body.index("\n---\n", 4) + len("\n---\n")
    data = dict(META)
    data["configs"] = configs_yaml(manifest) + combined
    front = "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000) + "---\n"
    return front + body[end:]
