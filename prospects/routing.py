"""Routing a prospect that crossed the org's qualification threshold: in-app notifications, Slack, signed webhooks.

Outbound webhooks follow Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64-decoded part of the endpoint's `whsec_…` secret. Every message is stored before it is sent and delivered by
a task that retries with exponential backoff. Endpoint and Slack URLs come from users, so they go through the SSRF
guard like any other user-supplied URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from leadgen import netguard
from leadgen.tenancy import org_scope, require_org_id

from .models import Activity, Notification, PipelineSettings, Prospect, WebhookEndpoint, WebhookMessage

if TYPE_CHECKING:
    from accounts.models import Organization, User

log = logging.getLogger(__name__)

EVENT_PROSPECT_QUALIFIED = "prospect.qualified"
EVENTS = (EVENT_PROSPECT_QUALIFIED,)
CROSSED_KIND = "threshold_crossed"
NOTIFICATION_KIND = "prospect_qualified"
SECRET_PREFIX = "whsec_"
DELIVERY_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
UNREAD_CACHE_SECONDS = 300


class WebhookAttemptFailed(Exception):
    """One delivery attempt failed in a way worth retrying (network error, timeout, non-2xx answer)."""


class SlackAttemptFailed(Exception):
    pass


# --- Standard Webhooks signing ------------------------------------------------------------------------------------


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    *, secret: str, message_id: str, body: str, timestamp: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }


# --- outbound POST through the SSRF guard ---------------------------------------------------------------------


def _guard_policy() -> tuple[bool, Collection[int]]:
    allow_loopback = bool(getattr(settings, "NETGUARD_ALLOW_LOOPBACK", False))
    ports = getattr(settings, "NETGUARD_ALLOWED_PORTS", netguard.DEFAULT_PORTS)
    return allow_loopback, ports


def url_check(url: str) -> None:
    """Raise ValidationError when a user-supplied URL points somewhere we must not post to."""
    allow_loopback, ports = _guard_policy()
    try:
        netguard.check_url(url, allow_loopback=allow_loopback, allowed_ports=ports)
    except netguard.BlockedURL as exc:
        raise ValidationError(f"This address cannot be used: {exc.reason}.") from None


def guarded_post(url: str, *, body: str, headers: dict[str, str]) -> int:
    """POST to a user-supplied URL: vetted addresses only, no redirects, no proxies, timeouts; the answer's body is
    not read (a hostile endpoint cannot make us download anything). Returns the status code."""
    allow_loopback, ports = _guard_policy()
    netguard.check_url(url, allow_loopback=allow_loopback, allowed_ports=ports)
    transport = netguard.GuardedTransport(allow_loopback=allow_loopback, allowed_ports=ports)
    with (
        httpx.Client(
            transport=transport,
            timeout=DELIVERY_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": netguard.USER_AGENT},
        ) as client,
        client.stream("POST", url, content=body.encode(), headers=headers) as response,
    ):
        return response.status_code


# --- notifications --------------------------------------------------------------------------------------------


def _unread_key(org_id: int, user_id: int) -> str:
    return f"notifications-unread:{org_id}:{user_id}"


def notifications_unread_count(*, user_id: int) -> int:
    """The bell's number; cached so the page that shows it costs no query (invalidated on every change)."""
    org_id = require_org_id()
    key = _unread_key(org_id, user_id)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
        cache.set(key, count, UNREAD_CACHE_SECONDS)
    return int(count)


def notifications_for_user(*, user_id: int, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:limit])


def _unread_forget(org_id: int, user_ids: Iterable[int]) -> None:
    cache.delete_many([_unread_key(org_id, pk) for pk in set(user_ids)])


def notifications_mark_read(*, user_id: int) -> int:
    org_id = require_org_id()
    updated = Notification.objects.filter(user_id=user_id, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    _unread_forget(org_id, [user_id])
    return updated


def notifications_create(
    *, org_id: int, user_ids: Iterable[int], kind: str, title: str, body: str = "", url: str = ""
) -> list[Notification]:
    """One notification per user (deduplicated); also what other parts call to tell admins something."""
    users = sorted({pk for pk in user_ids if pk})
    rows = Notification.objects.bulk_create(
        [
            Notification(org_id=org_id, user_id=pk, kind=kind, title=title[:200], body=body, url=url[:500])
            for pk in users
        ]
    )
    transaction.on_commit(partial(_unread_forget, org_id, users))
    return rows


def admin_user_ids() -> list[int]:
    from accounts.models import Membership, Role

    return list(
        Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN], user__is_active=True).values_list(
            "user_id", flat=True
        )
    )


# --- routing a crossing ---------------------------------------------------------------------------------------


def _crossing_key(prospect: Prospect) -> str:
    scored = prospect.scored_at.isoformat() if prospect.scored_at else ""
    return f"{scored}|{prospect.score}"


def prospect_payload(prospect: Prospect) -> dict[str, Any]:
    return {
        "id": prospect.pk,
        "email": prospect.email,
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "title": prospect.title,
        "company_name": prospect.company_name,
        "company_domain": prospect.company_domain,
        "stage": prospect.stage,
        "score": prospect.score,
        "tier": prospect.tier,
        "icp_id": prospect.icp_id,
        "source": prospect.source,
        "scored_at": prospect.scored_at.isoformat() if prospect.scored_at else None,
        "url": settings.SITE_URL + reverse("prospect_detail", args=[prospect.pk]),
    }


@dataclass
class _RouteContext:
    admin_ids: list[int]
    endpoints: list[WebhookEndpoint]
    slack: bool


def _route_context() -> _RouteContext:
    pipeline_settings = PipelineSettings.objects.filter().first()
    endpoints = list(
        WebhookEndpoint.objects.filter(is_active=True, events__contains=[EVENT_PROSPECT_QUALIFIED])
    )
    return _RouteContext(
        admin_ids=admin_user_ids(),
        endpoints=endpoints,
        slack=bool(pipeline_settings and pipeline_settings.slack_webhook_url),
    )


def prospect_route(*, prospect_id: int, context: _RouteContext | None = None) -> bool:
    """Route one threshold crossing: notifications, Slack, webhooks. Idempotent: a crossing (the score and the
    time it was made) is routed once; returns False when there was nothing (new) to route."""
    context = context or _route_context()
    org_id = require_org_id()
    with transaction.atomic():
        prospect = Prospect.objects.select_for_update().filter(pk=prospect_id).first()
        if prospect is None:
            return False
        key = _crossing_key(prospect)
        if Activity.objects.filter(prospect=prospect, kind=CROSSED_KIND, data__crossing=key).exists():
            return False
        name = prospect.full_name or prospect.email or f"Prospect {prospect.pk}"
        at = f" at {prospect.company_name}" if prospect.company_name else ""
        title = f"{name}{at} qualified (score {prospect.score}, tier {prospect.tier or '–'})"
        url = reverse("prospect_detail", args=[prospect.pk])
        recipients = [*context.admin_ids, prospect.owner_id or 0]
        notifications_create(org_id=org_id, user_ids=recipients, kind=NOTIFICATION_KIND, title=title, url=url)
        payload = {
            "type": EVENT_PROSPECT_QUALIFIED,
            "timestamp": timezone.now().isoformat(),
            "data": prospect_payload(prospect),
        }
        messages = WebhookMessage.objects.bulk_create(
            [
                WebhookMessage(
                    org_id=org_id,
                    endpoint=endpoint,
                    event_type=EVENT_PROSPECT_QUALIFIED,
                    message_id=f"msg_{uuid.uuid4().hex}",
                    payload=payload,
                )
                for endpoint in context.endpoints
            ]
        )
        Activity.objects.create(
            org_id=org_id,
            prospect=prospect,
            kind=CROSSED_KIND,
            summary=f"Crossed the qualification threshold with {prospect.score}: "
            f"{len(set(recipients) - {0})} notified, {len(messages)} webhook(s)"
            + (", Slack" if context.slack else ""),
            data={"crossing": key, "score": prospect.score, "webhooks": [m.message_id for m in messages]},
        )
    from .tasks import slack_notify_task, webhook_deliver_task

    for message in messages:
        transaction.on_commit(partial(webhook_deliver_task.delay, org_id, message.pk))
    if context.slack:
        transaction.on_commit(partial(slack_notify_task.delay, org_id, prospect.pk))
    return True


def prospects_route(*, prospect_ids: list[int]) -> dict[int, str]:
    """Route a batch of crossings; returns the ones that failed, with why."""
    context = _route_context()
    failed: dict[int, str] = {}
    for pk in prospect_ids:
        try:
            prospect_route(prospect_id=pk, context=context)
        except Exception as exc:
            log.warning("routing prospect %s failed", pk, exc_info=True)
            failed[pk] = f"{type(exc).__name__}: {exc}"[:400]
    return failed


# --- webhook delivery -------------------------------------------------------------------------------------------


def webhook_body(message: WebhookMessage) -> str:
    """The exact bytes signed and sent: compact JSON of the stored payload, the same on every attempt."""
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True)


def _attempt_record(message: WebhookMessage, *, status_code: int | None, error: str, final: str = "") -> None:
    changes: dict[str, Any] = {
        "attempts": F("attempts") + 1,
        "last_status_code": status_code,
        "last_error": error[:500],
    }
    if final == "delivered":
        changes.update(status="delivered", delivered_at=timezone.now())
    elif final == "failed":
        changes.update(status="failed")
    WebhookMessage.objects.filter(pk=message.pk).update(**changes)


def webhook_message_deliver(*, message_pk: int) -> WebhookMessage | None:
    """One delivery attempt. Raises WebhookAttemptFailed when it is worth trying again later."""
    message = WebhookMessage.objects.select_related("endpoint").filter(pk=message_pk).first()
    if message is None or message.status != "pending":
        return message
    endpoint = message.endpoint
    if not endpoint.is_active:
        _attempt_record(message, status_code=None, error="endpoint disabled", final="failed")
        return message
    body = webhook_body(message)
    headers = webhook_headers(secret=endpoint.secret, message_id=message.message_id, body=body)
    try:
        status_code = guarded_post(endpoint.url, body=body, headers=headers)
    except netguard.BlockedURL as exc:
        _attempt_record(message, status_code=None, error=f"blocked: {exc.reason}", final="failed")
        return message
    except (netguard.FetchError, httpx.HTTPError) as exc:
        _attempt_record(message, status_code=None, error=f"{type(exc).__name__}: {exc}")
        raise WebhookAttemptFailed(str(exc) or type(exc).__name__) from exc
    if 200 <= status_code < 300:
        _attempt_record(message, status_code=status_code, error="", final="delivered")
        return message
    _attempt_record(message, status_code=status_code, error=f"HTTP {status_code}")
    raise WebhookAttemptFailed(f"HTTP {status_code} from {endpoint.url}")


def webhook_message_give_up(*, org_id: int, message_pk: int, error: str) -> None:
    with org_scope(org_id):
        WebhookMessage.objects.filter(pk=message_pk, status="pending").update(
            status="failed", last_error=f"gave up: {error}"[:500]
        )


# --- Slack ---------------------------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters; user text must not create links or mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(prospect: Prospect) -> dict[str, Any]:
    name = _slack_escape(prospect.full_name or prospect.email or f"Prospect {prospect.pk}")
    company = _slack_escape(prospect.company_name)
    title = _slack_escape(prospect.title)
    link = settings.SITE_URL + reverse("prospect_detail", args=[prospect.pk])
    headline = f"{name}{f' at {company}' if company else ''} qualified with score {prospect.score}"
    reasoning = ""
    breakdown = prospect.score_breakdown or {}
    if isinstance(breakdown, dict) and isinstance(breakdown.get("reasoning"), str):
        reasoning = _slack_escape(breakdown["reasoning"])[:500]
    fields = [f"*Score:* {prospect.score}", f"*Tier:* {prospect.tier or '–'}"]
    if title:
        fields.append(f"*Title:* {title}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{link}|{headline}>*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if reasoning:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": reasoning}]})
    return {"text": headline, "blocks": blocks}


def slack_prospect_notify(*, prospect_id: int) -> bool:
    """Post to the org's Slack incoming webhook; SlackAttemptFailed on errors worth retrying."""
    pipeline_settings = PipelineSettings.objects.filter().first()
    url = pipeline_settings.slack_webhook_url if pipeline_settings else ""
    prospect = Prospect.objects.filter(pk=prospect_id).first()
    if not url or prospect is None:
        return False
    body = json.dumps(slack_message(prospect))
    try:
        status_code = guarded_post(url, body=body, headers={"content-type": "application/json"})
    except netguard.BlockedURL as exc:
        log.warning("Slack webhook of org %s blocked: %s", prospect.org_id, exc.reason)
        return False
    except (netguard.FetchError, httpx.HTTPError) as exc:
        raise SlackAttemptFailed(str(exc) or type(exc).__name__) from exc
    if status_code == 429 or status_code >= 500:
        raise SlackAttemptFailed(f"HTTP {status_code}")
    if status_code >= 400:
        log.warning("Slack webhook of org %s answered %s", prospect.org_id, status_code)
        return False
    return True


# --- endpoint management (Settings → Webhooks) -------------------------------------------------------------------


def webhook_endpoint_create(
    *, org: Organization, url: str, events: list[str], actor: User | None
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its secret, which is shown to the user this once."""
    from accounts.services import audit_record

    url_check(url)
    unknown = set(events) - set(EVENTS)
    if unknown or not events:
        raise ValidationError(f"Choose events from: {', '.join(EVENTS)}.")
    secret = webhook_secret_generate()
    endpoint = WebhookEndpoint.objects.create(org=org, url=url, secret=secret, events=sorted(set(events)))
    audit_record(org=org, actor=actor, action="webhook_endpoint.create", target=endpoint, data={"url": url})
    return endpoint, secret


def webhook_endpoint_set_active(*, endpoint: WebhookEndpoint, is_active: bool, actor: User | None) -> None:
    from accounts.services import audit_record

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=is_active)
    endpoint.is_active = is_active
    action = "webhook_endpoint.enable" if is_active else "webhook_endpoint.disable"
    audit_record(org=endpoint.org, actor=actor, action=action, target=endpoint)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User | None) -> None:
    from accounts.services import audit_record

    audit_record(
        org=endpoint.org,
        actor=actor,
        action="webhook_endpoint.delete",
        target=endpoint,
        data={"url": endpoint.url},
    )
    endpoint.delete()


def webhook_endpoints_with_stats() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.order_by("-created_at", "-id"))


def webhook_messages_recent(*, endpoint: WebhookEndpoint, limit: int = 20) -> list[WebhookMessage]:
    return list(endpoint.messages.order_by("-created_at", "-id")[:limit])
