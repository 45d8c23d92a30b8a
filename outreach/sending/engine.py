"""Sending exactly once, a chunk of messages at a time.

For one task's chunk (the ids the dispatcher picked, all of one organisation):

1. **Claim**: `queued → sending` for the whole chunk in one conditional `UPDATE … WHERE id IN (SELECT … FOR UPDATE
   SKIP LOCKED) RETURNING id`, committed. A second worker given the same ids claims nothing. The claim's
   `claimed_at` is the claim's token: every later write of this worker to the row requires it, so a row the crash
   sweeper requeued (and another worker claimed again) is never touched by the first one.
2. **Checks**: the organisation's postal address, then suppression and do-not-contact for the chunk in one query
   each, then, message by message right before its call, every guard in `OUTREACH_SEND_GUARDS` (campaigns:
   campaign paused, enrollment stopped, stop rules). A guard returns None (go), a str (cancel with that reason)
   or a `SendHold` (stay queued until later).
3. **Slot**, per message, one round trip and one commit right before the SMTP call: lock the mailbox row, then, in
   a statement that sees every slot committed before the lock was granted, check again that the row is still
   this worker's claim, the mailbox is active, the address is not suppressed and the prospect not do-not-contact
   (so those hold at the very moment of sending, not just at the start of the chunk), that the mailbox's gap is
   over and its daily allowance (warm-up ramp included) over the last 24 hours of granted slots is not used up;
   then set `slot_at` and move `Mailbox.next_send_at` on by the gap plus random jitter. Losing leaves the message
   queued with a later `scheduled_at` (or cancels it, for suppression and do-not-contact). The granted `slot_at`
   is committed before the SMTP call: from then on a crash means `unknown`, never a second send.
4. **Call** over the mailbox's kept SMTP connection (one per mailbox and worker, reused across messages and tasks),
   then **record**: `sent` with the server's reply; `failed`; back to `queued` when nothing was handed over;
   `unknown` when the connection broke mid-message. Records ride along with the next message's slot statement
   (same commit) and the rest are written in one UPDATE at the end of the chunk. A record that never lands (the
   worker died) leaves the row in `sending` with its slot: the sweeper marks it `unknown`, so it is never resent.

A message left in `sending` by a crash is found by `messages_sweep_stale`: without `slot_at` the call never
happened and it is queued again; with one it becomes `unknown`, shown to users and never sent again by us.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from leadgen.tenancy import require_org_id
from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus
from outreach.tracking import links
from outreach.tracking.writer import events_sent_record

from . import mime, transport

logger = logging.getLogger(__name__)

POSTAL_ADDRESS_RETRY = dt.timedelta(minutes=10)
RETRY_DELAY = dt.timedelta(minutes=5)
MAX_ATTEMPTS_NOT_DELIVERED = 5
DAY = dt.timedelta(hours=24)

SUPPRESSED = "The recipient is on the suppression list."
DO_NOT_CONTACT = "The prospect is marked do-not-contact."
INVALID_ADDRESS = "The recipient address is missing or invalid."
POSTAL_ADDRESS_MISSING = (
    "Add the organisation's postal address (Settings → Organisation): every email must show it."
)


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


# --- SQL ------------------------------------------------------------------------------------------------------------


@functools.cache
def _claim_sql() -> str:
    return """
        UPDATE {message} SET status = 'sending', claimed_at = %(now)s, slot_at = NULL, updated_at = %(now)s
        WHERE id IN (
            SELECT id FROM {message}
            WHERE org_id = %(org)s AND id = ANY(%(ids)s) AND status = 'queued' AND scheduled_at <= %(now)s
            ORDER BY id LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) AND status = 'queued'
        RETURNING id, claimed_at
    """.format(message=connection.ops.quote_name(Message._meta.db_table))  # noqa: S608 (table names are our models', values are parameters)


# The slot and the records are SQL functions (migration outreach 0005): one round trip, plans cached per session.
SLOT_SQL = """
    SELECT verdict, next_send_at, oldest, allowance FROM outreach_slot_grant(
        %(org)s, %(mailbox)s, %(message)s, %(claimed)s::timestamptz, %(now)s, %(since)s, %(today)s::date,
        %(email)s, %(hash)s, %(domain)s, %(r_ids)s::bigint[], %(r_claimed)s::timestamptz[], %(r_status)s::text[],
        %(r_detail)s::text[], %(r_at)s::timestamptz[], %(r_until)s::timestamptz[])
"""
RECORD_SQL = """
    SELECT outreach_messages_record(%(r_ids)s::bigint[], %(r_claimed)s::timestamptz[], %(r_status)s::text[],
        %(r_detail)s::text[], %(r_at)s::timestamptz[], %(r_until)s::timestamptz[])
"""


@dataclass(frozen=True)
class _Record:
    message_id: int
    claimed_at: dt.datetime
    status: str
    detail: str
    at: dt.datetime
    until: dt.datetime | None = None


@dataclass
class _Recorder:
    """Results waiting to be written: with the next slot statement, or by `flush`."""

    pending: list[_Record] = field(default_factory=list)

    def add(self, message: Message, status: str, detail: str = "", until: dt.datetime | None = None) -> None:
        assert message.claimed_at is not None
        self.pending.append(_Record(message.pk, message.claimed_at, status, detail, timezone.now(), until))

    def take(self) -> dict[str, list[Any]]:
        """The pending results as the arrays the SQL functions take; empty arrays when there are none."""
        records, self.pending = self.pending, []
        return {
            "r_ids": [r.message_id for r in records],
            "r_claimed": [r.claimed_at for r in records],
            "r_status": [r.status for r in records],
            "r_detail": [r.detail for r in records],
            "r_at": [r.at for r in records],
            "r_until": [r.until for r in records],
        }

    def flush(self) -> None:
        if self.pending:
            with connection.cursor() as cursor:
                cursor.execute(RECORD_SQL, self.take())


# --- claim, checks, slot ---------------------------------------------------------------------------------------------


def messages_claim(*, message_ids: Sequence[int], org_id: int | None = None) -> dict[int, dt.datetime]:
    """queued → sending for those of `message_ids` that are queued and due, committed in one statement.
    Returns each claimed id with its claim token (`claimed_at`)."""
    if not message_ids:
        return {}
    params: dict[str, Any] = {
        "org": org_id if org_id is not None else require_org_id(),
        "ids": list(message_ids),
        "now": timezone.now(),
        "limit": len(message_ids),
    }
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        return {int(pk): claimed_at for pk, claimed_at in cursor.fetchall()}


def message_claim(*, message_id: int) -> bool:
    """queued → sending, committed before anything else happens."""
    return bool(messages_claim(message_ids=[message_id]))


def _normalized(message: Message) -> str:
    return message.to_email.strip().lower()


def _suppressed(emails: Iterable[str]) -> set[str]:
    """Which of these (normalised) addresses the current organisation's suppression list covers: one query, the
    same three rules as `prospects.compliance.services.is_suppressed` (the address, its hash, its domain)."""
    from prospects.models import Suppression, SuppressionKind

    emails = {e for e in emails if "@" in e}
    if not emails:
        return set()
    hashes = {Suppression.hash_email(e): e for e in emails}
    domains = {e.rsplit("@", 1)[1] for e in emails}
    hits = set(
        Suppression.objects.filter(
            Q(kind=SuppressionKind.EMAIL, value__in=emails)
            | Q(kind=SuppressionKind.EMAIL_HASH, value__in=list(hashes))
            | Q(kind=SuppressionKind.DOMAIN, value__in=domains)
        ).values_list("kind", "value")
    )
    covered = set()
    for email in emails:
        domain = email.rsplit("@", 1)[1]
        if (
            (SuppressionKind.EMAIL, email) in hits
            or (SuppressionKind.DOMAIN, domain) in hits
            or (SuppressionKind.EMAIL_HASH, Suppression.hash_email(email)) in hits
        ):
            covered.add(email)
    return covered


def _do_not_contact(prospect_ids: Iterable[int | None]) -> set[int]:
    from prospects.models import Prospect

    ids = {pk for pk in prospect_ids if pk is not None}
    if not ids:
        return set()
    return set(Prospect.objects.filter(pk__in=ids, do_not_contact=True).values_list("pk", flat=True))


def send_guards() -> list[Callable[[Message], Any]]:
    return [import_string(path) for path in settings.OUTREACH_SEND_GUARDS]


def _guard_reason(message: Message, guards: list[Callable[[Message], Any]]) -> str | None:
    for guard in guards:
        reason = guard(message)
        if reason:
            return str(reason) if not isinstance(reason, SendHold) else reason
    return None


def daily_allowance(*, mailbox: Mailbox, today: dt.date) -> int:
    """The daily limit, or the warm-up ramp's figure for `today` when that is lower (the slot statement computes
    the same from the locked mailbox row)."""
    if not (mailbox.warmup_start and mailbox.warmup_started_on):
        return mailbox.daily_limit
    days = max(0, (today - mailbox.warmup_started_on).days)
    return min(mailbox.daily_limit, mailbox.warmup_start + days * mailbox.warmup_increment)


@dataclass(frozen=True)
class _Verdict:
    verdict: str
    hold: Hold | None = None


def _slot(
    *, message: Message, mailbox_id: int, claimed_at: dt.datetime | None, recorder: _Recorder | None = None
) -> _Verdict:
    """Grant `message` the mailbox's next send slot (committed), after the last checks; or say why not."""
    from prospects.models import Suppression

    current = timezone.now()
    email = _normalized(message)
    params: dict[str, Any] = {
        "mailbox": mailbox_id,
        "org": message.org_id,
        "message": message.pk,
        "claimed": claimed_at,
        "now": current,
        "since": current - DAY,
        "today": timezone.localdate(current),
        "email": email,
        "hash": Suppression.hash_email(email),
        "domain": email.rsplit("@", 1)[-1],
    }
    # The results waiting to be written ride along: same round trip, same commit.
    params.update(recorder.take() if recorder else _Recorder().take())
    with connection.cursor() as cursor:
        cursor.execute(SLOT_SQL, params)
        verdict, next_send_at, oldest, allowance = cursor.fetchone()
    if verdict == "ok":
        return _Verdict("ok")
    if verdict == "paused":
        return _Verdict(verdict, Hold(current + RETRY_DELAY, "The mailbox is paused."))
    if verdict == "gap":
        return _Verdict(verdict, Hold(next_send_at, "Waiting for the mailbox's minimum gap between sends."))
    if verdict == "limit":
        return _Verdict(
            verdict, Hold((oldest or current) + DAY, f"Daily limit of {allowance} reached for this mailbox.")
        )
    return _Verdict(verdict)


def pacing_reserve(
    *, message: Message, mailbox: Mailbox, claimed_at: dt.datetime | None = None
) -> Hold | None:
    """Grant this message (claimed, in `sending`) the mailbox's next send slot, or say until when it must wait.
    With `claimed_at`, only that claim of the row is granted."""
    result = _slot(message=message, mailbox_id=mailbox.pk, claimed_at=claimed_at)
    if result.verdict == "ok":
        return None
    if result.hold is not None:
        return result.hold
    reasons = {"suppressed": SUPPRESSED, "do_not_contact": DO_NOT_CONTACT}
    return Hold(timezone.now() + RETRY_DELAY, reasons.get(result.verdict, "The message is not claimed."))


# --- sending ---------------------------------------------------------------------------------------------------------


def messages_send(*, message_ids: Sequence[int]) -> dict[int, str]:
    """Send these messages of the current organisation that are queued and due; what happened to each."""
    from accounts.models import Organization

    outcomes = dict.fromkeys(message_ids, "not_claimed")
    claims = messages_claim(message_ids=message_ids)
    if not claims:
        return outcomes
    recorder = _Recorder()
    messages: dict[int, Message] = {}
    try:
        messages = {m.pk: m for m in Message.objects.filter(pk__in=list(claims))}
        mailboxes = Mailbox.objects.unscoped().in_bulk({m.mailbox_id for m in messages.values()})
        org = Organization.objects.only("postal_address").get(pk=require_org_id())
        postal_address = org.postal_address.strip()
        suppressed = _suppressed(_normalized(m) for m in messages.values())
        do_not_contact = _do_not_contact(m.prospect_id for m in messages.values())
        guards = send_guards()
        for pk in message_ids:
            message = messages.get(pk)
            if message is None or outcomes[pk] != "not_claimed":
                continue
            message.claimed_at = claims[pk]
            message.mailbox = mailboxes[message.mailbox_id]
            message.org = org
            outcomes[pk] = _send_one(
                message,
                recorder=recorder,
                postal_address=postal_address,
                suppressed=_normalized(message) in suppressed,
                do_not_contact=message.prospect_id in do_not_contact,
                guards=guards,
            )
    finally:
        recorder.flush()
        # The chunk's `sent` Events in one insert, once the statuses are written (a retried chunk adds none).
        sent = [messages[pk] for pk, outcome in outcomes.items() if outcome == "sent"]
        if sent:
            events_sent_record(messages=sent)
    return outcomes


def message_send(*, message_id: int) -> str:
    """Send one message of the current organisation if it is queued and due. Returns what happened."""
    return messages_send(message_ids=[message_id])[message_id]


def _send_one(
    message: Message,
    *,
    recorder: _Recorder,
    postal_address: str,
    suppressed: bool,
    do_not_contact: bool,
    guards: list[Callable[[Message], Any]],
) -> str:
    if not postal_address:
        recorder.add(
            message, MessageStatus.QUEUED, POSTAL_ADDRESS_MISSING, timezone.now() + POSTAL_ADDRESS_RETRY
        )
        return "held"
    if "@" not in _normalized(message):
        return _cancel(recorder, message, INVALID_ADDRESS)
    if suppressed:
        return _cancel(recorder, message, SUPPRESSED)
    if do_not_contact:
        return _cancel(recorder, message, DO_NOT_CONTACT)
    reason = _guard_reason(message, guards)
    if isinstance(reason, SendHold):
        _release(
            recorder, message, until=timezone.now() + dt.timedelta(seconds=reason.retry_after), reason=reason
        )
        return "held"
    if reason:
        return _cancel(recorder, message, reason)
    result = _slot(
        message=message, mailbox_id=message.mailbox_id, claimed_at=message.claimed_at, recorder=recorder
    )
    if result.verdict == "lost":
        return "not_claimed"
    if result.verdict == "suppressed":
        return _cancel(recorder, message, SUPPRESSED)
    if result.verdict == "do_not_contact":
        return _cancel(recorder, message, DO_NOT_CONTACT)
    if result.hold is not None:
        _release(recorder, message, until=result.hold.until, reason=result.hold.reason)
        return "held"
    return _deliver(message, message.mailbox, recorder=recorder, postal_address=postal_address)


def _release(recorder: _Recorder, message: Message, *, until: dt.datetime, reason: str) -> None:
    recorder.add(message, MessageStatus.QUEUED, str(reason)[:1000], until)


def _cancel(recorder: _Recorder, message: Message, reason: str) -> str:
    recorder.add(message, MessageStatus.CANCELLED, str(reason)[:1000])
    return "cancelled"


def _deliver(message: Message, mailbox: Mailbox, *, recorder: _Recorder, postal_address: str) -> str:
    # The tracked links are stored (committed) before the call, so the redirect knows them the moment mail lands.
    tracked = links.message_prepare(message=message)
    email = mime.email_build(message=message, mailbox=mailbox, postal_address=postal_address, tracked=tracked)
    try:
        reply = transport.message_deliver(mailbox=mailbox, email=email)
    except transport.AuthFailed as exc:
        _release(
            recorder,
            message,
            until=timezone.now() + RETRY_DELAY,
            reason=f"Mailbox login refused: {exc.detail}",
        )
        recorder.flush()
        from outreach.mailboxes import mailbox_pause_and_notify

        mailbox_pause_and_notify(mailbox=mailbox, reason=f"The server refused the login: {exc.detail}")
        return "auth_failed"
    except transport.Rejected as exc:
        recorder.add(message, MessageStatus.FAILED, exc.detail[:2000])
        return "failed"
    except transport.NotDelivered as exc:
        return _not_delivered(recorder, message, exc.detail)
    except transport.Ambiguous as exc:
        recorder.add(message, MessageStatus.UNKNOWN, exc.detail[:2000])
        return "unknown"
    recorder.add(message, MessageStatus.SENT, reply[:1000])
    return "sent"


def _not_delivered(recorder: _Recorder, message: Message, detail: str) -> str:
    key = f"outreach:attempts:{message.pk}"
    cache.add(key, 0, timeout=24 * 3600)
    attempts = cache.incr(key)
    if attempts >= MAX_ATTEMPTS_NOT_DELIVERED:
        recorder.add(message, MessageStatus.FAILED, f"Gave up after {attempts} attempts: {detail}"[:2000])
        return "failed"
    _release(recorder, message, until=timezone.now() + RETRY_DELAY * attempts, reason=f"Will retry: {detail}")
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


def dispatched_key(message_id: int) -> str:
    return f"outreach:dispatched:{message_id}"


def _mark_dispatched(pks: list[int]) -> list[bool]:
    """`cache.add` of each id's dispatched key, in one Redis round trip when the cache is Redis."""
    ttl = settings.OUTREACH_DISPATCH_TTL
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None or not hasattr(cache, "make_and_validate_key"):
        return [cache.add(dispatched_key(pk), 1, timeout=ttl) for pk in pks]
    pipe = client_of(write=True).pipeline(transaction=False)
    for pk in pks:
        pipe.set(cache.make_and_validate_key(dispatched_key(pk)), 1, nx=True, ex=ttl)
    return [bool(added) for added in pipe.execute()]


def dispatched_clear(message_ids: Sequence[int]) -> None:
    cache.delete_many([dispatched_key(pk) for pk in message_ids])


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
    rows = [*free, *paced]
    by_org: dict[int, list[int]] = {}
    for (org_id, pk), added in zip(rows, _mark_dispatched([pk for _, pk in rows]), strict=True):
        if added:
            by_org.setdefault(org_id, []).append(pk)
    return [(org_id, ids[i : i + chunk]) for org_id, ids in by_org.items() for i in range(0, len(ids), chunk)]
