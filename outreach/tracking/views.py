"""The recipient-facing handlers: validate the token, append the hit to the Redis buffer, answer. Nothing else.

An unknown or tampered token still gets the GIF (a pixel must never show as a broken image) or a neutral page
(never a redirect: the redirect goes only to a URL stored at send time, so no one can use us as an open
redirect).
"""

from __future__ import annotations

import base64
import time
import uuid

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


def _hit(request: HttpRequest, target: TrackingTarget) -> dict[str, object]:
    meta = request.META
    return {
        "id": uuid.uuid4().hex,
        "k": target.kind,
        "org": target.org_id,
        "msg": target.message_id,
        "link": target.link_index,
        "at": time.time(),
        "ip": networks.ip_truncate(client_ip(request)),
        "ua": meta.get("HTTP_USER_AGENT", "")[:512],
        "m": request.method,
        "h": {name: meta[header][:200] for name, header in BOT_HEADERS.items() if meta.get(header)},
    }


@login_not_required
@require_http_methods(["GET", "HEAD"])
def pixel(request: HttpRequest, tracking_token: str) -> HttpResponse:
    target = token_read(tracking_token, kind="o")
    if target is not None:
        buffer.hit_append(_hit(request, target))
    response = HttpResponse(GIF, content_type="image/gif", headers=NO_CACHE)
    response["Content-Length"] = str(len(GIF))
    return response


@login_not_required
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, tracking_token: str) -> HttpResponse:
    target = token_read(tracking_token, kind="c")
    url = None
    if target is not None and target.link_index is not None:
        url = links.link_url(org_id=target.org_id, message_id=target.message_id, link_index=target.link_index)
    if target is None or url is None:
        response = render(request, "outreach/tracking_unknown.html")
        for name, value in NO_CACHE.items():
            response[name] = value
        return response
    buffer.hit_append(_hit(request, target))
    return HttpResponseRedirect(url, headers=NO_CACHE)
