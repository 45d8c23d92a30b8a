"""A local HTTP server answering like the ESPs' send endpoints (their documented JSON), recording each request, and
their record lookups: Mailgun's Events API (`GET /v3/<domain>/events?message-id=`) and Postmark's outbound message
search (`GET /messages/outbound?recipient=&subject=`)."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeEsp:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    # Mailgun events by Message-ID (without angle brackets), e.g. {"abc@x": ["accepted", "delivered"]}.
    mailgun_events: dict[str, list[str]] = field(default_factory=dict)
    # Postmark's outbound messages: [{"Recipients": [...], "Subject": ..., "MessageID": ..., "Status": "Sent"}].
    postmark_outbound: list[dict[str, Any]] = field(default_factory=list)


def _lookup(state: FakeEsp, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    if path.endswith("/events"):  # Mailgun Events API
        wanted = query.get("message-id", [""])[0]
        items = [
            {"event": kind, "timestamp": 1796119200.0, "message": {"headers": {"message-id": wanted}}}
            for kind in state.mailgun_events.get(wanted, [])
        ]
        return 200, {"items": items, "paging": {"next": "", "previous": ""}}
    if path == "/messages/outbound":  # Postmark outbound message search
        recipient, subject = query.get("recipient", [""])[0], query.get("subject", [""])[0]
        found = [
            m
            for m in state.postmark_outbound
            if recipient in m["Recipients"] and subject in m.get("Subject", "")
        ]
        return 200, {"TotalCount": len(found), "Messages": found}
    return 404, {"message": "unknown endpoint"}


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

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": b""})
            if state.status != 200:
                self._reply(state.status, {"message": "Internal error"})
                return
            self._reply(*_lookup(state, parts.path, parse_qs(parts.query)))

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
