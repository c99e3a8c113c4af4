"""Fixtures for the publishing tests: small cotforge folders and the local write server."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_server import HubServer  # noqa: E402

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


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The local write server, with HF_TOKEN set to its write token and Xet disabled in this process."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    with HubServer(tmp_path / "hub") as server:
        yield server


@pytest.fixture
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.url, token=WRITE_TOKEN)


def pytest_addoption(parser):
    # `python -m pytest tests/hub/test_live.py --live` (the option exists when this folder is named on the command line)
    parser.addoption("--live", action="store_true", default=False,
                     help="run tests/hub/test_live.py against the real Hub (needs HF_TOKEN and COTFORGE_LIVE_REPO)")
