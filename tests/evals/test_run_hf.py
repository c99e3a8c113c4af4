"""The tiny model through the hf backend on a few questions of every benchmark (CPU)."""

import hashlib
import json

import pytest

from cotforge.evals import run_eval
from cotforge.evals.benchmarks import REGISTRY
from cotforge.evals.runner import RAW_TEMPLATE

from conftest import needs_shared


@needs_shared
def test_tiny_model_on_every_benchmark(tiny_model_dir, tmp_path):
    res = run_eval(
        str(tiny_model_dir), list(REGISTRY), tmp_path / "run", backend="hf", limit=2, max_tokens=4, n=1,
        backend_options={"num_threads": 1}, plots=False,
    )
    assert list(res["benchmarks"]) == list(REGISTRY)
    for name, b in res["benchmarks"].items():
        assert b["questions"] == 2 and b["samples"] == 2, name
        assert 0.0 <= b["avg@n"] <= 1.0
        assert sum(b["rates"].values()) <= 1.0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stats"]["environment"]["chat_template"]["mode"] == "chat"
    assert len(manifest["stats"]["environment"]["chat_template"]["sha256"]) == 64
    assert manifest["build_config"]["model"]["config_sha256"]


@needs_shared
def test_prompt_over_the_context_limit_is_an_error_row_and_raw_mode_skips_the_chat_template(tiny_model_dir, tmp_path):
    import pyarrow.parquet as pq

    res = run_eval(
        str(tiny_model_dir), ["mmlu_pro"], tmp_path / "short", backend="hf", limit=2, max_tokens=2,
        backend_options={"max_model_len": 16}, plots=False,
    )
    b = res["benchmarks"]["mmlu_pro"]
    assert b["rates"]["error"] == 1.0 and b["avg@n"] == 0.0
    rows = pq.read_table(next((tmp_path / "short" / "data" / "mmlu_pro").glob("*.parquet"))).to_pylist()
    assert all(r["status"] == "error" and "context length exceeded" in r["reason"] for r in rows)

    raw = run_eval(str(tiny_model_dir), ["aime24"], tmp_path / "raw", backend="hf", limit=1, max_tokens=2,
                   chat_template=False, plots=False)
    env = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert env["build_config"]["prompt_mode"] == "raw"
    assert env["stats"]["environment"]["chat_template"]["sha256"] == hashlib.sha256(RAW_TEMPLATE.encode()).hexdigest()
    assert raw["benchmarks"]["aime24"]["samples"] == 1
    with pytest.raises(ValueError, match="raw prompts need hf or vllm"):
        run_eval("m", ["aime24"], tmp_path / "x", backend="openai", chat_template=False)
