"""Against the real Hub, for a maintainer: skipped unless ``--live`` is given.

    HF_TOKEN=hf_... COTFORGE_LIVE_REPO=<user>/cotforge-scratch python -m pytest tests/hub/test_live.py --live

(``--live`` also works with the whole suite: ``python -m pytest tests --live``.)

``COTFORGE_LIVE_REPO`` must be a dataset repository you own that is new or only ever published to by
cotforge (each run publishes one more patch version to it); delete it afterwards. The offline tests
cover the protocol; this one checks what they cannot: the real server's answers, LFS/Xet uploads of
Parquet shards, and server-side processing of the card.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from .hub_folders import build_folder

from cotforge.hub.publish import publish
from cotforge.hub.pull import pull


@pytest.fixture
def live_repo(request, monkeypatch):
    if not request.config.getoption("--live"):  # registered in tests/conftest.py
        pytest.skip("live Hub test: run `python -m pytest tests/hub/test_live.py --live` with HF_TOKEN and COTFORGE_LIVE_REPO")
    repo = os.environ.get("COTFORGE_LIVE_REPO")
    if not repo or not os.environ.get("HF_TOKEN"):
        pytest.fail("--live needs HF_TOKEN and COTFORGE_LIVE_REPO=<user>/<scratch-dataset-repo>")
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return repo


def test_publish_pull_and_load_against_the_real_hub(tmp_path, live_repo):
    folder = build_folder(tmp_path / "ds", {"main/train": 20, "main/test": 5}, salt=f" {time.time_ns()}")
    result = publish(folder, live_repo, bump="patch")
    assert result.status == "published"
    assert publish(folder, live_repo).status == "unchanged"
    checked = pull(live_repo, result.tag, tmp_path / "pulled")
    assert checked.rows == {"main/train": 20, "main/test": 5}
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    code = ("import json, sys; from datasets import load_dataset; "
            f"ds = load_dataset({live_repo!r}, 'main', split='train', revision={result.tag!r}); print(json.dumps(ds.num_rows))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == 20
