"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs).

``endpoint="chat"`` (the default) posts chat messages to ``/v1/chat/completions``;
``endpoint="completions"`` posts one text prompt to ``/v1/completions``, for base-model teachers
that have no chat template (the messages become text through ``prompt_format``, by default the R1 /
warm-up recipe's ``<system> User: <problem> Assistant: <think>\n``; see ``_text_prompt``).

Requests go out concurrently (httpx, asyncio) with at most ``max_concurrency`` in flight - across
every thread that calls ``generate`` at once: all calls share one event loop, one HTTP client (its
connections reused) and one limit (``_loop``). A request
that fails for a transient reason (HTTP 5xx, 408, 409, 429, a timeout, a dropped connection, a body
that is not JSON) is retried with exponential backoff and jitter, honouring ``Retry-After``. What still
fails after ``max_retries`` retries becomes error completions carrying the last reason; nothing is
dropped. A prompt over the context limit (HTTP 400 whose message talks about the context length) is
an error result at once. A rejected API key (401/403) or an unknown model/endpoint (404) stops the run
with a :class:`UsageError`: every other request would fail the same way.

``n`` samples are asked for in one request; servers that ignore ``n`` (llama.cpp) are topped up with
further requests, each with its own seed, until ``n`` samples are in.

Fields outside the OpenAI spec (``top_k``, ``include_stop_str_in_output`` / ``no_stop_trim``,
``return_token_ids``, ``continue_final_message``) are sent only with ``vendor_params=True`` (the default,
for vLLM and SGLang); hosted APIs that reject unknown fields need ``vendor_params=False``, and then a
``top_k`` other than -1 is refused rather than silently dropped.

Reasoning: the ``reasoning`` field (vLLM >= 0.11, OpenRouter) or ``reasoning_content`` (DeepSeek,
older vLLM) when the server splits it off, else the ``<think>...</think>`` part of the content. When
the server split it off, ``text`` is rebuilt as ``<think>R</think>C`` (without the closing tag when the
server found none), so verifiers and SFT see the whole output either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cotforge.datagen.backends.base import (
    THINK_CLOSE,
    THINK_OPEN,
    Completion,
    GenerationRequest,
    GeneratorBase,
    SamplingParams,
    apply_stop,
    check_sample_grid,
    sample_seed,
    opens_think,
    split_reasoning,
)
from cotforge.datagen.backends._loop import LoopThread
from cotforge.datagen.backends._text_prompt import DEFAULT_TEXT_PROMPT, check_text_prompt, render_text_prompt
from cotforge.errors import UsageError, require

_PURPOSE = "the 'openai' generation backend"

#: Phrases servers use when a prompt does not fit: OpenAI/vLLM ("maximum context length"), SGLang
#: ("longer than the model's context length"), llama.cpp ("exceeds the available context size"), TGI.
_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|max_model_len|maximum model length|"
    r"too many (input )?tokens|prompt is too long|input is too long",
    re.IGNORECASE,
)
_RETRY_STATUS = {408, 409, 429}
_STOP_REASONS = {"stop", "eos", "stop_sequence", "end_turn", "tool_calls", "function_call"}
_LENGTH_REASONS = {"length", "max_tokens", "model_length"}


@dataclass(frozen=True)
class _Failed:
    reason: str


ENDPOINTS = {"chat": "chat/completions", "completions": "completions"}


class OpenAIGenerator(GeneratorBase):
    """Completions from an OpenAI-compatible server at ``base_url`` (ending in ``/v1``).

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (none is sent when unset). ``timeout`` is per request
    in seconds: long reasoning samples take minutes, so it is generous by default. ``extra_body`` is
    merged into every request (e.g. ``{"chat_template_kwargs": {"enable_thinking": True}}``).
    """

    name = "openai"
    #: ``generate`` may be called from several threads at once (all share the backend's loop, client
    #: and ``max_concurrency``): the distill engine submits prompts continuously that way
    concurrent_calls = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        max_concurrency: int = 32,
        max_retries: int = 5,
        timeout: float = 1800.0,
        connect_timeout: float = 10.0,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        vendor_params: bool = True,
        max_tokens_field: str = "max_tokens",
        extra_body: dict[str, Any] | None = None,
        endpoint: str = "chat",
        prompt_format: str = DEFAULT_TEXT_PROMPT,
    ) -> None:
        require("httpx", "openai", _PURPOSE)
        if not model:
            raise UsageError("openai backend: model is required (the name the server serves)")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise UsageError(f"openai backend: max_concurrency must be an integer >= 1, got {max_concurrency!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise UsageError(f"openai backend: max_retries must be an integer >= 0, got {max_retries!r}")
        if not timeout > 0 or not connect_timeout > 0:
            raise UsageError("openai backend: timeout and connect_timeout must be > 0 seconds")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise UsageError(
                f"openai backend: max_tokens_field must be 'max_tokens' or 'max_completion_tokens', got {max_tokens_field!r}"
            )
        if endpoint not in ENDPOINTS:
            raise UsageError(f"openai backend: endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
        check_text_prompt(prompt_format)
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"openai backend: base_url must start with http:// or https://, got {base_url!r}")
        self.model = model
        self.base_url = base_url.rstrip("/") + "/"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.vendor_params = vendor_params
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        self.endpoint = endpoint
        self.prompt_format = prompt_format
        self._path = ENDPOINTS[endpoint]
        self._loop = LoopThread("cotforge-openai")
        self._shared: tuple[Any, asyncio.Semaphore] | None = None  # client + limit, made on the loop

    def __getstate__(self) -> dict[str, Any]:  # a copy (Ray, multiprocessing) starts its own loop
        state = dict(self.__dict__)
        state["_loop"], state["_shared"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._loop = LoopThread("cotforge-openai")

    def close(self) -> None:
        self._loop.close(self._close_shared)

    async def _close_shared(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            await shared[0].aclose()

    # ------------------------------------------------------------------ public API

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        """Blocking; safe from several threads at once and from inside a running event loop (a
        notebook): the work runs on the backend's own loop thread."""
        requests = self._check_requests(requests)
        self._check_params(params)
        return self._loop.run(self._generate_shared(requests, params))

    async def _generate_shared(self, requests: list[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        if self._shared is None:  # on the loop thread: no other coroutine runs between check and set
            self._shared = (self._client(), asyncio.Semaphore(self.max_concurrency))
        client, semaphore = self._shared
        return await self._gather(client, semaphore, requests, params)

    async def agenerate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        """For async callers: runs on the caller's loop with a client of its own."""
        requests = self._check_requests(requests)
        self._check_params(params)
        async with self._client() as client:
            return await self._gather(client, asyncio.Semaphore(self.max_concurrency), requests, params)

    def _check_params(self, params: SamplingParams) -> None:
        if params.top_k != -1 and not self.vendor_params:
            raise UsageError(
                "openai backend: top_k is not part of the OpenAI API; use vendor_params=True with a server that "
                "accepts it (vLLM, SGLang) or sample with top_k=-1"
            )

    def _client(self):
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, limits=limits, timeout=timeout)

    async def _gather(self, client, semaphore, requests: list[GenerationRequest], params: SamplingParams) -> list[list[Completion]]:
        texts = [render_text_prompt(r, self.prompt_format) for r in requests] if self.endpoint == "completions" else None
        outcomes = await asyncio.gather(
            *(self._one_prompt(client, semaphore, r, params, texts[i] if texts else None) for i, r in enumerate(requests)),
            return_exceptions=True,
        )
        for outcome in outcomes:  # a fatal error (bad key, unknown model) outranks per-prompt results
            if isinstance(outcome, BaseException):
                raise outcome
        results = [list(o) for o in outcomes]  # type: ignore[arg-type]
        check_sample_grid(results, requests, params.n)
        return results

    # ------------------------------------------------------------------ one prompt

    async def _one_prompt(self, client, semaphore, request: GenerationRequest, params: SamplingParams,
                          text: str | None = None) -> list[Completion]:
        """The ``n`` samples of one prompt; ``text``: its text prompt on the completions endpoint."""
        samples: list[Completion] = []
        in_think = text is not None and opens_think(text)
        while len(samples) < params.n:
            first = len(samples)
            want = params.n - first
            response, attempts = await self._post(client, semaphore, self._body(request, params, first, want, text))
            if isinstance(response, _Failed):
                samples += [Completion.failed(response.reason, k, attempts=attempts) for k in range(first, params.n)]
                break
            try:
                choices = sorted(response["choices"], key=lambda c: c.get("index", 0))
                usage = response.get("usage") or {}
                got = [dataclasses.replace(self._completion(c, usage, len(choices), params, first + k, in_think),
                                           attempts=attempts)
                       for k, c in enumerate(choices[:want])]
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                reason = f"malformed response from server: {type(exc).__name__}: {exc}"
                samples += [Completion.failed(reason, k) for k in range(first, params.n)]
                break
            if not got:
                samples += [Completion.failed("server returned no choices", k) for k in range(first, params.n)]
                break
            samples += got
        return samples

    def _body(self, request: GenerationRequest, params: SamplingParams, first: int, want: int,
              text: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if text is None:
            body["messages"] = [dict(m) for m in request.messages]
        else:
            body["prompt"] = text
        body.update({
            "n": want,
            "temperature": params.temperature,
            "top_p": params.top_p,
            self.max_tokens_field: params.max_tokens,
        })
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = sample_seed(params.seed, request.prompt_id, first)
        if self.vendor_params:
            if params.top_k != -1:
                body["top_k"] = params.top_k
            if params.stop:
                body["include_stop_str_in_output"] = params.include_stop  # vLLM
                body["no_stop_trim"] = params.include_stop  # SGLang
            body["return_token_ids"] = True  # vLLM >= 0.10.2, SGLang: per-choice token ids (exact counts)
            if request.continues_assistant and text is None:
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
        body.update(self.extra_body)
        return body

    def _completion(
        self, choice: dict[str, Any], usage: dict[str, Any], n_choices: int, params: SamplingParams, index: int,
        in_think: bool = False,
    ) -> Completion:
        """One choice; ``in_think``: the text prompt left ``<think>`` open, so the text starts inside it."""
        if "message" in choice:  # chat
            message = choice.get("message") or {}
            content = message.get("content")
            split_off = message.get("reasoning")
            if not isinstance(split_off, str):
                split_off = message.get("reasoning_content")
        else:  # completions: plain continued text
            content, split_off = choice.get("text"), None
        if isinstance(split_off, str):
            text = THINK_OPEN + split_off + (THINK_CLOSE + content if content is not None else "")
            reasoning: str | None = split_off
        else:
            text = content or ""
            reasoning = None
        raw_reason = choice.get("finish_reason")
        if raw_reason in ("abort", "cancelled"):
            return Completion.failed(f"the server aborted the generation (finish_reason={raw_reason!r})", index)
        if raw_reason == "content_filter":
            return Completion.failed("the server's content filter blocked the output", index)
        finish = "length" if raw_reason in _LENGTH_REASONS else "stop"
        if raw_reason is not None and raw_reason not in _STOP_REASONS | _LENGTH_REASONS:
            finish = "stop"  # unknown but final: a server-specific name for a normal end
        # Put the stop string back when the server trimmed it and told us which one matched.
        matched = choice.get("stop_reason", choice.get("matched_stop"))
        if params.include_stop and finish == "stop" and isinstance(matched, str) and matched in params.stop:
            if not text.endswith(matched):
                text += matched
        text, _ = apply_stop(text, params.stop, params.include_stop)
        if reasoning is None:
            reasoning = split_reasoning(text, started_in_think=in_think)
        token_ids = choice.get("token_ids")
        if isinstance(token_ids, list):
            completion_tokens = len(token_ids)
        elif n_choices == 1 and isinstance(usage.get("completion_tokens"), int):
            completion_tokens = usage["completion_tokens"]
        else:
            completion_tokens = -1  # usage sums over the n choices; per-sample counts are unknown
        prompt_tokens = usage.get("prompt_tokens")
        return Completion(
            text=text,
            reasoning=reasoning,
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else -1,
            completion_tokens=completion_tokens,
            finish_reason=finish,
            sample_index=index,
        )

    # ------------------------------------------------------------------ HTTP with retries

    async def _post(self, client, semaphore, body: dict[str, Any]) -> tuple[dict[str, Any] | _Failed, int]:
        """The server's JSON answer (or why there is none) and the number of requests it took."""
        import httpx

        reason = "no attempt made"
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            async with semaphore:
                try:
                    response = await client.post(self._path, json=body)
                except httpx.TimeoutException as exc:
                    reason = f"request timed out ({type(exc).__name__}, timeout {self.timeout:g}s)"
                    response = None
                except httpx.TransportError as exc:
                    reason = f"connection error: {type(exc).__name__}: {exc}"
                    response = None
            if response is not None:
                status = response.status_code
                if status == 200:
                    try:
                        return response.json(), attempt + 1
                    except ValueError:
                        reason = "HTTP 200 with a body that is not JSON"
                else:
                    message = _error_message(response)
                    if status in (401, 403):
                        raise UsageError(
                            f"openai backend: {self.base_url} refused the credentials (HTTP {status}: {message}); "
                            "check api_key / $OPENAI_API_KEY"
                        )
                    if status == 404:
                        raise UsageError(
                            f"openai backend: HTTP 404 from {self.base_url}{self._path} for model {self.model!r}: "
                            f"{message}; check base_url (it should end in /v1) and model"
                        )
                    if status in (400, 413, 422) and _CONTEXT_RE.search(message):
                        return _Failed(f"context length exceeded: {message}"), attempt + 1
                    reason = f"HTTP {status}: {message}"
                    if status < 500 and status not in _RETRY_STATUS:
                        return _Failed(reason), attempt + 1  # the server judged this request bad: retrying will not help
                    retry_after = _retry_after(response)
            if attempt < self.max_retries:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        attempts = self.max_retries + 1
        return _Failed(f"{reason} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"), attempts

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: retries of many requests do not arrive in step


def _error_message(response) -> str:
    """The server's error message: OpenAI ``{"error": {"message"}}``, vLLM ``{"message"}``, FastAPI ``{"detail"}``."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if data.get(key):
                return data[key] if isinstance(data[key], str) else json.dumps(data[key])
    return json.dumps(data)[:500]


def _retry_after(response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
