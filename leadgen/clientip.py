"""The client's IP address, for every per-IP limit (web-form submissions, login throttling, the metrics allowlist).

Behind N proxies that each append the address they received from to X-Forwarded-For (nginx'
`$proxy_add_x_forwarded_for`, AWS ALB, Google's load balancer), the client is the N-th entry from the right: the
entries left of it are whatever the client chose to send. TRUSTED_PROXY_COUNT is N. With 0 (the default: the app is
reached directly) the header is ignored, since anyone can send it; a header with fewer entries than N did not come
through the proxies, and REMOTE_ADDR is used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN = "unknown"


def _address(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    remote = _address(request.META.get("REMOTE_ADDR") or "") or UNKNOWN
    trusted = int(settings.TRUSTED_PROXY_COUNT)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < trusted:
        return remote
    return _address(hops[-trusted]) or remote
