"""The ASGI entry point's tracking fast path (gunicorn's uvicorn worker): the same answers as the WSGI fast path
and the Django views, hits buffered once, everything else answered by Django."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.wsgi import get_wsgi_application

from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tests.procs import database_url_for_tests, free_port
from outreach.tracking import buffer
from outreach.tracking.asgi import TrackingASGI
from outreach.tracking.links import links_cache
from outreach.tracking.tokens import token_make
from outreach.tracking.wsgi import TrackingFastPath

from . import fixtures as f
from .test_fast_path import _call as wsgi_call

ROOT = Path(__file__).resolve().parents[3]
URL = "https://acme.test/pricing?plan=pro"


def _buffered() -> list[dict]:
    return [json.loads(i) for i in buffer.redis_client().lrange(buffer.key(buffer.BUFFER_KEY), 0, -1)]


def _asgi_call(app: Any, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple:
    """(status, headers, body) of one HTTP request through an ASGI app, on a fresh event loop."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("203.0.113.57", 50000),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, *bodies = sent
    return (
        start["status"],
        {k.decode(): v.decode() for k, v in start["headers"]},
        b"".join(b["body"] for b in bodies),
    )


@pytest.mark.django_db(transaction=True)
def test_same_answers_as_the_wsgi_fast_path(tenant) -> None:
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), meta={"links": [URL]})
    pixel = f"/t/o/{token_make(kind='o', org_id=message.org_id, message_id=message.pk)}.gif"
    click = f"/t/c/{token_make(kind='c', org_id=message.org_id, message_id=message.pk, link_index=0)}"
    tampered = click[:-1] + ("A" if click[-1] != "A" else "B")

    def django_app(*args: Any) -> Any:
        raise AssertionError("a tracking request reached Django")

    asgi, wsgi = TrackingASGI(django_app), TrackingFastPath(get_wsgi_application())
    for path, method in [(pixel, "GET"), (click, "GET"), (click, "GET"), (tampered, "GET"), (pixel, "HEAD")]:
        status, headers, body = _asgi_call(asgi, path, method, {"User-Agent": f.CHROME_MAC})
        wsgi_status, wsgi_headers, wsgi_body = wsgi_call(wsgi, path, method, HTTP_USER_AGENT=f.CHROME_MAC)
        assert (str(status), body) == (wsgi_status.split()[0], wsgi_body)
        assert {k.lower(): v for k, v in wsgi_headers.items()} == headers
    # The first click read the links from the database (the cache was empty) and filled the cache.
    assert _asgi_call(asgi, click)[1]["location"] == URL
    hits = _buffered()
    kinds = [(h["k"], h["m"]) for h in hits]
    # Each request twice (ASGI, then WSGI), the tampered click never, then the last ASGI click.
    assert kinds == [("o", "GET")] * 2 + [("c", "GET")] * 4 + [("o", "HEAD")] * 2 + [("c", "GET")]
    assert {h["ip"] for h in hits} == {"203.0.113.0/24"} and hits[0]["ua"] == f.CHROME_MAC


def test_other_requests_and_lifespan_go_where_they_should(tenant) -> None:
    calls: list[str] = []

    async def django_app(scope: dict, receive: Any, send: Any) -> None:
        calls.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})

    app = TrackingASGI(django_app)
    assert _asgi_call(app, "/outbox/")[2] == b"django"
    assert _asgi_call(app, "/t/o/x.gif", method="POST")[2] == b"django"  # Django answers 405
    assert _asgi_call(app, "/t/ox")[2] == b"django"
    assert calls == ["GET /outbox/", "POST /t/o/x.gif", "GET /t/ox"]
    assert _buffered() == []

    said: list[str] = []
    queue = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict:
        return next(queue)

    async def send(message: dict) -> None:
        said.append(message["type"])

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert said == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_the_asgi_entry_point(tenant, tmp_path) -> None:
    """As production runs it: gunicorn with uvicorn's worker on leadgen.asgi, against this test's database and
    Redis. Tracking answers from the fast path; Django answers the rest, with its middleware."""
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), meta={"links": [URL]})
    links_cache(org_id=message.org_id, message_id=message.pk, links=[URL])
    pixel = f"/t/o/{token_make(kind='o', org_id=message.org_id, message_id=message.pk)}.gif"
    click = f"/t/c/{token_make(kind='c', org_id=message.org_id, message_id=message.pk, link_index=0)}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.test",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "leadgen.asgi",
        "-k",
        "leadgen.asgi_worker.Worker",
        "-w",
        "1",
    ]
    proc = subprocess.Popen([*command, "-b", f"127.0.0.1:{port}"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    tmp_path / "gunicorn.log"
                ).read_text()
                time.sleep(0.2)
        # Through Django's ASGI handler: the database and Redis answer (no Celery worker runs in this test).
        assert (health.json()["database"], health.json()["redis"]) == ("ok", "ok")
        agent = {"User-Agent": f.HUMAN["ua"], "X-Forwarded-For": "198.51.100.7"}
        opened = httpx.get(base + pixel, headers=agent)
        assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
        assert opened.content.startswith(b"GIF89a") and "no-store" in opened.headers["cache-control"]
        clicked = httpx.get(base + click, headers=agent)
        assert (clicked.status_code, clicked.headers["location"]) == (302, URL)
        refused = httpx.post(base + pixel)  # not the fast path: Django refuses it (its CSRF check)
        assert refused.status_code == 403 and not refused.content.startswith(b"GIF")
        login = httpx.get(f"{base}/accounts/login/")
        assert login.status_code == 200 and "csrftoken" in login.cookies  # Django's middleware ran
    finally:
        proc.terminate()
        proc.wait(20)
    hits = _buffered()
    assert [h["k"] for h in hits] == ["o", "c"]
    assert {h["ip"] for h in hits} == {"127.0.0.0/24"}  # TRUSTED_PROXY_COUNT is 0: the header is ignored


def test_calls_in_flight_together_are_made_as_one() -> None:
    from outreach.tracking.asgi import Coalesced

    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        if 1000 in items:
            raise ConnectionError("redis went away")
        return [i * 2 for i in items]

    async def main() -> list[Any]:
        double = Coalesced(run)
        first = await asyncio.gather(*(double(i) for i in range(50)))
        later = await asyncio.gather(double(100), double(1000), return_exceptions=True)
        return [first, later]

    first, later = asyncio.run(main())
    assert first == [i * 2 for i in range(50)]  # each caller gets its own answer
    assert batches == [list(range(50)), [100, 1000]]  # every call made in the same turn went as one batch
    assert [type(x) for x in later] == [
        ConnectionError,
        ConnectionError,
    ]  # a failed batch fails all its callers
