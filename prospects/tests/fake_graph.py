"""A local stand-in for Meta's Graph API (lead retrieval), speaking its JSON on 127.0.0.1.

GET /<version>/<leadgen_id>?access_token=...  → the lead, or Graph's error shape:
{"error": {"message": ..., "type": "OAuthException", "code": 190, "fbtrace_id": ...}}
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)$")


class FakeGraph:
    def __init__(self, *, access_token: str = "page-token-123", version: str = "v19.0") -> None:
        self.access_token = access_token
        self.version = version
        self.leads: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, list[int]] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGraph:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_lead(
        self,
        leadgen_id: str,
        *,
        email: str,
        full_name: str = "Ada Lovelace",
        extra: dict[str, str] | None = None,
        form_id: str = "5550001",
        ad_id: str = "6660001",
    ) -> None:
        field_data = [
            {"name": "email", "values": [email]},
            {"name": "full_name", "values": [full_name]},
            *({"name": k, "values": [v]} for k, v in (extra or {}).items()),
        ]
        self.leads[leadgen_id] = {
            "id": leadgen_id,
            "created_time": "2026-01-15T10:20:30+0000",
            "field_data": field_data,
            "form_id": form_id,
            "ad_id": ad_id,
        }

    def fail_next(self, leadgen_id: str, *statuses: int) -> None:
        """The next requests for this lead answer these HTTP statuses (Graph's transient error) in turn."""
        self.failures.setdefault(leadgen_id, []).extend(statuses)

    def requests_for(self, leadgen_id: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["leadgen_id"] == leadgen_id]

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        match = _PATH.match(path)
        if not match or match.group(1) != self.version:
            return 400, _graph_error("Unknown path components", "OAuthException", 2500)
        leadgen_id = match.group(2)
        with self._lock:
            self.requests.append({"leadgen_id": leadgen_id, "query": query})
            pending = self.failures.get(leadgen_id)
            status = pending.pop(0) if pending else None
        if status:
            return status, _graph_error(
                "An unexpected error has occurred. Please retry your request later.",
                "OAuthException",
                2,
                is_transient=True,
            )
        if query.get("access_token", [""])[0] != self.access_token:
            return 400, _graph_error(
                "Invalid OAuth access token - Cannot parse access token", "OAuthException", 190
            )
        lead = self.leads.get(leadgen_id)
        if lead is None:
            return 400, _graph_error(
                f"Unsupported get request. Object with ID '{leadgen_id}' does not exist",
                "GraphMethodException",
                100,
            )
        return 200, lead

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = fake._answer(parts.path, parse_qs(parts.query))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _graph_error(message: str, kind: str, code: int, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123", **extra}}


@pytest.fixture
def fake_graph(settings: Any) -> Iterator[FakeGraph]:
    graph = FakeGraph().start()
    settings.META_GRAPH_URL = graph.url
    settings.META_GRAPH_VERSION = graph.version
    try:
        yield graph
    finally:
        graph.stop()
