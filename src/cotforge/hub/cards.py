"""Dataset cards rendered from the Jinja templates in the top-level ``cards/`` folder.

A card is YAML front matter (license, tags and the ``configs:`` list that tells ``load_dataset``
which files belong to which config and split) followed by prose filled from the manifest and the
dataset's statistics. The YAML is generated here, not templated, so it is always valid.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from cotforge.store import layout


def cards_dir() -> Path:
    """Where the card templates live: $COTFORGE_CARDS_DIR, else the repository's ``cards/``."""
    env = os.environ.get("COTFORGE_CARDS_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "cards")
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "card templates not found (looked in: " + ", ".join(map(str, candidates)) + "); "
        "install cotforge from its repository with `pip install -e .` or set COTFORGE_CARDS_DIR"
    )


def configs_yaml(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's ``configs:`` entries, one per config, listing each split's shard pattern.

    Empty splits are left out (``datasets`` raises on a split with no data), and so is a config
    whose splits are all empty.
    """
    by_config: dict[str, list[str]] = {}
    for key, entry in manifest["splits"].items():
        if not entry.get("rows"):
            continue
        config, split = layout.parse_split_key(key)
        by_config.setdefault(config, []).append(split)
    out = []
    for config, splits in by_config.items():
        out.append(
            {
                "config_name": config,
                "data_files": [{"split": s, "path": layout.split_glob(config, s)} for s in splits],
            }
        )
    return out


def front_matter(manifest: dict[str, Any], meta: dict[str, Any]) -> str:
    data = dict(meta)
    data["configs"] = configs_yaml(manifest)
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


@functools.lru_cache(maxsize=8)
def _environment(folder: str):
    """One Jinja environment per templates folder: it caches compiled templates (and re-reads a
    template whose file changed), so a build does not recompile its card (~25 ms) every time."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,  # a missing statistic is a bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["pct"] = lambda x, digits=1: f"{100 * x:.{digits}f}%" if x is not None else "n/a"
    return env


def render_card(template: str, manifest: dict[str, Any], *, meta: dict[str, Any], **context: Any) -> str:
    """Render ``cards/<template>`` with the manifest and ``context``; prepend the YAML front matter."""
    body = _environment(str(cards_dir())).get_template(template).render(manifest=manifest, **context)
    return front_matter(manifest, meta) + body
