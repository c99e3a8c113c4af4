"""Shared test setup: everything runs offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny Llama-style chat model + BPE tokenizer built locally once per test session (a few seconds).

    See ``cotforge.testing.tiny_model``; skips when the ``train`` extra (torch, transformers) is absent.
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from cotforge.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def pytest_addoption(parser):
    # Here, not in tests/hub/conftest.py: an option is only known when its conftest loads at start-up,
    # so `python -m pytest tests --live` would otherwise be refused.
    parser.addoption("--live", action="store_true", default=False,
                     help="run tests/hub/test_live.py against the real Hub (needs HF_TOKEN and COTFORGE_LIVE_REPO)")
