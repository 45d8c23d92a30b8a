"""A local HTTP server answering like the ESPs' send endpoints (their documented JSON), recording each request."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeEsp:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


def _answer(path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    if path.endswith("/email"):  # Postmark: POST /email
        sent = json.loads(body)
        return 200, {
            "To": sent["To"],
            "SubmittedAt": "2026-12-01T10:00:00Z",
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        }
    if path.endswith("/messages") or path.endswith("/messages.mime"):  # Mailgun: POST /v3/<domain>/messages
        return 200, {"id": f"<{uuid.uuid4().hex}@mg.example>", "message": "Queued. Thank you."}
    if path.endswith("/smtp/email"):  # Brevo
        return 201, {"messageId": f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"}
    return 404, {"message": "unknown endpoint"}


@contextlib.contextmanager
def fake_esp() -> Iterator[FakeEsp]:
    state = FakeEsp(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, payload = _answer(self.path, body)
            if state.status != 200:
                status, payload = state.status, {"ErrorCode": 500, "Message": "Internal error"}
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
