"""The tracking fast path: `/t/o/<token>.gif` and `/t/c/<token>` answered in front of Django's handler.

Under gunicorn every open pixel and click would otherwise pay for the whole middleware stack (sessions,
authentication, CSRF, the organisation, idempotency, metrics) and URL resolution across every app: most of the
request's time, for a handler that only checks a token and appends to Redis. `TrackingFastPath` wraps the WSGI
application (leadgen/wsgi.py) and does exactly what the Django views do (`views.open_record`,
`views.click_record`), with the same answers and headers; every other path goes to Django untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.template.loader import render_to_string

from . import views

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
PIXEL_PREFIX, PIXEL_SUFFIX, CLICK_PREFIX = "/t/o/", ".gif", "/t/c/"


class TrackingFastPath:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._unknown: bytes | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD") or not path.startswith(("/t/o/", "/t/c/")):
            return self.app(environ, start_response)
        try:
            if path.startswith(PIXEL_PREFIX) and path.endswith(PIXEL_SUFFIX):
                return self._pixel(path[len(PIXEL_PREFIX) : -len(PIXEL_SUFFIX)], environ, start_response)
            if path.startswith(CLICK_PREFIX):
                return self._click(path[len(CLICK_PREFIX) :], environ, start_response)
        except Exception:
            # Redis or the database is down: Django's view answers (and fails the same way, logged as usual).
            logger.exception("tracking fast path failed; handing the request to Django")
        return self.app(environ, start_response)

    def _answer(
        self,
        start_response: StartResponse,
        status: str,
        headers: list[tuple[str, str]],
        body: bytes,
        head: bool,
    ) -> Iterable[bytes]:
        headers = [*headers, *views.NO_CACHE.items(), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [b""] if head else [body]

    def _pixel(self, token: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        views.open_record(token, environ)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        return self._answer(start_response, "200 OK", [("Content-Type", "image/gif")], views.GIF, head)

    def _click(self, token: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        url = views.click_record(token, environ)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if url is None:
            if self._unknown is None:
                self._unknown = render_to_string("outreach/tracking_unknown.html").encode()
            headers = [("Content-Type", "text/html; charset=utf-8")]
            return self._answer(start_response, "200 OK", headers, self._unknown, head)
        # iri_to_uri as HttpResponseRedirect does: the stored URL may hold non-ASCII characters.
        from django.utils.encoding import iri_to_uri

        return self._answer(start_response, "302 Found", [("Location", iri_to_uri(url))], b"", head)
