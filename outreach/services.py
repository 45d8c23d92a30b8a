"""Writes of the email channel: messages and their state changes, mailboxes.

Every state change is a conditional UPDATE on the expected current state, so two callers (a user in the review
queue and the scheduler, say) can never both move the same message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Mailbox, MailboxStatus, Message, MessageStatus

if TYPE_CHECKING:
    from accounts.models import Organization, User
    from prospects.models import Prospect

EDITABLE = (MessageStatus.DRAFT, MessageStatus.APPROVED, MessageStatus.QUEUED)
CANCELLABLE = (MessageStatus.DRAFT, MessageStatus.APPROVED, MessageStatus.QUEUED)
MESSAGE_EXTRA_FIELDS = frozenset(
    {
        "campaign_id",
        "meta",
        "hold_reason",
        "ai_subject",
        "ai_body",
        "draft_provider",
        "draft_notes",
        "edited_by",
        "approved_by",
    }
)


class MessageStateError(ValidationError):
    """The message is no longer in a state that allows this change."""


def message_id_make(*, from_email: str) -> str:
    """A fresh RFC 5322 Message-ID on the sender's domain (receivers score a foreign domain as suspicious)."""
    domain = from_email.rsplit("@", 1)[-1].strip().lower() or "leadgen.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


def message_create(
    *,
    org: Organization,
    send_key: str,
    mailbox: Mailbox,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    prospect: Prospect | None = None,
    status: str = MessageStatus.QUEUED,
    scheduled_at: dt.datetime | None = None,
    in_reply_to: str = "",
    references: str = "",
    origin: str = "",
    **extra: Any,
) -> tuple[Message, bool]:
    """The message for `send_key`, created on first call; a repeat returns the existing row and False."""
    unknown = set(extra) - MESSAGE_EXTRA_FIELDS
    if unknown:
        raise TypeError(f"message_create: unknown fields {sorted(unknown)}")
    if mailbox.org_id != org.pk or (prospect is not None and prospect.org_id != org.pk):
        raise ValidationError("mailbox and prospect must belong to the message's organisation")
    if "{{" in subject or "{{" in body_text or "{%" in subject or "{%" in body_text:
        raise ValidationError("refusing a message that still contains template syntax")
    existing = Message.objects.unscoped().filter(org=org, send_key=send_key).first()
    if existing is not None:
        return existing, False
    current = timezone.now()
    queued = status == MessageStatus.QUEUED
    message = Message(
        org=org,
        send_key=send_key,
        mailbox=mailbox,
        prospect=prospect,
        to_email=to_email.strip(),
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        status=status,
        message_id=message_id_make(from_email=mailbox.from_email),
        in_reply_to=in_reply_to,
        references=references,
        origin=origin,
        scheduled_at=scheduled_at or (current if queued else None),
        queued_at=current if queued else None,
        **extra,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # A concurrent caller created it between our read and our insert: theirs is the one.
        return Message.objects.unscoped().get(org=org, send_key=send_key), False
    return message, True


def _transition(message: Message, *, allowed: tuple[str, ...], **changes: Any) -> Message:
    changes.setdefault("updated_at", timezone.now())
    moved = Message.objects.unscoped().filter(pk=message.pk, status__in=allowed).update(**changes)
    message.refresh_from_db()
    if not moved:
        raise MessageStateError(
            f"This message is {message.get_status_display().lower()}; it cannot be changed."
        )
    return message


def message_approve(
    *, message: Message, actor: User | None, queue: bool = True, scheduled_at: dt.datetime | None = None
) -> Message:
    """A reviewed draft is approved; by default it is queued at once (at `scheduled_at` or now)."""
    current = timezone.now()
    changes: dict[str, Any] = {"approved_by": actor, "status": MessageStatus.APPROVED}
    if queue:
        changes |= {
            "status": MessageStatus.QUEUED,
            "queued_at": current,
            "scheduled_at": scheduled_at or message.scheduled_at or current,
        }
    return _transition(message, allowed=(MessageStatus.DRAFT,), **changes)


def message_queue(*, message: Message, scheduled_at: dt.datetime | None = None) -> Message:
    """An approved message joins the send queue (campaigns calls this when the recipient's window opens)."""
    current = timezone.now()
    return _transition(
        message,
        allowed=(MessageStatus.APPROVED,),
        status=MessageStatus.QUEUED,
        queued_at=current,
        scheduled_at=scheduled_at or current,
    )


def message_reject(*, message: Message, actor: User | None, reason: str = "") -> Message:
    who = f" by {actor.email}" if actor is not None else ""
    text = f"Rejected in review{who}" + (f": {reason}" if reason else "")
    return _transition(
        message,
        allowed=(MessageStatus.DRAFT, MessageStatus.APPROVED),
        status=MessageStatus.CANCELLED,
        hold_reason=text[:1000],
    )


def message_edit(
    *,
    message: Message,
    actor: User | None,
    subject: str | None = None,
    body_text: str | None = None,
    body_html: str | None = None,
) -> Message:
    """Change a message not yet claimed for sending. The AI's text stays in ai_subject/ai_body."""
    changes: dict[str, Any] = {"edited_by": actor}
    for field, value in (("subject", subject), ("body_text", body_text), ("body_html", body_html)):
        if value is not None:
            if "{{" in value or "{%" in value:
                raise ValidationError({field: "Template syntax is not rendered here; write the final text."})
            changes[field] = value
    if not (changes.get("subject", message.subject) or "").strip():
        raise ValidationError({"subject": "A message needs a subject."})
    return _transition(message, allowed=EDITABLE, **changes)


def message_cancel(*, message: Message, reason: str) -> Message:
    return _transition(
        message, allowed=CANCELLABLE, status=MessageStatus.CANCELLED, hold_reason=reason[:1000]
    )


# --- mailboxes ---------------------------------------------------------------------------------------------------


MAILBOX_FIELDS = frozenset(
    f.name
    for f in Mailbox._meta.get_fields()
    if getattr(f, "concrete", False)
    and f.name not in {"id", "org", "status", "paused_reason", "next_send_at", "created_at", "updated_at"}
)


def mailbox_create(*, org: Organization, data: dict[str, Any]) -> Mailbox:
    mailbox = Mailbox(org=org, **_mailbox_data(data))
    mailbox.full_clean(exclude=["org"])
    mailbox.save()
    return mailbox


def mailbox_update(*, mailbox: Mailbox, data: dict[str, Any]) -> Mailbox:
    """Apply `data`; a secret given as "" or None keeps the stored one (forms never echo secrets back)."""
    for field, value in _mailbox_data(data).items():
        if field in {"smtp_password", "imap_password", "esp_api_key", "esp_webhook_key"} and not value:
            continue
        setattr(mailbox, field, value)
    mailbox.updated_at = timezone.now()
    mailbox.full_clean(exclude=["org"])
    mailbox.save()
    return mailbox


def _mailbox_data(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - MAILBOX_FIELDS
    if unknown:
        raise ValidationError({name: "unknown field" for name in sorted(unknown)})
    return {k: ("" if v is None and k not in {"warmup_started_on"} else v) for k, v in data.items()}


def mailbox_pause(*, mailbox: Mailbox, reason: str) -> bool:
    """Pause the mailbox; True when this call paused it (so callers notify only once)."""
    paused = (
        Mailbox.objects.unscoped()
        .filter(pk=mailbox.pk, status=MailboxStatus.ACTIVE)
        .update(status=MailboxStatus.PAUSED, paused_reason=reason[:2000], updated_at=timezone.now())
    )
    mailbox.refresh_from_db()
    return bool(paused)


def mailbox_resume(*, mailbox: Mailbox) -> Mailbox:
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(
        status=MailboxStatus.ACTIVE, paused_reason="", updated_at=timezone.now()
    )
    mailbox.refresh_from_db()
    return mailbox
