"""What the tracking fast paths answer, shared by the WSGI one (outreach/tracking/wsgi.py) and the ASGI one
(outreach/tracking/asgi.py): which route a path is, and the status, headers and body of each answer, the same as
the Django views in outreach/tracking/views.py give.
"""

from __future__ import annotations

from typing import Literal

from django.template.loader import render_to_string
from django.utils.encoding import iri_to_uri

from .views import GIF, NO_CACHE

PIXEL_PREFIX, PIXEL_SUFFIX, CLICK_PREFIX = "/t/o/", ".gif", "/t/c/"
Answer = tuple[int, list[tuple[str, str]], bytes]
_unknown_page: list[bytes] = []


def route(method: str, path: str) -> tuple[Literal["o", "c"], str] | None:
    """("o", token) for an open pixel, ("c", token) for a click, None for anything Django should answer (other
    paths, and other methods, which Django answers with 405)."""
    if method not in ("GET", "HEAD"):
        return None
    if path.startswith(PIXEL_PREFIX) and path.endswith(PIXEL_SUFFIX):
        return "o", path[len(PIXEL_PREFIX) : -len(PIXEL_SUFFIX)]
    if path.startswith(CLICK_PREFIX):
        return "c", path[len(CLICK_PREFIX) :]
    return None


def _with_defaults(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    return [*headers, *NO_CACHE.items(), ("Content-Length", str(len(body)))]


def pixel_answer() -> Answer:
    return 200, _with_defaults([("Content-Type", "image/gif")], GIF), GIF


def click_answer(url: str | None) -> Answer:
    """The redirect to the stored URL, or the neutral page for a bad token or unknown link (never a redirect)."""
    if url is None:
        if not _unknown_page:
            _unknown_page.append(render_to_string("outreach/tracking_unknown.html").encode())
        body = _unknown_page[0]
        return 200, _with_defaults([("Content-Type", "text/html; charset=utf-8")], body), body
    # iri_to_uri as HttpResponseRedirect does: the stored URL may hold non-ASCII characters.
    return 302, _with_defaults([("Location", iri_to_uri(url))], b""), b""
