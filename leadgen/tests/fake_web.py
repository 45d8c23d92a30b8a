"""A real HTTP server on 127.0.0.1 for fetcher tests: routes with status, headers, body, delays and trickled bodies.

Load with ``pytest_plugins = ["leadgen.tests.fake_web"]``. The ``fake_web`` fixture starts one server per test and
also lets the guard reach it for that test only (``NETGUARD_ALLOW_LOOPBACK`` and the server's port); ``fake_web_pair``
gives two servers, for redirects between hosts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    chunk_size: int = 0  # when set, the body is sent in pieces of this size...
    chunk_delay: float = 0.0  # ...with this pause between them
    repeat: int = 1  # the body is sent this many times (large bodies without holding them in memory twice)


class FakeWeb:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """host:port, what a prospect's "domain" looks like for this server."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"

    def route(self, path: str, body: str | bytes = b"", *, status: int = 200, **options: Any) -> Route:
        data = body.encode() if isinstance(body, str) else body
        headers = options.pop("headers", None) or {}
        headers.setdefault("Content-Type", "text/html; charset=utf-8")
        self.routes[path] = Route(status=status, body=data, headers=headers, **options)
        return self.routes[path]

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.route(path, status=status, headers={"Location": location, "Content-Type": "text/plain"})

    def paths_requested(self) -> list[str]:
        return [path for path, _headers in self.requests]

    def start(self) -> FakeWeb:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake: FakeWeb = self.server.fake  # type: ignore[attr-defined]
        fake.requests.append((self.path, dict(self.headers.items())))
        route = fake.routes.get(self.path.split("?", 1)[0])
        if route is None:
            route = Route(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
        if route.delay:
            time.sleep(route.delay)
        try:
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(route.body) * route.repeat))
            self.end_headers()
            for _ in range(route.repeat):
                if not route.chunk_size:
                    self.wfile.write(route.body)
                    continue
                for start in range(0, len(route.body), route.chunk_size):
                    self.wfile.write(route.body[start : start + route.chunk_size])
                    self.wfile.flush()
                    time.sleep(route.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: that is what size limits and timeouts do


def _allow(settings: Any, *servers: FakeWeb) -> None:
    settings.NETGUARD_ALLOW_LOOPBACK = True
    settings.NETGUARD_ALLOWED_PORTS = [80, 443, *(server.port for server in servers)]


@pytest.fixture
def fake_web(settings: Any) -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    _allow(settings, server)
    yield server
    server.stop()


@pytest.fixture
def fake_web_pair(settings: Any) -> Iterator[tuple[FakeWeb, FakeWeb]]:
    first, second = FakeWeb().start(), FakeWeb().start()
    _allow(settings, first, second)
    yield first, second
    first.stop()
    second.stop()
