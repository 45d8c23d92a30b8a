"""Settling `unknown` messages: a crash between the send call and its record leaves a message that may or may not
have left. We never resend one blindly. Where the ESP's API can tell, it decides; otherwise a person does.

- Mailgun: the Events API filtered by our Message-ID (`GET /v3/<domain>/events?message-id=<id>`): an `accepted`
  (or later) event means it left; none an hour after the attempt means Mailgun never took it.
- Postmark: outbound message search by recipient and subject around the attempt (`GET /messages/outbound`), the
  only filters Postmark offers for a message whose own id we never received.
- SMTP and the other ESPs: the outbox shows the message with two buttons, "It was delivered" and "Send it again".

"It left" makes the message `sent` (campaigns then goes on with the next step); "it never left" queues the same
row again, with the same Message-ID, so the recipient's client can tell it apart from a second mail.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from leadgen.tenancy import org_scope

from ..models import Esp, Mailbox, Message, MessageStatus

logger = logging.getLogger(__name__)

MAILGUN_API = "https://api.mailgun.net/v3"
POSTMARK_API = "https://api.postmarkapp.com"
# How long after the attempt an ESP's silence means "never taken" (its logs can lag behind the send by minutes).
ESP_SILENCE_SETTLES = dt.timedelta(hours=1)
# Don't ask before the ESP had time to log the attempt.
ESP_ASK_AFTER = dt.timedelta(minutes=5)
LEFT_EVENTS = {"accepted", "delivered", "failed", "opened", "clicked", "complained", "unsubscribed"}


@dataclass(frozen=True)
class Lookup:
    """What the ESP says about a message: True (it took it), False (no record once that means something), None
    (can't tell: no API for it, not yet, or the API failed)."""

    left: bool | None
    evidence: str


def _attempted_at(message: Message) -> dt.datetime:
    return message.slot_at or message.claimed_at or message.updated_at


def _mailgun_lookup(message: Message, mailbox: Mailbox, now: dt.datetime) -> Lookup:
    base = (settings.OUTREACH_ESP_API_URLS.get(Esp.MAILGUN) or MAILGUN_API).rstrip("/")
    domain = (mailbox.esp_settings or {}).get("sender_domain") or parseaddr(mailbox.from_email)[1].rpartition(
        "@"
    )[2]
    response = httpx.get(
        f"{base}/{domain}/events",
        params={"message-id": message.message_id.strip("<>"), "limit": 25},
        auth=("api", mailbox.esp_api_key),
        timeout=15,
    )
    response.raise_for_status()
    kinds = sorted({str(item.get("event", "")) for item in response.json().get("items", [])})
    if LEFT_EVENTS.intersection(kinds):
        return Lookup(True, f"Mailgun events for {message.message_id}: {', '.join(kinds)}")
    if now - _attempted_at(message) >= ESP_SILENCE_SETTLES:
        return Lookup(False, f"Mailgun has no event for {message.message_id} an hour after the attempt")
    return Lookup(None, "Mailgun has no event yet")


def _postmark_lookup(message: Message, mailbox: Mailbox, now: dt.datetime) -> Lookup:
    base = (settings.OUTREACH_ESP_API_URLS.get(Esp.POSTMARK) or POSTMARK_API).rstrip("/")
    attempted = _attempted_at(message)
    response = httpx.get(
        f"{base}/messages/outbound",
        params={
            "count": 50,
            "offset": 0,
            "recipient": message.to_email,
            "subject": message.subject,
            "fromdate": (attempted - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S"),
            "todate": (attempted + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
        },
        headers={"Accept": "application/json", "X-Postmark-Server-Token": mailbox.esp_api_key},
        timeout=15,
    )
    response.raise_for_status()
    found = response.json().get("Messages") or []
    if found:
        first = found[0]
        return Lookup(True, f"Postmark message {first.get('MessageID', '?')} ({first.get('Status', 'Sent')})")
    if now - attempted >= ESP_SILENCE_SETTLES:
        return Lookup(False, "Postmark has no outbound message to this address with this subject")
    return Lookup(None, "Postmark has no record yet")


LOOKUPS = {Esp.MAILGUN: _mailgun_lookup, Esp.POSTMARK: _postmark_lookup}


def esp_lookup(*, message: Message, now: dt.datetime | None = None) -> Lookup:
    """Ask the message's ESP whether it took the message. Never raises: a failing API answers None."""
    now = now or timezone.now()
    mailbox = message.mailbox
    lookup = LOOKUPS.get(Esp(mailbox.esp)) if mailbox.esp else None
    if lookup is None:
        return Lookup(None, "this mailbox's provider cannot be asked")
    try:
        return lookup(message, mailbox, now)
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning(
            "outreach reconcile: %s lookup for message %s failed: %s", mailbox.esp, message.pk, exc
        )
        return Lookup(None, f"{mailbox.get_esp_display()} could not be asked: {exc}")


def message_unknown_settle(*, message: Message, left: bool, evidence: str, actor: User | None = None) -> bool:
    """Settle an `unknown` message: sent (with the evidence) or queued again as the same row. A conditional
    UPDATE, so two settlers (a person and the beat job) cannot both act; False when it was no longer unknown."""
    now = timezone.now()
    who = f" (by {actor.email})" if actor is not None else ""
    rows = Message.objects.filter(pk=message.pk, status=MessageStatus.UNKNOWN)
    if left:
        changed = rows.update(
            status=MessageStatus.SENT,
            sent_at=message.slot_at or now,
            provider_response=f"{evidence}{who}"[:2000],
            hold_reason="",
            updated_at=now,
        )
    else:
        changed = rows.update(
            status=MessageStatus.QUEUED,
            scheduled_at=now,
            queued_at=now,
            claimed_at=None,
            slot_at=None,
            error="",
            hold_reason="",
            provider_response=f"Sent again: {evidence}{who}"[:2000],
            updated_at=now,
        )
    if changed:
        logger.info(
            "outreach reconcile: message %s settled as %s: %s",
            message.pk,
            "sent" if left else "requeued",
            evidence,
        )
    message.refresh_from_db()
    return bool(changed)


def unknown_reconcile_run(*, now: dt.datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Every org: ask the ESP about `unknown` messages of mailboxes whose ESP can tell, and settle those it can."""
    now = now or timezone.now()
    rows = list(
        Message.objects.unscoped()
        .select_related("mailbox")
        .filter(
            status=MessageStatus.UNKNOWN, mailbox__esp__in=list(LOOKUPS), updated_at__lte=now - ESP_ASK_AFTER
        )
        .order_by("id")[:batch]
    )
    counts: dict[str, Any] = {"sent": 0, "requeued": 0, "undecided": 0}
    for message in rows:
        with org_scope(message.org_id):
            found = esp_lookup(message=message, now=now)
            if found.left is None:
                counts["undecided"] += 1
            elif message_unknown_settle(message=message, left=found.left, evidence=found.evidence):
                counts["sent" if found.left else "requeued"] += 1
    return counts
