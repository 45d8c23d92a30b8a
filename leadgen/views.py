from __future__ import annotations

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

from accounts.access import member_required
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


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html", {"nav": "dashboard"})


def coming(request: HttpRequest, *, title: str, nav: str) -> HttpResponse:
    return render(request, "coming.html", {"title": title, "nav": nav})


def _sink_dir() -> Path:
    if not settings.DEBUG or not settings.MAIL_SINK_DIR:
        raise Http404("The mail sink is only available in local runs.")
    return Path(settings.MAIL_SINK_DIR)


@login_not_required
def dev_mail(request: HttpRequest) -> HttpResponse:
    """Mail caught by the embedded SMTP sink (local runs only), newest first."""
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
