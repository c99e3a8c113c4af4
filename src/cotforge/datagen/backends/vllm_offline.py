"""The ``vllm`` backend: offline batch generation with ``vllm.LLM``, tensor and data parallel.

Kept thin on purpose; the parts that are ours:

* Prompts are rendered with the model's chat template and tokenized here, then passed as
  ``{"prompt_token_ids": ...}`` to ``LLM.generate`` (what ``LLM.chat`` does inside). A prompt longer
  than ``max_model_len`` is an error result instead of a ``ValueError`` that fails the whole batch, and
  each sample's ``max_tokens`` is capped to the room left in the context (finish reason "length").
* Each sample is its own request (``n=1``) seeded with ``sample_seed(seed, prompt_id, j)``, so sample
  ``j`` does not depend on ``n``, on the batch or on the data-parallel rank that ran it. vLLM V1 fans
  ``n > 1`` out into separate requests anyway, and prefix caching shares the prompt's KV cache.
* Data parallel (``data_parallel_size > 1``): one engine per rank in its own spawned process, each
  seeing ``tensor_parallel_size`` GPUs through ``CUDA_VISIBLE_DEVICES`` (vLLM's
  ``examples/offline_inference/data_parallel.py`` pattern, without the DP coordination that only MoE
  expert parallelism needs). Prompts are dealt round-robin; results come back in request order.

vLLM APIs used: ``LLM(model, tensor_parallel_size, dtype, seed, gpu_memory_utilization,
max_model_len, enable_prefix_caching, trust_remote_code, **engine_kwargs)``, ``LLM.get_tokenizer()``,
``LLM.generate(prompts, sampling_params=[...], use_tqdm=...)``, ``SamplingParams(n, temperature,
top_p, top_k, max_tokens, stop, seed, include_stop_str_in_output, skip_special_tokens)`` and
``RequestOutput.prompt_token_ids`` / ``.outputs[0].{text, token_ids, finish_reason}``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from typing import Any

from cotforge.datagen.backends._chat import check_chat_template, load_chat_template, render_all
from cotforge.datagen.backends.base import (
    Completion,
    GenerationRequest,
    GeneratorBase,
    SamplingParams,
    apply_stop,
    check_sample_grid,
    sample_seed,
    split_reasoning,
)
from cotforge.errors import UsageError, require

_PURPOSE = "the 'vllm' generation backend"


class VLLMGenerator(GeneratorBase):
    """Offline vLLM generation.

    ``engine_kwargs`` go to ``vllm.LLM`` unchanged (e.g. ``{"enforce_eager": True}``). ``gpu_ids``:
    the devices to spread data-parallel ranks over (default: ``$CUDA_VISIBLE_DEVICES`` or
    ``0..dp*tp-1``); rank ``r`` gets ``gpu_ids[r*tp:(r+1)*tp]``.
    """

    name = "vllm"

    #: the distill engine sends at least this many prompts per call: vLLM batches continuously inside
    #: one ``generate`` call, so small calls leave the GPU idle while each batch's last request finishes
    min_batch_prompts = 256

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
        trust_remote_code: bool = False,
        chat_template: str | None = None,
        gpu_ids: Sequence[int] | None = None,
        use_tqdm: bool = False,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        require("vllm", "vllm", _PURPOSE)
        for option, value in (("tensor_parallel_size", tensor_parallel_size), ("data_parallel_size", data_parallel_size)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"vllm backend: {option} must be an integer >= 1, got {value!r}")
        if not 0 < gpu_memory_utilization <= 1:
            raise UsageError(f"vllm backend: gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization!r}")
        self.model = str(model)
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
        engine_args: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
            "trust_remote_code": trust_remote_code,
            **(engine_kwargs or {}),
        }
        if max_model_len is not None:
            engine_args["max_model_len"] = max_model_len
        self._engine_args = engine_args
        self._chat_template = load_chat_template(chat_template)
        self._use_tqdm = use_tqdm
        self._engine: _Engine | None = None
        self._workers: list[_Worker] = []
        if data_parallel_size == 1:
            self._engine = _Engine(engine_args, self._chat_template)
            self.max_model_len = self._engine.max_model_len
        else:
            devices = _device_list(gpu_ids, data_parallel_size * tensor_parallel_size)
            try:
                for rank in range(data_parallel_size):
                    slice_ = devices[rank * tensor_parallel_size : (rank + 1) * tensor_parallel_size]
                    self._workers.append(_Worker(rank, slice_, engine_args, self._chat_template))
                lens = {w.wait_ready() for w in self._workers}
            except BaseException:
                self.close()
                raise
            self.max_model_len = min((x for x in lens if x is not None), default=None)

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        requests = self._check_requests(requests)
        if self._engine is not None:
            results = self._engine.run(requests, params, self._use_tqdm)
        elif self._workers:
            results = self._run_data_parallel(requests, params)
        else:
            raise UsageError("vllm backend: generate() after close()")
        check_sample_grid(results, requests, params.n)
        return results

    def _run_data_parallel(self, requests: list[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        """Deal prompts round-robin to the ranks (similar lengths spread evenly), gather in request order."""
        ranks = len(self._workers)
        shards = [list(range(rank, len(requests), ranks)) for rank in range(ranks)]
        for worker, shard in zip(self._workers, shards):
            worker.submit([requests[i] for i in shard], params)
        results: list[list[Completion]] = [[] for _ in requests]
        for worker, shard in zip(self._workers, shards):
            for i, row in zip(shard, worker.result()):
                results[i] = row
        return results

    def close(self) -> None:
        """Release the engines: in-process (GPU memory) and data-parallel worker processes."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
        workers, self._workers = self._workers, []
        for w in workers:
            w.stop()


def _device_list(gpu_ids: Sequence[int] | None, needed: int) -> list[str]:
    if gpu_ids is not None:
        devices = [str(int(g)) for g in gpu_ids]
    elif os.environ.get("CUDA_VISIBLE_DEVICES"):
        devices = [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
    else:
        devices = [str(i) for i in range(needed)]
    if len(devices) < needed:
        raise UsageError(
            f"vllm backend: data_parallel_size x tensor_parallel_size needs {needed} GPUs, only {len(devices)} given ({devices})"
        )
    return devices


class _Engine:
    """One ``vllm.LLM`` and the conversion between our types and its."""

    def __init__(self, engine_args: dict[str, Any], chat_template: str | None):
        import vllm

        self._vllm = vllm
        self.llm = vllm.LLM(**engine_args)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template = chat_template
        check_chat_template(self.tokenizer, engine_args["model"], chat_template)
        self.max_model_len = _max_model_len(self.llm, engine_args.get("max_model_len"))

    def run(self, requests: list[GenerationRequest], params: SamplingParams, use_tqdm: bool) -> list[list[Completion]]:
        rendered = render_all(self.tokenizer, requests, self.max_model_len, self.chat_template)
        results: list[list[Completion | None]] = [[None] * params.n for _ in requests]
        prompts, sampling, slots = [], [], []
        for i, (req, rp) in enumerate(zip(requests, rendered)):
            if rp.error is not None:
                results[i] = [Completion.failed(rp.error, j, len(rp.token_ids)) for j in range(params.n)]
                continue
            budget = params.max_tokens
            if self.max_model_len is not None:
                budget = min(budget, self.max_model_len - len(rp.token_ids))
            for j in range(params.n):
                prompts.append({"prompt_token_ids": rp.token_ids})
                sampling.append(
                    self._vllm.SamplingParams(
                        n=1,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        top_k=params.top_k,  # -1 = off: accepted by every vLLM version
                        max_tokens=budget,
                        stop=list(params.stop) or None,
                        seed=None if params.seed is None else sample_seed(params.seed, req.prompt_id, j),
                        include_stop_str_in_output=params.include_stop,
                        skip_special_tokens=True,
                    )
                )
                slots.append((i, j))
        outputs = self.llm.generate(prompts, sampling_params=sampling, use_tqdm=use_tqdm) if prompts else []
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        for (i, j), out in zip(slots, outputs):
            results[i][j] = _to_completion(out, j, rendered[i].started_in_think, params)
        return [[c for c in row if c is not None] for row in results]

    def shutdown(self) -> None:
        llm, self.llm = self.llm, None
        del llm
        import gc

        gc.collect()


def _to_completion(out: Any, sample_index: int, started_in_think: bool, params: SamplingParams) -> Completion:
    sample = out.outputs[0]
    prompt_tokens = len(out.prompt_token_ids or [])
    reason = sample.finish_reason
    if reason not in ("stop", "length"):  # "abort", or None for an unfinished request
        return Completion.failed(f"vLLM finished the request with finish_reason={reason!r}", sample_index, prompt_tokens)
    # vLLM already cut at the stop string; apply_stop only guards the include_stop convention.
    text, _ = apply_stop(sample.text, params.stop, params.include_stop)
    return Completion(
        text=text,
        reasoning=split_reasoning(text, started_in_think),
        prompt_tokens=prompt_tokens,
        completion_tokens=len(sample.token_ids),
        finish_reason=reason,
        sample_index=sample_index,
    )


def _max_model_len(llm: Any, configured: int | None) -> int | None:
    for owner in (getattr(llm, "llm_engine", None), llm):
        config = getattr(owner, "model_config", None)
        value = getattr(config, "max_model_len", None)
        if isinstance(value, int):
            return value
    return configured


# ---------------------------------------------------------------------- data parallel workers


class _Worker:
    """A spawned process holding one engine on its own GPUs, driven over a pipe."""

    def __init__(self, rank: int, devices: list[str], engine_args: dict[str, Any], chat_template: str | None):
        import multiprocessing as mp

        from cotforge.child_processes import main_script_for_children

        ctx = mp.get_context("spawn")  # CUDA cannot be forked; vLLM's own workers also need a fresh process
        self.rank = rank
        self.conn, child = ctx.Pipe()
        # Not a daemon: vLLM starts processes of its own, which daemonic processes may not do.
        self.process = ctx.Process(
            target=_worker_main, args=(rank, devices, engine_args, chat_template, child), name=f"cotforge-vllm-dp{rank}"
        )
        with main_script_for_children(False):  # an unguarded script must not run again (and load a model) per GPU
            self.process.start()
        child.close()

    def _receive(self) -> Any:
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"vLLM data-parallel worker {self.rank} died (exit code {self.process.exitcode})") from None
        if kind == "error":
            raise RuntimeError(f"vLLM data-parallel worker {self.rank} failed:\n{payload}")
        return payload

    def wait_ready(self) -> int | None:
        return self._receive()

    def submit(self, requests: list[GenerationRequest], params: SamplingParams) -> None:
        self.conn.send(("generate", (requests, params)))

    def result(self) -> list[list[Completion]]:
        return self._receive()

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
        self.conn.close()


def _worker_main(rank: int, devices: list[str], engine_args: dict[str, Any], chat_template: str | None, conn) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)  # before vllm (and torch) is imported here
    try:
        engine = _Engine(engine_args, chat_template)
        conn.send(("ready", engine.max_model_len))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:  # the parent went away
            break
        if kind == "close":
            break
        try:
            requests, params = payload
            conn.send(("ok", engine.run(requests, params, use_tqdm=False)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))
    engine.shutdown()
