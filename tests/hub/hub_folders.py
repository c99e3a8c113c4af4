"""Small finished cotforge folders for the publishing tests (a module of its own: test folders
share the module name ``conftest``, so tests import helpers from here)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

SCHEMA = pa.schema([("idx", pa.int64()), ("text", pa.string())])
WRITE_TOKEN = "write-token"


class ListSource:
    schema = SCHEMA

    def __init__(self, rows: list[dict]):
        self._rows = rows

    def rows(self, start=0, done=()):
        yield from self._rows[start:]


def build_folder(root: Path, splits: dict[str, int], *, version: str = "1.0.0", salt: str = "") -> Path:
    """A finished cotforge dataset: ``splits`` maps ``config/split`` to a row count."""
    from cotforge.hub.cards import front_matter
    from cotforge.store.dataset import DatasetWriter

    writer = DatasetWriter(root, name="toy", family="toy", version=version,
                           build_config={"splits": splits, "salt": salt}, seeds={"seed": 0}, command="test")
    for key, n in splits.items():
        config, split = key.split("/")
        writer.write_split(config, split, ListSource([{"idx": i, "text": f"{key} row {i}{salt}"} for i in range(n)]))
    writer.finish(render_card=lambda m: front_matter(m, {"license": "mit"}) + f"# {m['name']} (v{m['version']})\n\n"
                  f"| field | value |\n|---|---|\n| dataset version | {m['version']} |\n")
    return root
