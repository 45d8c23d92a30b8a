from __future__ import annotations

import hmac
import ipaddress
import time
from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from leadgen import metrics as leadgen_metrics
from leadgen.clientip import client_ip
from leadgen.tasks import HEARTBEAT_KEY


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database, Redis and a Celery worker are all alive, else 503."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        beat = cache.get(HEARTBEAT_KEY)
        checks["redis"] = "ok"
        if beat is None:
            checks["worker"] = "error: no heartbeat"
        else:
            age = time.time() - float(beat)
            checks["worker"] = (
                "ok" if age <= settings.WORKER_HEARTBEAT_MAX_AGE else f"error: last seen {age:.0f}s ago"
            )
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
        checks["worker"] = "unknown"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


def _sink_dir() -> Path:
    if not settings.DEBUG or not settings.MAIL_SINK_DIR:
        raise Http404("The mail sink is only available in local runs.")
    return Path(settings.MAIL_SINK_DIR)


def dev_mail(request: HttpRequest) -> HttpResponse:
    """Mail caught by the embedded SMTP sink (local runs only), newest first.

    Behind login (LoginRequiredMiddleware), for staff and for members of any organisation: the sink holds every
    account's mail (reset links, invitations), so not for strangers; a local run's demo owner reads it, and a new
    sign-up's confirmation is read there while logged in as the demo owner.
    """
    if not (request.user.is_staff or getattr(request, "membership", None) is not None):
        raise Http404("Not found")
    directory = _sink_dir()
    items = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:100]:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        items.append(
            {
                "id": path.stem,
                "to": message.get("To", ""),
                "subject": message.get("Subject", ""),
                "date": message.get("Date", ""),
                "body": body.get_content() if body is not None else "",
            }
        )
    return render(request, "dev_mail.html", {"messages_caught": items})


def _metrics_allowed(request: HttpRequest) -> bool | None:
    """True when the bearer token or the client's address is allowed; None when metrics are off."""
    token = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        return None
    if networks:
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            address = None
        if address is not None and any(address in ipaddress.ip_network(n) for n in networks):
            return True
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return bool(token and given and hmac.compare_digest(given.encode(), token.encode()))


@login_not_required
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape target: off (404) unless METRICS_TOKEN or METRICS_ALLOWED_IPS is set."""
    allowed = _metrics_allowed(request)
    if allowed is None:
        raise Http404("Not found")
    if not allowed:
        if not settings.METRICS_TOKEN:
            raise Http404("Not found")
        response = HttpResponse("A valid metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = leadgen_metrics.exposition()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
