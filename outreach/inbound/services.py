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

import contextlib
import datetime as dt
import email
import email.message
import email.policy
import email.utils
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope

from ..models import Event, EventKind, Mailbox, Message, MessageStatus, Reply, ReplyIntent, ReplyKind
from ..unsubscribe import message_unsubscribe
from .classify import Classification, classify_message, clean_body, message_text
from .intent import IntentResult, reply_intent
from .matching import Match, match_message, message_ids

log = logging.getLogger(__name__)

# The mailbox's bounce rate is judged over what it sent in this window.
BOUNCE_WINDOW = dt.timedelta(days=30)


def _event_once(
    *,
    message: Message,
    kind: str,
    at: dt.datetime,
    source: str,
    external_id: str,
    meta: dict[str, Any],
    fresh: bool = False,
) -> Event | None:
    """Store the event, or None when one with this external id is already there (a webhook or sync repeated).
    `fresh`: the id is new by construction (a Reply's own), so the look-up before the insert is skipped."""
    external_id = external_id[:200]
    if (
        external_id
        and not fresh
        and Event.objects.unscoped().filter(org_id=message.org_id, external_id=external_id).exists()
    ):
        return None
    try:
        # A fresh id cannot collide, so no savepoint is needed around its insert.
        with transaction.atomic() if not fresh else contextlib.nullcontext():
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
    fresh: bool = False,
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
            message=message,
            kind=EventKind.BOUNCED,
            at=at,
            source=source,
            external_id=external_id,
            meta=meta,
            fresh=fresh,
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


# --- ingesting one message ------------------------------------------------------------------------------------

# Stages a reply moves forward to "replied"; later ones (meeting, won, lost) and a person's disqualification stay.
_BEFORE_REPLIED = ("new", "enriched", "qualified", "contacted")
NOTIFICATION_KIND = "reply_received"


class IngestContext:
    """What every reply of one organisation needs and a sync would otherwise look up once per reply: the admins
    (told when a prospect has no owner), the reply.received endpoints, whether Slack is set. Read on first use."""

    def __init__(self, org_id: int) -> None:
        self.org_id = org_id
        self._admins: list[int] | None = None
        self._endpoints: list[Any] | None = None
        self._slack: bool | None = None

    def admin_ids(self) -> list[int]:
        from prospects.routing.notifications import admin_user_ids

        if self._admins is None:
            self._admins = admin_user_ids()
        return self._admins

    def endpoints(self) -> list[Any]:
        from prospects.models import WebhookEndpoint
        from prospects.routing.webhooks import EVENT_REPLY_RECEIVED

        if self._endpoints is None:
            self._endpoints = list(
                WebhookEndpoint.objects.filter(is_active=True, events__contains=[EVENT_REPLY_RECEIVED])
            )
        return self._endpoints

    def slack(self) -> bool:
        from prospects.models import PipelineSettings

        if self._slack is None:
            row = PipelineSettings.objects.filter().first()
            self._slack = bool(row and row.slack_webhook_url)
        return self._slack


@dataclass
class Ingested:
    """What `reply_ingest_result` did: the Reply (None when the mail is not ours) and whether it is new."""

    reply: Reply | None
    created: bool


def _header(msg: email.message.Message, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot read is as good as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _rfc_message_id(msg: email.message.Message, raw: bytes) -> str:
    """The mail's own Message-ID; mail without one gets a stable id made from its bytes (so it lands once)."""
    ids = message_ids(_header(msg, "Message-ID"))
    if ids:
        return ids[0][:255]
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def _received_at(msg: email.message.Message) -> dt.datetime:
    """The Date header, when it is readable and not in the future; else now."""
    now = timezone.now()
    try:
        when = email.utils.parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        return now
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return now if when > now + dt.timedelta(hours=1) else when


def _html(msg: email.message.Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/html" and part.get_content_disposition() != "attachment":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


def _reply_build(
    *,
    mailbox: Mailbox,
    msg: email.message.Message,
    rfc_id: str,
    match: Match,
    classification: Classification,
    source: str,
    imap_uid: int | None,
    received_at: dt.datetime,
) -> Reply:
    name, from_email = email.utils.parseaddr(_header(msg, "From"))
    text = message_text(msg)
    message = match.message
    return Reply(
        org_id=mailbox.org_id,
        mailbox=mailbox,
        message=message,
        prospect_id=message.prospect_id,
        campaign_id=message.campaign_id,
        kind=classification.kind,
        matched_by=match.matched_by,
        kind_reason=classification.reason[:300],
        return_date=classification.return_date,
        bounce_status=classification.bounce_status[:12],
        bounce_hard=classification.bounce_hard,
        bounced_email=classification.bounced_email[:254],
        from_email=from_email[:254],
        from_name=name[:200],
        to_email=email.utils.parseaddr(_header(msg, "To"))[1][:254],
        subject=_header(msg, "Subject")[:500],
        rfc_message_id=rfc_id,
        in_reply_to=_header(msg, "In-Reply-To")[:255],
        references=_header(msg, "References"),
        body_text=text,
        body_html=_html(msg),
        body_clean=clean_body(text) if classification.kind == ReplyKind.REPLY else text.strip(),
        headers=classification.headers,
        source=source,
        imap_uid=imap_uid,
        received_at=received_at,
    )


def reply_ingest(*, mailbox: Mailbox, raw: bytes, source: str, imap_uid: int | None = None) -> Reply | None:
    """Store and act on one incoming mail; the Reply, or None when it matches nothing we sent (then nothing is
    stored). Idempotent on the mail's Message-ID: the same mail again returns the stored Reply and does nothing."""
    return reply_ingest_result(mailbox=mailbox, raw=raw, source=source, imap_uid=imap_uid).reply


def reply_ingest_result(
    *,
    mailbox: Mailbox,
    raw: bytes,
    source: str,
    imap_uid: int | None = None,
    context: IngestContext | None = None,
) -> Ingested:
    """`reply_ingest` saying whether the Reply is new; a sync passes one `context` for all its mail."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    rfc_id = _rfc_message_id(msg, raw)
    context = context or IngestContext(mailbox.org_id)
    with org_scope(mailbox.org_id):
        existing = Reply.objects.filter(rfc_message_id=rfc_id).first()
        if existing is not None:
            return Ingested(existing, False)
        received_at = _received_at(msg)
        classification = classify_message(msg, received_at=received_at)  # type: ignore[arg-type]
        match = match_message(mailbox=mailbox, msg=msg, classification=classification)
        if match is None:
            return Ingested(None, False)
        reply = _reply_build(
            mailbox=mailbox,
            msg=msg,
            rfc_id=rfc_id,
            match=match,
            classification=classification,
            source=source,
            imap_uid=imap_uid,
            received_at=received_at,
        )
        # The model is asked before the transaction: no database transaction stays open across its network call.
        intent = (
            reply_intent(body=reply.body_text, subject=reply.subject, org_id=mailbox.org_id)
            if reply.kind == ReplyKind.REPLY
            else None
        )
        if intent is not None:
            _intent_fields(reply, intent)  # stored with the row itself: no second write
        try:
            with transaction.atomic():
                reply.save()
                _reply_act(
                    reply=reply,
                    message=match.message,
                    classification=classification,
                    intent=intent,
                    context=context,
                )
        except IntegrityError:  # the same mail arrived through another path a moment ago
            return Ingested(Reply.objects.filter(rfc_message_id=rfc_id).first(), False)
    return Ingested(reply, True)


def _reply_act(
    *,
    reply: Reply,
    message: Message,
    classification: Classification,
    intent: IntentResult | None,
    context: IngestContext,
) -> None:
    external_id = f"reply:{reply.pk}"
    if reply.kind == ReplyKind.BOUNCE:
        bounce_apply(
            message=message,
            hard=classification.bounce_hard,
            status=classification.bounce_status,
            reason=classification.reason,
            at=reply.received_at,
            external_id=external_id,
            source=reply.source,
            fresh=True,
        )
        return
    if reply.kind == ReplyKind.AUTO_REPLY:
        back = reply.return_date.isoformat() if reply.return_date else None
        _event_once(
            message=message,
            kind=EventKind.AUTO_REPLIED,
            at=reply.received_at,
            source=reply.source,
            external_id=external_id,
            meta={"reply_id": reply.pk, "return_date": back, "reason": reply.kind_reason},
            fresh=True,
        )
        _timeline(
            message,
            "auto_replied",
            f"Automatic reply (out of office){f', back {back}' if back else ''}: {reply.subject}",
            {"reply_id": reply.pk, "return_date": back},
        )
        return
    _event_once(
        message=message,
        kind=EventKind.REPLIED,
        at=reply.received_at,
        source=reply.source,
        external_id=external_id,
        meta={"reply_id": reply.pk, "matched_by": reply.matched_by},
        fresh=True,
    )
    if intent is not None:
        _intent_apply(reply=reply, message=message, intent=intent)
    _human_reply_act(reply=reply, message=message, context=context)


def _human_reply_act(*, reply: Reply, message: Message, context: IngestContext) -> None:
    """Stage, engagement, the owner (or admins) told, Slack and the reply.received webhooks queued."""
    from prospects.engagement import EngagementDelta, prospects_engagement_add
    from prospects.routing.notifications import notifications_create
    from prospects.services import prospect_change_stage

    prospect = message.prospect if message.prospect_id else None  # loaded with the match
    if prospect is not None:
        if prospect.stage in _BEFORE_REPLIED:
            prospect_change_stage(
                prospect=prospect, stage="replied", actor=None, reason="they answered an email"
            )
        summary = f"Replied: {reply.subject or '(no subject)'}"
        prospects_engagement_add(
            deltas={
                prospect.pk: EngagementDelta(
                    replies=1,
                    last_at=reply.received_at,
                    activities=(("replied", summary, {"reply_id": reply.pk, "message_id": message.pk}),),
                )
            }
        )
    who = (str(prospect) if prospect else "") or reply.from_name or reply.from_email
    recipients = [prospect.owner_id] if prospect is not None and prospect.owner_id else context.admin_ids()
    notifications_create(
        org_id=reply.org_id,
        user_ids=recipients,
        kind=NOTIFICATION_KIND,
        title=f"{who} replied: {reply.subject or '(no subject)'}",
        body=reply.body_clean[:500],
        url=reverse("inbox_thread", args=[reply.pk]),
    )
    _webhooks_queue(reply=reply, prospect=prospect, endpoints=context.endpoints())
    if context.slack():
        task_send_on_commit("outreach.inbound.tasks.reply_slack_task", reply.org_id, reply.pk)


def reply_payload(reply: Reply, prospect: Any) -> dict[str, Any]:
    """The `data` of a reply.received webhook: the reply (cleaned body, the original stays in the app) and who."""
    from prospects.routing.services import prospect_payload

    return {
        "reply_id": reply.pk,
        "message_id": reply.message_id,
        "campaign_id": reply.campaign_id,
        "from": reply.from_email,
        "subject": reply.subject,
        "body": reply.body_clean,
        "received_at": reply.received_at.isoformat(),
        "intent": reply.intent,
        "url": settings.SITE_URL + reverse("inbox_thread", args=[reply.pk]),
        "prospect": prospect_payload(prospect) if prospect is not None else None,
    }


def _webhooks_queue(*, reply: Reply, prospect: Any, endpoints: list[Any]) -> None:
    from prospects.models import WebhookMessage
    from prospects.routing.webhooks import EVENT_REPLY_RECEIVED

    if not endpoints:
        return
    payload = {
        "type": EVENT_REPLY_RECEIVED,
        "timestamp": timezone.now().isoformat(),
        "data": reply_payload(reply, prospect),
    }
    messages = WebhookMessage.objects.bulk_create(
        [
            WebhookMessage(
                org_id=reply.org_id,
                endpoint=endpoint,
                event_type=EVENT_REPLY_RECEIVED,
                message_id=f"msg_{uuid.uuid4().hex}",
                payload=payload,
            )
            for endpoint in endpoints
        ]
    )
    for row in messages:
        task_send_on_commit("prospects.routing.tasks.webhook_deliver_task", reply.org_id, row.pk)


# --- what the reply means -----------------------------------------------------------------------------------


def _intent_fields(reply: Reply, intent: IntentResult) -> None:
    reply.intent = intent.intent
    reply.intent_provider = intent.provider[:40]
    reply.intent_reason = intent.reason
    reply.intent_date = intent.date


def _intent_apply(*, reply: Reply, message: Message, intent: IntentResult) -> None:
    """The intent (already on the reply) onto the prospect's timeline (kind "reply_intent", which the scoring side
    reads as it reads every timeline line), then act: an unsubscribe request suppresses, a referral proposes the
    colleague as a new prospect. "Not interested" is only recorded: outcomes stay the user's buttons."""
    if intent.intent == ReplyIntent.UNSUBSCRIBE:
        message_unsubscribe(message=message, method="reply")
    elif intent.intent == ReplyIntent.REFERRAL and intent.referral:
        reply.referral = _referral_create(reply=reply, referral=intent.referral)
        reply.save(update_fields=["referral"])
    label = ReplyIntent(intent.intent).label if intent.intent in ReplyIntent.values else intent.intent
    when = f", follow up on {intent.date.isoformat()}" if intent.date else ""
    _timeline(
        message,
        "reply_intent",
        f"Reply read as “{label}”{when} (by {intent.provider}): {intent.reason}",
        {
            "reply_id": reply.pk,
            "intent": intent.intent,
            "provider": intent.provider,
            "date": intent.date.isoformat() if intent.date else None,
        },
    )


def _referral_create(*, reply: Reply, referral: dict[str, str]) -> dict[str, Any]:
    """The colleague a reply named, as a prospect of the same owner (an existing one is linked, not changed)."""
    from django.core.exceptions import ValidationError

    from prospects.models import Prospect, Source
    from prospects.services import activity_record, prospect_upsert

    linked: dict[str, Any] = {k: str(v) for k, v in referral.items() if k in ("name", "email", "title")}
    if not linked.get("email"):
        return linked
    referrer = reply.message.prospect if reply.message and reply.message.prospect_id else None
    data: dict[str, Any] = {
        "full_name": linked.get("name", ""),
        "email": linked["email"],
        "title": linked.get("title", ""),
        "source_detail": f"referral: named in a reply from {reply.from_email}"[:255],
    }
    if referrer is not None:
        data["company_name"] = referrer.company_name
    try:
        result = prospect_upsert(
            org=reply.org, data=data, source=Source.MANUAL, update_existing=False, update_company=False
        )
    except ValidationError as exc:  # a malformed address the reader let through: keep what was said
        linked["error"] = "; ".join(exc.messages)[:200]
        return linked
    linked["status"] = result.status
    if result.prospect is not None:
        linked["prospect_id"] = result.prospect.pk
        if result.status == "created" and referrer is not None and referrer.owner_id:
            Prospect.objects.filter(pk=result.prospect.pk).update(owner_id=referrer.owner_id)
        activity_record(
            prospect=result.prospect,
            kind="referral",
            summary=f"Named by {referrer or reply.from_email} in a reply as the right person to talk to",
            data={"reply_id": reply.pk, "referred_by": reply.prospect_id},
        )
    return linked
