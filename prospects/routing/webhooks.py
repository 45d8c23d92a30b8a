"""Outbound webhooks: signed delivery with recorded attempts, and the endpoints of Settings → Webhooks."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization, User
from leadgen import netguard
from leadgen.signing import webhook_headers, webhook_secret_generate
from leadgen.tenancy import org_scope
from prospects.models import (
    WebhookEndpoint,
    WebhookMessage,
    WebhookMessageStatus,
)

log = logging.getLogger(__name__)

EVENT_PROSPECT_QUALIFIED = "prospect.qualified"
# A human reply to a message we sent (outreach.inbound emits it; auto-replies and bounces never do).
EVENT_REPLY_RECEIVED = "reply.received"
# Stored and sent by campaigns' meetings wing (campaigns.meetings.services); listed here so endpoints can subscribe.
EVENT_MEETING_BOOKED = "meeting.booked"
EVENTS = (EVENT_PROSPECT_QUALIFIED, EVENT_REPLY_RECEIVED, EVENT_MEETING_BOOKED)


class WebhookAttemptFailed(Exception):
    """One delivery attempt failed in a way worth retrying (network error, timeout, non-2xx answer)."""


def webhook_body(message: WebhookMessage) -> str:
    """The exact bytes signed and sent: compact JSON of the stored payload, the same on every attempt."""
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True)


def _attempt_record(message: WebhookMessage, *, status_code: int | None, error: str, final: str = "") -> None:
    changes: dict[str, Any] = {
        "attempts": F("attempts") + 1,
        "last_status_code": status_code,
        "last_error": error[:500],
    }
    if final == WebhookMessageStatus.DELIVERED:
        changes.update(status=WebhookMessageStatus.DELIVERED, delivered_at=timezone.now())
    elif final == WebhookMessageStatus.FAILED:
        changes.update(status=WebhookMessageStatus.FAILED)
    WebhookMessage.objects.filter(pk=message.pk).update(**changes)


def webhook_message_deliver(*, message_pk: int) -> WebhookMessage | None:
    """One delivery attempt. Raises WebhookAttemptFailed when it is worth trying again later."""
    message = WebhookMessage.objects.select_related("endpoint").filter(pk=message_pk).first()
    if message is None or message.status != WebhookMessageStatus.PENDING:
        return message
    endpoint = message.endpoint
    if not endpoint.is_active:
        _attempt_record(
            message, status_code=None, error="endpoint disabled", final=WebhookMessageStatus.FAILED
        )
        return message
    body = webhook_body(message)
    headers = webhook_headers(secret=endpoint.secret, message_id=message.message_id, body=body)
    try:
        status_code = netguard.guarded_post(endpoint.url, body=body, headers=headers)
    except netguard.BlockedURL as exc:
        _attempt_record(
            message, status_code=None, error=f"blocked: {exc.reason}", final=WebhookMessageStatus.FAILED
        )
        return message
    except (netguard.FetchError, httpx.HTTPError) as exc:
        _attempt_record(message, status_code=None, error=f"{type(exc).__name__}: {exc}")
        raise WebhookAttemptFailed(str(exc) or type(exc).__name__) from exc
    if 200 <= status_code < 300:
        _attempt_record(message, status_code=status_code, error="", final=WebhookMessageStatus.DELIVERED)
        return message
    _attempt_record(message, status_code=status_code, error=f"HTTP {status_code}")
    raise WebhookAttemptFailed(f"HTTP {status_code} from {endpoint.url}")


def webhook_message_give_up(*, org_id: int, message_pk: int, error: str) -> None:
    with org_scope(org_id):
        WebhookMessage.objects.filter(pk=message_pk, status=WebhookMessageStatus.PENDING).update(
            status=WebhookMessageStatus.FAILED, last_error=f"gave up: {error}"[:500]
        )


def webhook_endpoint_create(
    *, org: Organization, url: str, events: list[str], actor: User | None
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its secret, which is shown to the user this once."""
    from accounts.services import audit_record

    netguard.url_validate(url)
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
