"""The WSGI fast path gunicorn serves tracking through: the same answers as the Django views, no middleware."""

from __future__ import annotations

import json
import wsgiref.util
from typing import Any

from django.core.wsgi import get_wsgi_application

from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tracking import buffer
from outreach.tracking.tokens import token_make
from outreach.tracking.wsgi import TrackingFastPath

from . import fixtures as f

URL = "https://acme.test/pricing?plan=pro"


def _call(app: Any, path: str, method: str = "GET", **extra: str) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "REMOTE_ADDR": "203.0.113.57",
        **extra,
    }
    wsgiref.util.setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def _buffered() -> list[dict]:
    return [json.loads(i) for i in buffer.redis_client().lrange(buffer.key(buffer.BUFFER_KEY), 0, -1)]


def test_pixel_click_and_bad_token(tenant, django_assert_max_num_queries) -> None:
    app = TrackingFastPath(get_wsgi_application())
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), meta={"links": [URL]})
    pixel = f"/t/o/{token_make(kind='o', org_id=message.org_id, message_id=message.pk)}.gif"
    click = f"/t/c/{token_make(kind='c', org_id=message.org_id, message_id=message.pk, link_index=0)}"

    status, headers, body = _call(app, pixel, HTTP_USER_AGENT=f.CHROME_MAC)
    assert status == "200 OK" and headers["Content-Type"] == "image/gif" and body.startswith(b"GIF89a")
    assert "no-store" in headers["Cache-Control"]
    with django_assert_max_num_queries(1):  # the first click reads the links once; the cache answers after
        status, headers, body = _call(app, click)
        assert _call(app, click)[1]["Location"] == URL
    assert status == "302 Found" and headers["Location"] == URL and body == b""
    tampered = click[:-1] + ("A" if click[-1] != "A" else "B")
    status, headers, body = _call(app, tampered)
    assert status == "200 OK" and "Location" not in headers and b"This link is not available" in body
    status, _, body = _call(app, pixel, method="HEAD")
    assert status == "200 OK" and body == b""
    hits = _buffered()
    assert [(h["k"], h["m"], h["ip"]) for h in hits] == [
        ("o", "GET", "203.0.113.0/24"),
        ("c", "GET", "203.0.113.0/24"),
        ("c", "GET", "203.0.113.0/24"),
        ("o", "HEAD", "203.0.113.0/24"),
    ]
    assert hits[0]["ua"] == f.CHROME_MAC


def test_other_requests_go_to_django_untouched(tenant) -> None:
    calls: list[str] = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("200 OK", [])
        return [b"django"]

    app = TrackingFastPath(django_app)
    assert _call(app, "/outbox/")[2] == b"django"
    assert _call(app, "/t/o/x.gif", method="POST")[2] == b"django"  # Django answers 405
    assert _call(app, "/t/ox")[2] == b"django"
    assert calls == ["GET /outbox/", "POST /t/o/x.gif", "GET /t/ox"]
    assert _buffered() == []


def test_gunicorn_entry_point_is_wrapped() -> None:
    from leadgen import wsgi

    assert isinstance(wsgi.application, TrackingFastPath)
