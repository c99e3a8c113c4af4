"""Publish two K&K versions through the write server, then load both tags back with the real
``datasets.load_dataset`` in a fresh process, through olah serving the server's git repos.

The two halves meet only through git: nothing of the write server is on the read path. When olah
cannot be installed the test is skipped with the reason; ``.ci/run`` installs it and sets
``COTFORGE_REQUIRE_OLAH=1``, which turns that skip into a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from .hub_server import HubServer
from .olah_mirror import OlahMirror, find_olah

from cotforge.hub.publish import publish

REPO = "org/kk"

LOADER = r"""
import json, sys
from datasets import load_dataset
out = {}
for tag, config, split in json.loads(sys.argv[1]):
    ds = load_dataset("org/kk", config, split=split, revision=tag)
    out[f"{tag} {config}/{split}"] = list(ds["id"])
try:
    load_dataset("org/kk", "5ppl", split="train", revision="v1.0.0")
    out["absent"] = None
except Exception as exc:
    out["absent"] = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps(out))
"""


def _ids(folder: Path, config: str, split: str) -> list[str]:
    files = sorted((folder / "data" / config).glob(f"{split}-*.parquet"))
    return [i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    cli, reason = find_olah()
    if cli is None and os.environ.get("COTFORGE_REQUIRE_OLAH") == "1":  # CI: a skip would hide the gap
        pytest.fail(f"COTFORGE_REQUIRE_OLAH=1 but olah is not available: {reason}")
    if cli is None:
        pytest.skip(f"olah is not available, so nothing is loaded back: {reason}")
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    tmp = tmp_path_factory.mktemp("load_back")
    v1, v2 = tmp / "kk-v1", tmp / "kk-v2"
    build_kk(v1, KKBuildConfig(people=(3, 4), train=12, test=4))
    build_kk(v2, KKBuildConfig(people=(3, 4, 5), train=18, test=4), version="1.1.0")  # more rows, a new config
    with pytest.MonkeyPatch.context() as mp:
        import huggingface_hub.constants as hf_constants
        from huggingface_hub import HfApi

        mp.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        with HubServer(tmp / "hub") as hub:
            api = HfApi(endpoint=hub.url, token="write-token")
            results = [publish(v1, REPO, api=api, token="write-token"),
                       publish(v1, REPO, api=api, token="write-token"),
                       publish(v2, REPO, api=api, token="write-token")]
    mirror = OlahMirror(cli, tmp / "hub", tmp / "olah")
    wanted = [("v1.0.0", "3ppl", "train"), ("v1.0.0", "4ppl", "test"), ("v1.1.0", "3ppl", "train"),
              ("v1.1.0", "5ppl", "train")]
    # HF_ENDPOINT and HF_HUB_DISABLE_XET are set before huggingface_hub is imported: in a new process
    # (and online: the tests' offline switches would stop the client before it reaches the mirror)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGINGFACE_")) and k != "TRANSFORMERS_OFFLINE"}
    env.update(HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0")
    with mirror as url:
        env["HF_ENDPOINT"] = url
        out = subprocess.run([sys.executable, "-c", LOADER, json.dumps(wanted)], env=env, capture_output=True,
                             text=True, timeout=240)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"loader failed (rc {out.returncode}): {out.stderr[-3000:]}\nolah log: {mirror.log.read_text()[-2000:]}"
    return {"results": results, "loads": json.loads(line[7:]), "v1": v1, "v2": v2, "pgid": mirror.pgid}


def test_publish_v1_then_noop_then_v1_1(loaded):
    first, again, second = loaded["results"]
    assert (first.status, first.tag) == ("published", "v1.0.0")
    assert (again.status, again.tag) == ("unchanged", "v1.0.0")
    assert (second.status, second.tag) == ("published", "v1.1.0")


def test_both_tags_load_with_their_own_rows(loaded):
    loads, v1, v2 = loaded["loads"], loaded["v1"], loaded["v2"]
    assert loads["v1.0.0 3ppl/train"] == _ids(v1, "3ppl", "train") and len(loads["v1.0.0 3ppl/train"]) == 12
    assert loads["v1.0.0 4ppl/test"] == _ids(v1, "4ppl", "test")
    assert loads["v1.1.0 3ppl/train"] == _ids(v2, "3ppl", "train") and len(loads["v1.1.0 3ppl/train"]) == 18
    assert loads["v1.1.0 5ppl/train"] == _ids(v2, "5ppl", "train")


def test_a_config_added_in_v1_1_is_absent_at_v1_0_with_a_clear_error(loaded):
    absent = loaded["loads"]["absent"]
    assert absent is not None, "load_dataset found 5ppl at v1.0.0"
    assert absent.startswith("ValueError: BuilderConfig '5ppl' not found. Available:"), absent
    assert "'3ppl'" in absent and "'4ppl'" in absent, absent  # names what v1.0.0 does have


def test_olah_and_its_uvicorn_child_are_stopped(loaded):
    with pytest.raises(ProcessLookupError):
        os.killpg(loaded["pgid"], 0)
