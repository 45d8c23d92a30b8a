"""A local OpenAI-compatible server for tests: POST /v1/embeddings and POST /v1/chat/completions.

It speaks OpenAI's documented wire format (objects, usage, error bodies `{"error": {"message", "type", "param",
"code"}}`, 429 with retry-after), checks requests the way the real API does where our code could get it wrong
(auth, non-empty inputs, strict json_schema), and records every request so tests can inspect what was sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

API_KEY = "sk-test-fake-openai"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def rate_limited(retry_after_ms: int = 20) -> Scripted:
    return Scripted(
        429,
        error_body(
            "Rate limit reached for requests. Please try again in 20ms.", "requests", "rate_limit_exceeded"
        ),
        {
            "retry-after": "1",
            "retry-after-ms": str(retry_after_ms),
            "x-ratelimit-remaining-requests": "0",
        },
    )


def server_error() -> Scripted:
    return Scripted(
        500, error_body("The server had an error while processing your request.", "server_error", None)
    )


def _tokens(text: str) -> int:
    # Roughly OpenAI's ~4 characters per token; exact counts don't matter, consistency does.
    return max(1, len(text) // 4) if text else 0


def fake_vector(text: str, dimensions: int) -> list[float]:
    """Deterministic per text, unit length; identical texts get identical vectors."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def _strict_schema_problem(node: Any, path: str = "schema") -> str | None:
    """What the real API says no to in strict mode: open objects and optional keys."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                return (
                    f"In context={path}, 'additionalProperties' is required to be supplied and to be false."
                )
            missing = [key for key in node.get("properties", {}) if key not in node.get("required", [])]
            if missing:
                return (
                    f"In context={path}, 'required' is required to include every key; missing {missing[0]!r}."
                )
        for key, value in node.items():
            problem = _strict_schema_problem(value, f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problem = _strict_schema_problem(value, f"{path}[{index}]")
            if problem:
                return problem
    return None


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripted: dict[str, list[Scripted]] = {}
        # What the chat model "answers": the raw message content, so tests can also send malformed JSON.
        self.chat_content: str = "{}"
        # Contents for the next chat replies, one each, in order; chat_content answers once they run out.
        self.chat_contents: list[str] = []
        self.chat_finish_reason: str = "stop"
        self.chat_refusal: str | None = None
        self.native_dimensions = 1536
        # A compatible server whose model cannot shorten its vectors answers native_dimensions regardless.
        self.ignore_dimensions = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, path: str, *replies: Scripted) -> None:
        """Answer the next requests to `path` (e.g. "/v1/chat/completions") with these replies, in order."""
        with self._lock:
            self.scripted.setdefault(path, []).extend(replies)

    def requests_to(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    # -- request handling ---------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = None
                with fake._lock:
                    fake.requests.append(
                        Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    queue = fake.scripted.get(self.path) or []
                    scripted = queue.pop(0) if queue else None
                reply = scripted or fake._answer(self.path, self.headers.get("Authorization", ""), body)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-request-id", f"req_{len(fake.requests)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _answer(self, path: str, authorization: str, body: Any) -> Scripted:
        if authorization != f"Bearer {API_KEY}":
            return Scripted(
                401,
                error_body(
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
        if not isinstance(body, dict):
            return Scripted(
                400,
                error_body(
                    "We could not parse the JSON body of your request.", "invalid_request_error", None
                ),
            )
        if path == "/v1/embeddings":
            return self._embeddings(body)
        if path == "/v1/chat/completions":
            return self._chat(body)
        return Scripted(404, error_body(f"Invalid URL (POST {path})", "invalid_request_error", None))

    def _embeddings(self, body: dict[str, Any]) -> Scripted:
        model = body.get("model")
        if not model:
            return Scripted(
                400, error_body("you must provide a model parameter", "invalid_request_error", None)
            )
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or any(not isinstance(t, str) or t == "" for t in inputs)
        ):
            return Scripted(
                400,
                error_body(
                    "'$.input' is invalid. Please check the API reference.", "invalid_request_error", None
                ),
            )
        dimensions = (None if self.ignore_dimensions else body.get("dimensions")) or self.native_dimensions
        data = [
            {"object": "embedding", "index": index, "embedding": fake_vector(text, dimensions)}
            for index, text in enumerate(inputs)
        ]
        tokens = sum(_tokens(text) for text in inputs)
        return Scripted(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _chat(self, body: dict[str, Any]) -> Scripted:
        model = body.get("model")
        messages = body.get("messages")
        if not model or not isinstance(messages, list) or not messages:
            return Scripted(
                400, error_body("'messages' is a required property", "invalid_request_error", None)
            )
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            if spec.get("strict"):
                problem = _strict_schema_problem(spec.get("schema"))
                if problem:
                    return Scripted(
                        400,
                        error_body(
                            f"Invalid schema for response_format '{spec.get('name')}': {problem}",
                            "invalid_request_error",
                            "invalid_json_schema",
                            "response_format",
                        ),
                    )
        prompt_tokens = sum(_tokens(str(message.get("content", ""))) for message in messages)
        with self._lock:
            queued = self.chat_contents.pop(0) if self.chat_contents else None
        content = None if self.chat_refusal else (self.chat_content if queued is None else queued)
        completion_tokens = _tokens(content or self.chat_refusal or "")
        return Scripted(
            200,
            {
                "id": f"chatcmpl-fake{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": self.chat_refusal},
                        "logprobs": None,
                        "finish_reason": self.chat_finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )
