"""The recipient-facing handlers: validate the token, append the hit to the Redis buffer, answer. Nothing else.

An unknown or tampered token still gets the GIF (a pixel must never show as a broken image) or a neutral page
(never a redirect: the redirect goes only to a URL stored at send time, so no one can use us as an open
redirect). The same work is done by `outreach.tracking.wsgi` in front of Django under gunicorn (the fast path);
these views answer wherever that is not installed (runserver, the test client).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from leadgen.clientip import client_ip

from . import buffer, links, networks
from .tokens import TrackingTarget, token_read

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}
BOT_HEADERS = {
    "purpose": "HTTP_PURPOSE",
    "sec-purpose": "HTTP_SEC_PURPOSE",
    "x-purpose": "HTTP_X_PURPOSE",
    "x-moz": "HTTP_X_MOZ",
    "from": "HTTP_FROM",
}


def hit_make(meta: Mapping[str, Any], target: TrackingTarget) -> dict[str, object]:
    """The buffered hit from a WSGI environ / request.META: a fresh id, the /24 or /48, the agent, the method."""
    address = client_ip(cast(HttpRequest, SimpleNamespace(META=meta)))
    return {
        "id": uuid.uuid4().hex,
        "k": target.kind,
        "org": target.org_id,
        "msg": target.message_id,
        "link": target.link_index,
        "at": time.time(),
        "ip": networks.ip_truncate(address),
        "ua": str(meta.get("HTTP_USER_AGENT", ""))[:512],
        "m": meta.get("REQUEST_METHOD", "GET"),
        "h": {name: str(meta[header])[:200] for name, header in BOT_HEADERS.items() if meta.get(header)},
    }


def open_record(token: str, meta: Mapping[str, Any]) -> None:
    target = token_read(token, kind="o")
    if target is not None:
        buffer.hit_append(hit_make(meta, target))


def click_record(token: str, meta: Mapping[str, Any]) -> str | None:
    """The URL stored for this click token (after buffering the hit), or None for a bad token or unknown link."""
    target = token_read(token, kind="c")
    if target is None or target.link_index is None:
        return None
    url = links.link_url(org_id=target.org_id, message_id=target.message_id, link_index=target.link_index)
    if url is not None:
        buffer.hit_append(hit_make(meta, target))
    return url


@login_not_required
@require_http_methods(["GET", "HEAD"])
def pixel(request: HttpRequest, tracking_token: str) -> HttpResponse:
    open_record(tracking_token, request.META)
    response = HttpResponse(GIF, content_type="image/gif", headers=NO_CACHE)
    response["Content-Length"] = str(len(GIF))
    return response


@login_not_required
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, tracking_token: str) -> HttpResponse:
    url = click_record(tracking_token, request.META)
    if url is None:
        response = render(request, "outreach/tracking_unknown.html")
        for name, value in NO_CACHE.items():
            response[name] = value
        return response
    return HttpResponseRedirect(url, headers=NO_CACHE)
