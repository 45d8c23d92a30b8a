"""Recording mail that came back, and acting on it.

Two entry points feed this module:
- `reply_ingest` takes one raw message (from IMAP sync or an inbound ESP webhook), matches it to a message we sent
  (`matching`), classifies it (`classify`), stores a `Reply` once per RFC Message-ID and acts on it.
- `bounce_apply` and `complaint_apply` are the actions themselves, which ESP delivery webhooks call directly.

Each action is idempotent: the Reply row (unique per org and Message-ID) or the Event's external id (unique per
org) is written first inside the same transaction, and a second delivery of the same mail or webhook finds it and
does nothing. Outreach sits above prospects, so it calls down into `prospects` for stage, engagement, suppression,
notifications and the timeline; campaigns pulls Events and Replies to stop or pause enrollments.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from leadgen.tenancy import org_scope

from ..models import Event, EventKind, Mailbox, Message, MessageStatus
from ..unsubscribe import message_unsubscribe

log = logging.getLogger(__name__)

# The mailbox's bounce rate is judged over what it sent in this window.
BOUNCE_WINDOW = dt.timedelta(days=30)


def _event_once(
    *, message: Message, kind: str, at: dt.datetime, source: str, external_id: str, meta: dict[str, Any]
) -> Event | None:
    """Store the event, or None when one with this external id is already there (a webhook or sync repeated)."""
    external_id = external_id[:200]
    if (
        external_id
        and Event.objects.unscoped().filter(org_id=message.org_id, external_id=external_id).exists()
    ):
        return None
    try:
        with transaction.atomic():
            return Event.objects.unscoped().create(
                org_id=message.org_id,
                message=message,
                prospect_id=message.prospect_id,
                campaign_id=message.campaign_id,
                kind=kind,
                at=at,
                source=source,
                external_id=external_id,
                meta=meta,
            )
    except IntegrityError:  # the same external id landed concurrently
        return None


def _soft_bounces(message: Message) -> int:
    """Soft bounces so far for this message's address, across every message sent to it."""
    return (
        Event.objects.unscoped()
        .filter(
            org_id=message.org_id,
            kind=EventKind.BOUNCED,
            message__to_email__iexact=message.to_email,
            meta__hard=False,
        )
        .count()
    )


def _address_invalid(*, message: Message, status: str, reason: str, at: dt.datetime) -> None:
    """A permanent failure: the prospect's email is marked undeliverable (with why) and the address suppressed."""
    from prospects.compliance.services import suppression_add
    from prospects.models import Prospect

    if message.prospect_id:
        prospect = Prospect.objects.unscoped().filter(pk=message.prospect_id).first()
        if prospect is not None:
            prospect.email_status = "invalid"
            prospect.email_check = {
                **(prospect.email_check or {}),
                "verdict": "invalid",
                "reason": f"bounced{f' ({status})' if status else ''}: {reason}"[:300],
                "source": "bounce",
                "bounce_status": status,
                "checked_at": at.isoformat(),
            }
            prospect.updated_at = timezone.now()
            prospect.save(update_fields=["email_status", "email_check", "updated_at"])
    try:
        suppression_add(
            org=message.org, value=message.to_email, actor=None, reason=f"hard bounce {status}".strip()
        )
    except Exception:  # an address the suppression list cannot read stays marked invalid; nothing else to do
        log.warning("could not suppress bounced address of message %s", message.pk, exc_info=True)


def _timeline(message: Message, kind: str, summary: str, data: dict[str, Any]) -> None:
    from prospects.models import Activity

    if message.prospect_id:
        Activity.objects.unscoped().create(
            org_id=message.org_id,
            prospect_id=message.prospect_id,
            kind=kind,
            summary=summary[:500],
            data=data,
        )


def mailbox_bounce_counts(*, mailbox: Mailbox, since: dt.datetime) -> tuple[int, int]:
    """(sent, bounced) of the mailbox since a moment: messages sent, and how many of those hard-bounced."""
    sent_qs = Message.objects.unscoped().filter(
        org_id=mailbox.org_id, mailbox=mailbox, status=MessageStatus.SENT, sent_at__gte=since
    )
    bounced = (
        Event.objects.unscoped()
        .filter(org_id=mailbox.org_id, kind=EventKind.BOUNCED, meta__hard=True, message__in=sent_qs)
        .values("message_id")
        .distinct()
        .count()
    )
    return sent_qs.count(), bounced


def bounce_apply(
    *,
    message: Message,
    hard: bool,
    status: str,
    reason: str,
    at: dt.datetime,
    external_id: str = "",
    source: str = "esp",
) -> Event | None:
    """Record a bounce of a message we sent and act on it; None when this bounce was already recorded.

    Hard (5.x.x): the prospect's email is marked invalid with the reason, the address is suppressed. Soft (4.x.x):
    only recorded, until `OUTREACH_SOFT_BOUNCE_LIMIT` soft bounces of the same address, which count as hard. Then
    the mailbox's bounce rate is checked and the mailbox paused (admins told) when it is too high.
    """
    from ..mailboxes import mailbox_check_bounces

    with org_scope(message.org_id), transaction.atomic():
        meta: dict[str, Any] = {"hard": hard, "status": status, "reason": reason[:500]}
        event = _event_once(
            message=message, kind=EventKind.BOUNCED, at=at, source=source, external_id=external_id, meta=meta
        )
        if event is None:
            return None
        if not hard:
            soft = _soft_bounces(message)
            if soft >= settings.OUTREACH_SOFT_BOUNCE_LIMIT:
                hard = True
                reason = f"{reason} ({soft} soft bounces: treated as permanent)"
                event.meta = {**meta, "hard": True, "soft_bounces": soft, "reason": reason[:500]}
                event.save(update_fields=["meta"])
        if hard:
            _address_invalid(message=message, status=status, reason=reason, at=at)
        word = "permanently" if hard else "temporarily"
        _timeline(
            message,
            "email_bounced",
            f"Email to {message.to_email} bounced {word}{f' ({status})' if status else ''}: {reason}",
            {"message_id": message.pk, "hard": hard, "status": status},
        )
        sent, bounced = mailbox_bounce_counts(mailbox=message.mailbox, since=at - BOUNCE_WINDOW)
        mailbox_check_bounces(mailbox=message.mailbox, sent=sent, bounced=bounced)
    return event


def complaint_apply(
    *, message: Message, at: dt.datetime, external_id: str = "", source: str = "esp"
) -> Event | None:
    """Record a spam complaint (feedback loop) and treat it as an unsubscribe: the address is suppressed and an
    Unsubscribe row (method "complaint") lets campaigns stop. None when this complaint was already recorded."""
    with org_scope(message.org_id), transaction.atomic():
        event = _event_once(
            message=message, kind=EventKind.COMPLAINED, at=at, source=source, external_id=external_id, meta={}
        )
        if event is None:
            return None
        message_unsubscribe(message=message, method="complaint")
        _timeline(
            message,
            "email_complained",
            f"{message.to_email} marked our email as spam: unsubscribed and suppressed",
            {"message_id": message.pk},
        )
    return event
