"""Sending exactly once.

For one message:

1. **Claim**: `queued → sending` by a conditional UPDATE, committed. A second worker with the same id claims nothing.
2. **Checks**, right before the call: the organisation's postal address, suppression, do-not-contact, a paused
   mailbox, then every guard in `OUTREACH_SEND_GUARDS` (campaigns: campaign paused, enrollment stopped, stop rules).
   A guard returns None (go), a str (cancel with that reason) or a `SendHold` (stay queued until later).
3. **Pacing gate**: a conditional UPDATE of `Mailbox.next_send_at` (only when the gap is over) that moves it on by
   the gap plus random jitter, then, in the same transaction and so under that row's lock, the daily allowance
   (warm-up ramp included) over the last 24 hours of granted slots. Losing either leaves the message queued with
   a later `scheduled_at`. The granted `slot_at` is committed before the SMTP call.
4. **Call**, then **record** (`sent` with the server's reply; `failed`; back to `queued` when nothing was handed
   over; `unknown` when the connection broke mid-message).

A message left in `sending` by a crash is found by `messages_sweep_stale`: without `slot_at` the call never
happened and it is queued again; with one it becomes `unknown`, shown to users and never sent again by us.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus

from . import mime, transport

logger = logging.getLogger(__name__)

POSTAL_ADDRESS_RETRY = dt.timedelta(minutes=10)
RETRY_DELAY = dt.timedelta(minutes=5)
MAX_ATTEMPTS_NOT_DELIVERED = 5


class SendHold(str):
    """What a send guard returns to keep a message queued (not cancelled) until `retry_after` seconds from now."""

    retry_after: int

    def __new__(cls, reason: str, retry_after: int = 300) -> SendHold:
        hold = super().__new__(cls, reason)
        hold.retry_after = retry_after
        return hold


@dataclass(frozen=True)
class Hold:
    until: dt.datetime
    reason: str


def message_claim(*, message_id: int) -> bool:
    """queued → sending, committed before anything else happens."""
    current = timezone.now()
    with transaction.atomic():
        return bool(
            Message.objects.filter(
                pk=message_id, status=MessageStatus.QUEUED, scheduled_at__lte=current
            ).update(status=MessageStatus.SENDING, claimed_at=current, slot_at=None, updated_at=current)
        )


def _release(message: Message, *, until: dt.datetime, reason: str) -> None:
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED,
        claimed_at=None,
        slot_at=None,
        scheduled_at=until,
        hold_reason=reason[:1000],
        updated_at=timezone.now(),
    )


def _finish(message: Message, *, status: str, **changes: Any) -> None:
    # `unknown` is accepted too: a sweeper may have given up on a slow send that the server then accepted.
    Message.objects.filter(pk=message.pk, status__in=[MessageStatus.SENDING, MessageStatus.UNKNOWN]).update(
        status=status, updated_at=timezone.now(), **changes
    )


def _cancel(message: Message, reason: str) -> str:
    _finish(message, status=MessageStatus.CANCELLED, hold_reason=reason[:1000])
    return "cancelled"


def _guard_reason(message: Message) -> str | None:
    from prospects.compliance.services import is_suppressed

    email = message.to_email.strip().lower()
    if "@" not in email:
        return "The recipient address is missing or invalid."
    if is_suppressed(email_normalized=email):
        return "The recipient is on the suppression list."
    if message.prospect is not None and message.prospect.do_not_contact:
        return "The prospect is marked do-not-contact."
    for path in settings.OUTREACH_SEND_GUARDS:
        reason = import_string(path)(message)
        if reason:
            return str(reason) if not isinstance(reason, SendHold) else reason
    return None


def daily_allowance(*, mailbox: Mailbox, today: dt.date) -> int:
    """The daily limit, or the warm-up ramp's figure for `today` when that is lower."""
    if not (mailbox.warmup_start and mailbox.warmup_started_on):
        return mailbox.daily_limit
    days = max(0, (today - mailbox.warmup_started_on).days)
    return min(mailbox.daily_limit, mailbox.warmup_start + days * mailbox.warmup_increment)


def pacing_reserve(*, message: Message, mailbox: Mailbox) -> Hold | None:
    """Grant this message the mailbox's next send slot, or say until when it must wait."""
    current = timezone.now()
    gap = dt.timedelta(seconds=mailbox.min_interval_seconds + random.uniform(0, mailbox.jitter_seconds))
    with transaction.atomic():
        won = (
            Mailbox.objects.unscoped()
            .filter(pk=mailbox.pk, status=MailboxStatus.ACTIVE)
            .filter(Q(next_send_at__isnull=True) | Q(next_send_at__lte=current))
            .update(next_send_at=current + gap)
        )
        if not won:
            state = Mailbox.objects.unscoped().values("status", "next_send_at").get(pk=mailbox.pk)
            if state["status"] == MailboxStatus.PAUSED:
                return Hold(current + RETRY_DELAY, "The mailbox is paused.")
            return Hold(state["next_send_at"], "Waiting for the mailbox's minimum gap between sends.")
        # The UPDATE above holds the mailbox row's lock until commit: the count below is serialised per mailbox.
        window = Message.objects.unscoped().filter(
            org_id=mailbox.org_id, mailbox_id=mailbox.pk, slot_at__gt=current - dt.timedelta(hours=24)
        )
        allowance = daily_allowance(mailbox=mailbox, today=timezone.localdate(current))
        if window.count() >= allowance:
            oldest = window.order_by("slot_at").values_list("slot_at", flat=True).first()
            transaction.set_rollback(True)
            until = (oldest or current) + dt.timedelta(hours=24)
            return Hold(until, f"Daily limit of {allowance} reached for this mailbox.")
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(slot_at=current)
    return None


def message_send(*, message_id: int) -> str:
    """Send one message of the current organisation if it is queued and due. Returns what happened."""
    if not message_claim(message_id=message_id):
        return "not_claimed"
    message = Message.objects.select_related("mailbox", "prospect", "org").get(pk=message_id)
    mailbox = message.mailbox
    if not message.org.postal_address.strip():
        _release(
            message,
            until=timezone.now() + POSTAL_ADDRESS_RETRY,
            reason="Add the organisation's postal address (Settings → Organisation): every email must show it.",
        )
        return "held"
    reason = _guard_reason(message)
    if isinstance(reason, SendHold):
        _release(message, until=timezone.now() + dt.timedelta(seconds=reason.retry_after), reason=str(reason))
        return "held"
    if reason:
        return _cancel(message, reason)
    hold = pacing_reserve(message=message, mailbox=mailbox)
    if hold is not None:
        _release(message, until=hold.until, reason=hold.reason)
        return "held"
    return _deliver(message, mailbox)


def _deliver(message: Message, mailbox: Mailbox) -> str:
    email = mime.email_build(message=message, mailbox=mailbox, postal_address=message.org.postal_address)
    try:
        reply = transport.message_deliver(mailbox=mailbox, email=email)
    except transport.AuthFailed as exc:
        _release(message, until=timezone.now() + RETRY_DELAY, reason=f"Mailbox login refused: {exc.detail}")
        from outreach.mailboxes import mailbox_pause_and_notify

        mailbox_pause_and_notify(mailbox=mailbox, reason=f"The server refused the login: {exc.detail}")
        return "auth_failed"
    except transport.Rejected as exc:
        _finish(message, status=MessageStatus.FAILED, error=exc.detail[:2000])
        return "failed"
    except transport.NotDelivered as exc:
        return _not_delivered(message, exc.detail)
    except transport.Ambiguous as exc:
        _finish(message, status=MessageStatus.UNKNOWN, error=exc.detail[:2000])
        return "unknown"
    _finish(
        message, status=MessageStatus.SENT, sent_at=timezone.now(), provider_response=reply[:1000], error=""
    )
    return "sent"


def _not_delivered(message: Message, detail: str) -> str:
    key = f"outreach:attempts:{message.pk}"
    cache.add(key, 0, timeout=24 * 3600)
    attempts = cache.incr(key)
    if attempts >= MAX_ATTEMPTS_NOT_DELIVERED:
        _finish(
            message, status=MessageStatus.FAILED, error=f"Gave up after {attempts} attempts: {detail}"[:2000]
        )
        return "failed"
    _release(message, until=timezone.now() + RETRY_DELAY * attempts, reason=f"Will retry: {detail}")
    return "retry"


# --- beat: the sweeper and the dispatcher --------------------------------------------------------------------------


def messages_sweep_stale(*, timeout_seconds: int | None = None) -> dict[str, int]:
    """Rows left in `sending` by a crash: requeued when they never got a slot, otherwise `unknown`."""
    timeout = timeout_seconds if timeout_seconds is not None else settings.OUTREACH_SENDING_TIMEOUT
    cutoff = timezone.now() - dt.timedelta(seconds=timeout)
    stale = Message.objects.unscoped().filter(status=MessageStatus.SENDING, claimed_at__lt=cutoff)
    current = timezone.now()
    requeued = stale.filter(slot_at__isnull=True).update(
        status=MessageStatus.QUEUED, claimed_at=None, scheduled_at=current, updated_at=current
    )
    unknown = stale.filter(slot_at__isnull=False).update(
        status=MessageStatus.UNKNOWN,
        updated_at=current,
        error="The worker stopped while sending: the message may or may not have been delivered, so it is "
        "not sent again. Check the recipient's thread before sending anything else.",
    )
    if requeued or unknown:
        logger.warning("outreach sweep: %s requeued, %s marked unknown", requeued, unknown)
    return {"requeued": requeued, "unknown": unknown}


def due_batches(*, limit: int, chunk: int) -> list[tuple[int, list[int]]]:
    """(org_id, message ids) chunks of queued messages due now across every org, skipping paused or pacing
    mailboxes. A mailbox with a gap contributes one message per pass; one without, up to `limit`."""
    current = timezone.now()
    due = (
        Message.objects.unscoped()
        .filter(status=MessageStatus.QUEUED, scheduled_at__lte=current)
        .exclude(mailbox__status=MailboxStatus.PAUSED)
        .exclude(mailbox__next_send_at__gt=current)
    )
    free = (
        due.filter(mailbox__min_interval_seconds=0)
        .order_by("scheduled_at")
        .values_list("org_id", "pk")[:limit]
    )
    paced = (
        due.filter(mailbox__min_interval_seconds__gt=0)
        .order_by("mailbox_id", "scheduled_at")
        .distinct("mailbox_id")
        .values_list("org_id", "pk")[:limit]
    )
    by_org: dict[int, list[int]] = {}
    for org_id, pk in [*free, *paced]:
        if cache.add(f"outreach:dispatched:{pk}", 1, timeout=settings.OUTREACH_DISPATCH_TTL):
            by_org.setdefault(org_id, []).append(pk)
    return [(org_id, ids[i : i + chunk]) for org_id, ids in by_org.items() for i in range(0, len(ids), chunk)]
