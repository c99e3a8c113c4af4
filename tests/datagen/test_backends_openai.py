"""The openai backend against a real HTTP server on 127.0.0.1 (stdlib http.server in a thread).

The server answers /v1/chat/completions with recorded completions in vLLM's response format and can
be scripted per prompt to fail first: HTTP 503/429/500, a hang past the client's timeout, a dropped
connection, a 400 context-length error, a 401. Nothing in the client is mocked.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("httpx")

from cotforge.datagen.backends import get_backend  # noqa: E402
from cotforge.datagen.backends.base import GenerationRequest, SamplingParams, sample_seed  # noqa: E402
from cotforge.errors import UsageError  # noqa: E402

# Recorded completions, keyed by the user message. Shapes follow vLLM's /v1/chat/completions answers:
# with a reasoning parser the thinking comes in `reasoning` (vLLM >= 0.11) or `reasoning_content`.
RECORDED = {
    "What is 2 + 2?": [
        {"content": "<think>2 plus 2 is 4.</think> <answer>4</answer>", "finish_reason": "stop", "tokens": 14},
        {"content": "<think>Two and two make four.</think> <answer>4</answer>", "finish_reason": "stop", "tokens": 15},
        {"content": "<think>Maybe 5? Wait, no", "finish_reason": "length", "tokens": 8},
    ],
    "Split reasoning": [
        {"reasoning": "Let me count: 1, 2, 3.", "content": "The answer is 3.", "finish_reason": "stop", "tokens": 12},
        {"reasoning_content": "Older field name.", "content": "3", "finish_reason": "stop", "tokens": 6},
        {"reasoning": "Still thinking when the budget ran out", "content": None, "finish_reason": "length", "tokens": 9},
    ],
    "Stop here": [
        # vLLM trims the stop string unless include_stop_str_in_output; stop_reason names it
        {"content": "<think>ok</think> <answer>yes", "finish_reason": "stop", "stop_reason": "</answer>", "tokens": 9},
    ],
}
MAX_PROMPT_CHARS = 200


class Server:
    """Scripted fake of an OpenAI-compatible server; ``plan[prompt]`` lists what each attempt gets."""

    def __init__(self):
        self.plan: dict[str, list[str]] = {}
        self.bodies: list[dict] = []
        self.ignore_n = False  # llama.cpp-style: always one choice
        self.token_ids = True  # answer return_token_ids with per-choice token ids
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def attempts(self, prompt: str) -> int:
        return sum(1 for b in self.bodies if b["messages"][-1]["content"] == prompt)

    def _handler(server):  # noqa: N805 - closes over the Server
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                if self.path == "/v1/completions" and "prompt" in body:  # a base model: text in, text out
                    with server.lock:
                        server.bodies.append(body)
                    return self._send(200, server.respond_text(body))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"detail": "Not Found"})
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.bodies.append(body)
                    plan = server.plan.get(prompt, [])
                    action = plan.pop(0) if plan else "ok"
                if action == "503":
                    return self._send(503, {"object": "error", "message": "Service Unavailable", "code": 503})
                if action == "500":
                    return self._send(500, {"error": {"message": "CUDA error: an illegal memory access"}})
                if action == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                if action == "hang":
                    time.sleep(1.0)  # longer than the client's timeout
                    return
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if action == "401":
                    return self._send(401, {"error": {"message": "Incorrect API key provided"}})
                if action == "garbage":
                    self.send_response(200)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not json!")
                    return
                if body["model"] != "teacher":
                    return self._send(404, {"object": "error", "message": f"The model `{body['model']}` does not exist."})
                if len(prompt) > MAX_PROMPT_CHARS:
                    return self._send(
                        400,
                        {
                            "object": "error",
                            "message": "This model's maximum context length is 64 tokens. However, you requested "
                            "512 tokens (400 in the messages, 112 in the completion). Please reduce the length.",
                            "type": "BadRequestError",
                            "code": 400,
                        },
                    )
                self._send(200, server.respond(body, prompt))

        return Handler

    def respond(self, body: dict, prompt: str) -> dict:
        recorded = RECORDED.get(prompt) or [{"content": f"echo: {prompt}", "finish_reason": "stop", "tokens": 3}]
        n = 1 if self.ignore_n else body.get("n", 1)
        # each request starts where its seed says: the backend tops up with seed(first index)
        start = next((k for k in range(len(recorded)) if body.get("seed") == sample_seed(0, prompt_id(prompt), k)), 0)
        choices = []
        for k in range(n):
            rec = recorded[(start + k) % len(recorded)]
            message = {"role": "assistant", "content": rec["content"]}
            for key in ("reasoning", "reasoning_content"):
                if key in rec:
                    message[key] = rec[key]
            choice = {
                "index": k,
                "message": message,
                "logprobs": None,
                "finish_reason": rec["finish_reason"],
                "stop_reason": rec.get("stop_reason"),
            }
            if body.get("return_token_ids") and self.token_ids:
                choice["token_ids"] = list(range(rec["tokens"]))
            choices.append(choice)
        completion_tokens = sum(recorded[(start + k) % len(recorded)]["tokens"] for k in range(n))
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body["model"],
            "choices": choices,
            "usage": {"prompt_tokens": 20, "completion_tokens": completion_tokens, "total_tokens": 20 + completion_tokens},
        }

    def respond_text(self, body: dict) -> dict:
        """/v1/completions: each choice continues the prompt (vLLM's shape: ``text``, ``token_ids``)."""
        text = self.completion_text
        choices = [{"index": k, "text": text, "finish_reason": "stop", "stop_reason": None,
                    **({"token_ids": list(range(7))} if body.get("return_token_ids") else {})}
                   for k in range(body.get("n", 1))]
        return {"object": "text_completion", "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 30, "completion_tokens": 7 * len(choices)}}

    completion_text = "Two and two is four.\n</think>\n<answer>4</answer>"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def prompt_id(prompt: str) -> str:
    return "id:" + prompt


def req(prompt: str) -> GenerationRequest:
    return GenerationRequest(prompt_id(prompt), [{"role": "user", "content": prompt}])


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def client(server, **kw):
    opts = dict(
        model="teacher", base_url=server.url, api_key="sk-test", timeout=0.5, max_retries=3, backoff_base=0.01,
        backoff_max=0.05, max_concurrency=4,
    )
    return get_backend("openai", **{**opts, **kw})


PARAMS = SamplingParams(n=3, temperature=0.6, top_p=0.95, top_k=40, max_tokens=64, stop=("</answer>",), seed=0)


def test_recorded_completions_come_back_with_reasoning_counts_and_finish_reasons(server):
    [row] = client(server).generate([req("What is 2 + 2?")], PARAMS)
    assert [c.sample_index for c in row] == [0, 1, 2]
    assert [c.finish_reason for c in row] == ["stop", "stop", "length"]
    assert row[0].text == "<think>2 plus 2 is 4.</think> <answer>4</answer>"
    assert row[0].reasoning == "2 plus 2 is 4." and row[0].answer == " <answer>4</answer>"
    assert row[2].reasoning == "Maybe 5? Wait, no"  # cut off inside the thinking
    assert [c.completion_tokens for c in row] == [14, 15, 8] and row[0].prompt_tokens == 20


def test_request_carries_sampling_params_seed_and_vendor_fields(server):
    client(server).generate([req("What is 2 + 2?")], PARAMS)
    [body] = server.bodies
    assert body["model"] == "teacher" and body["n"] == 3
    assert (body["temperature"], body["top_p"], body["top_k"], body["max_tokens"]) == (0.6, 0.95, 40, 64)
    assert body["stop"] == ["</answer>"] and body["include_stop_str_in_output"] is True
    assert body["seed"] == sample_seed(0, "id:What is 2 + 2?", 0)
    assert body["return_token_ids"] is True


def test_split_off_reasoning_is_put_back_into_the_text(server):
    [row] = client(server).generate([req("Split reasoning")], PARAMS)
    assert row[0].text == "<think>Let me count: 1, 2, 3.</think>The answer is 3."
    assert row[0].reasoning == "Let me count: 1, 2, 3." and row[0].answer == "The answer is 3."
    assert row[1].reasoning == "Older field name." and row[1].text == "<think>Older field name.</think>3"
    # truncated while thinking: no closing tag is invented
    assert row[2].text == "<think>Still thinking when the budget ran out" and row[2].finish_reason == "length"


def test_trimmed_stop_string_is_re_appended_when_include_stop(server):
    [row] = client(server).generate([req("Stop here")], PARAMS.replace(n=1))
    assert row[0].text == "<think>ok</think> <answer>yes</answer>"
    [row] = client(server).generate([req("Stop here")], PARAMS.replace(n=1, include_stop=False))
    assert row[0].text == "<think>ok</think> <answer>yes"


@pytest.mark.parametrize("failure", ["503", "500", "429", "hang", "drop", "garbage"])
def test_transient_failures_are_retried(server, failure):
    server.plan["What is 2 + 2?"] = [failure, failure]
    [row] = client(server).generate([req("What is 2 + 2?")], PARAMS)
    assert all(c.ok for c in row)
    assert server.attempts("What is 2 + 2?") == 3
    assert [c.attempts for c in row] == [3, 3, 3]  # the distill `attempts` column counts the retries


def test_failures_past_the_retry_budget_become_error_results_with_the_reason(server):
    server.plan["What is 2 + 2?"] = ["503"] * 10
    server.plan["Split reasoning"] = ["hang"] * 10
    rows = client(server, max_retries=2).generate(
        [req("What is 2 + 2?"), req("Split reasoning"), req("fine")], PARAMS
    )
    assert [c.finish_reason for c in rows[0]] == ["error"] * 3
    assert "HTTP 503: Service Unavailable" in rows[0][0].error and "gave up after 3 attempts" in rows[0][0].error
    assert "timed out" in rows[1][0].error
    assert [c.ok for c in rows[2]] == [True] * 3  # the others are unaffected
    assert server.attempts("What is 2 + 2?") == 3
    assert [c.attempts for c in rows[0]] == [3, 3, 3] and [c.attempts for c in rows[2]] == [1, 1, 1]


def test_prompt_over_the_context_length_is_an_error_result_without_retries(server):
    long = "x" * (MAX_PROMPT_CHARS + 1)
    rows = client(server).generate([req(long), req("What is 2 + 2?")], PARAMS)
    assert [c.finish_reason for c in rows[0]] == ["error"] * 3
    assert rows[0][0].error.startswith("context length exceeded: This model's maximum context length is 64 tokens")
    assert server.attempts(long) == 1
    assert all(c.ok for c in rows[1])


def test_server_that_ignores_n_is_topped_up_with_fresh_seeds(server):
    server.ignore_n = True
    [row] = client(server).generate([req("What is 2 + 2?")], PARAMS)
    assert [c.sample_index for c in row] == [0, 1, 2]
    seeds = [b["seed"] for b in server.bodies]
    assert seeds == [sample_seed(0, "id:What is 2 + 2?", k) for k in range(3)]
    assert [b["n"] for b in server.bodies] == [3, 2, 1]
    assert [c.finish_reason for c in row] == ["stop", "stop", "length"]  # samples 0, 1, 2 in order


def test_per_sample_token_counts_unknown_without_token_ids(server):
    server.token_ids = False
    [row] = client(server).generate([req("What is 2 + 2?")], PARAMS)
    assert [c.completion_tokens for c in row] == [-1, -1, -1]  # usage only has the sum over 3 choices
    [row] = client(server).generate([req("What is 2 + 2?")], PARAMS.replace(n=1))
    assert row[0].completion_tokens == 14  # one choice: usage is its count


def test_rejected_key_and_unknown_model_stop_the_run(server):
    server.plan["What is 2 + 2?"] = ["401"]
    with pytest.raises(UsageError, match="refused the credentials.*401"):
        client(server).generate([req("What is 2 + 2?")], PARAMS)
    with pytest.raises(UsageError, match="404.*'no-such-model'.*does not exist"):
        client(server, model="no-such-model").generate([req("What is 2 + 2?")], PARAMS)


def test_plain_openai_mode_sends_no_vendor_fields_and_refuses_top_k(server):
    plain = client(server, vendor_params=False, max_tokens_field="max_completion_tokens")
    plain.generate([req("What is 2 + 2?")], PARAMS.replace(top_k=-1))
    [body] = server.bodies
    assert "max_completion_tokens" in body and "max_tokens" not in body
    assert not {"top_k", "include_stop_str_in_output", "return_token_ids", "no_stop_trim"} & set(body)
    with pytest.raises(UsageError, match="top_k"):
        plain.generate([req("What is 2 + 2?")], PARAMS)


def test_concurrency_is_bounded(server):
    active, peak = 0, 0
    lock = threading.Lock()
    original = server.respond

    def counting(body, prompt):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return original(body, prompt)

    server.respond = counting
    rows = client(server, max_concurrency=2).generate([req(f"p{i}") for i in range(6)], PARAMS.replace(n=1))
    assert all(r[0].ok for r in rows)
    assert peak == 2  # requests do overlap, and never more than two at once


def test_works_from_inside_a_running_event_loop(server):
    import asyncio

    async def main():
        return client(server).generate([req("What is 2 + 2?")], PARAMS.replace(n=1))

    [row] = asyncio.run(main())
    assert row[0].ok


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="base_url"):
        get_backend("openai", model="m", base_url="localhost:8000")
    with pytest.raises(UsageError, match="max_concurrency"):
        get_backend("openai", model="m", max_concurrency=0)


def test_calls_from_several_threads_share_one_concurrency_limit(server):
    from concurrent.futures import ThreadPoolExecutor

    active, peak = 0, 0
    lock = threading.Lock()
    original = server.respond

    def counting(body, prompt):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return original(body, prompt)

    server.respond = counting
    g = client(server, max_concurrency=2)
    with ThreadPoolExecutor(4) as pool:  # four concurrent calls, one prompt each (how distill submits)
        rows = list(pool.map(lambda i: g.generate([req(f"t{i}")], PARAMS.replace(n=1)), range(8)))
    g.close()
    assert all(r[0][0].ok for r in rows)
    assert peak == 2  # the limit is the backend's, not each call's


def test_completions_endpoint_sends_the_recipe_text_and_reads_the_continuation(server):
    from cotforge.datagen.distill.sft import warmup_text
    from cotforge.datagen.distill.worker import sft_assistant_text

    messages = [{"role": "system", "content": "Think first."}, {"role": "user", "content": "What is {2} + 2?"}]
    [row] = client(server, endpoint="completions").generate([GenerationRequest("q", messages)], PARAMS.replace(n=2))
    [body] = server.bodies  # both samples in one request
    assert body["prompt"] == "Think first. User: What is {2} + 2? Assistant: <think>\n" and "messages" not in body
    assert "continue_final_message" not in body and body["n"] == 2
    c = row[0]
    assert c.text == server.completion_text and c.completion_tokens == 7
    assert c.reasoning == "Two and two is four.\n"  # the prompt opened <think>: the text starts inside it
    # the `text` SFT config writes exactly what the teacher saw, then what it wrote
    prompt, content = sft_assistant_text(messages, c.text, c.reasoning)
    assert warmup_text(prompt, content) == body["prompt"] + c.text


def test_completions_endpoint_formats_and_refusals(server):
    g = client(server, endpoint="completions", prompt_format="Q: {user}\nA:")
    [row] = g.generate([GenerationRequest("q", [{"role": "user", "content": "2+2?"},
                                                {"role": "assistant", "content": " It is"}])], PARAMS.replace(n=1))
    assert server.bodies[-1]["prompt"] == "Q: 2+2?\nA: It is"  # a prefill is continued verbatim
    assert row[0].reasoning is not None  # no <think> opened, but the text carries its own </think>
    with pytest.raises(UsageError, match=r"messages \[user, assistant, user\]"):
        g.generate([GenerationRequest("multi", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                                {"role": "user", "content": "c"}])], PARAMS.replace(n=1))
    with pytest.raises(UsageError, match="endpoint"):
        client(server, endpoint="responses")
    with pytest.raises(UsageError, match="prompt_format"):
        client(server, endpoint="completions", prompt_format="no placeholder")
