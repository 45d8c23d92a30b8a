"""The tracking fast path: `/t/o/<token>.gif` and `/t/c/<token>` answered in front of Django's handler.

Under gunicorn every open pixel and click would otherwise pay for the whole middleware stack (sessions,
authentication, CSRF, the organisation, idempotency, metrics) and URL resolution across every app: most of the
request's time, for a handler that only checks a token and appends to Redis. `TrackingFastPath` wraps the WSGI
application (leadgen/wsgi.py) and does exactly what the Django views do (`views.open_record`,
`views.click_record`), with the same answers and headers (outreach/tracking/answers.py); every other path goes to
Django untouched. The ASGI entry point has its own, non-blocking one (outreach/tracking/asgi.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from . import answers, views

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class TrackingFastPath:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        found = answers.route(method, environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        kind, token = found
        try:
            if kind == "o":
                views.open_record(token, environ)
                status, headers, body = answers.pixel_answer()
            else:
                status, headers, body = answers.click_answer(views.click_record(token, environ))
        except Exception:
            # Redis or the database is down: Django's view answers (and fails the same way, logged as usual).
            logger.exception("tracking fast path failed; handing the request to Django")
            return self.app(environ, start_response)
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [b""] if method == "HEAD" else [body]
