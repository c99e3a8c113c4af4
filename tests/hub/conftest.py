"""Fixtures for the publishing tests: the local write server and an HfApi pointed at it."""

from __future__ import annotations

import pytest

from .hub_folders import WRITE_TOKEN
from .hub_server import HubServer


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
