"""Writes of the inbox: reading a reply, answering it from the app, recording what came of the conversation.

An answer is an ordinary outreach Message with the send key `inbox-reply:<reply id>:<n>`, where `n` is the number
of answers already written when the form was shown: a double-clicked Send, a resubmitted form or a retried request
carries the same `n`, so it finds the first message instead of making a second. It goes out through the engine
like every other message (claimed, guarded, paced), from the mailbox the reply came to, threaded under their mail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leadgen.tasks import task_send_on_commit
from outreach.models import Mailbox, Message, MessageStatus, Reply
from outreach.services import message_create
from prospects.models import OutcomeResult, Stage
from prospects.services import outcome_record, prospect_change_stage

if TYPE_CHECKING:
    from accounts.models import User

SEND_TASK = "outreach.tasks.messages_send_task"

# The one-click outcome buttons: (label, what is recorded). "Not interested" is a lost deal with that reason, not
# a disqualification: disqualified tells the scoring loop the person never fitted the ICP, while someone who
# declines may fit perfectly and said no for now. Counting them as "lost" keeps the fit model honest.
OUTCOMES: dict[str, tuple[str, str, str]] = {
    "meeting": ("Meeting booked", "", ""),
    "won": ("Won", OutcomeResult.WON, ""),
    "lost": ("Lost", OutcomeResult.LOST, ""),
    "not_interested": ("Not interested", OutcomeResult.LOST, "not interested"),
}


def reply_mark_read(*, reply: Reply, user: User | None) -> bool:
    """Mark read on open; True the first time (a conditional UPDATE: two tabs opening it record the first reader)."""
    marked = Reply.objects.filter(pk=reply.pk, read_at__isnull=True).update(
        read_at=timezone.now(), read_by=user
    )
    if marked:
        reply.refresh_from_db(fields=["read_at", "read_by"])
    return bool(marked)


def reply_mark_unread(*, reply: Reply) -> None:
    Reply.objects.filter(pk=reply.pk).update(read_at=None, read_by=None)
    reply.read_at, reply.read_by = None, None


def reply_subject(subject: str) -> str:
    """'Re: <their subject>', without piling up 'Re: Re: Re:'."""
    text = subject.strip() or "(no subject)"
    return text if text.lower().startswith(("re:", "aw:", "sv:", "antw:")) else f"Re: {text}"


def _references(reply: Reply) -> str:
    """Their References, then their own Message-ID (RFC 5322 3.6.4); Exchange's commas become spaces."""
    chain = reply.references.replace(",", " ").split()
    if not chain and reply.in_reply_to:
        chain = [reply.in_reply_to]
    if reply.message is not None and reply.message.message_id not in chain:
        chain.insert(0, reply.message.message_id)
    if reply.rfc_message_id:
        chain.append(reply.rfc_message_id)
    return " ".join(dict.fromkeys(chain))


def _quoted(reply: Reply) -> str:
    when = timezone.localtime(reply.received_at).strftime("%a, %d %b %Y at %H:%M")
    who = reply.from_name or reply.from_email
    text = (reply.body_clean or reply.body_text).strip()
    return f"On {when}, {who} wrote:\n" + "\n".join(
        f"> {line}" if line else ">" for line in text.splitlines()
    )


def _mailbox_for(reply: Reply) -> Mailbox:
    mailbox = reply.mailbox or (reply.message.mailbox if reply.message else None)
    if mailbox is None:
        raise ValidationError("This reply came to no mailbox we know, so there is nothing to answer from.")
    return mailbox


def inbox_reply_send(*, reply: Reply, user: User | None, body: str, number: int) -> tuple[Message, bool]:
    """Answer `reply` from the mailbox it came to, in its thread, queued for sending now. `number` is the form's
    count of earlier answers; the same number twice returns the first message (and False) without a new send."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write your answer first."})
    if not reply.from_email:
        raise ValidationError("This mail has no sender address to answer.")
    mailbox = _mailbox_for(reply)
    with transaction.atomic():
        message, created = message_create(
            org=reply.org,
            send_key=f"inbox-reply:{reply.pk}:{number}",
            mailbox=mailbox,
            to_email=reply.from_email,
            subject=reply_subject(reply.subject),
            body_text=f"{body}\n\n{_quoted(reply)}\n",
            prospect=reply.prospect,
            status=MessageStatus.QUEUED,
            in_reply_to=reply.rfc_message_id,
            references=_references(reply),
            origin="inbox",
            meta={"reply_id": reply.pk, "sent_by": user.email if user else ""},
        )
        if created:
            # Now, not at the next dispatcher tick; the engine's claim makes the tick's pick-up a no-op.
            task_send_on_commit(SEND_TASK, reply.org_id, [message.pk])
        reply_mark_read(reply=reply, user=user)
    return message, created


def inbox_outcome_record(*, reply: Reply, outcome: str, user: User | None) -> str:
    """A one-click outcome for the person who replied; returns the label shown back. Meeting moves the stage
    (a meeting is a step, not a result); the others write an Outcome, which the scoring loop learns from."""
    if outcome not in OUTCOMES:
        raise ValidationError({"outcome": f"must be one of {', '.join(OUTCOMES)}"})
    prospect = reply.prospect
    if prospect is None:
        raise ValidationError("This reply is not linked to a prospect (they may have been erased).")
    label, result, reason = OUTCOMES[outcome]
    with transaction.atomic():
        if result:
            outcome_record(prospect=prospect, result=result, reason=reason, actor=user, source="inbox")
        else:
            prospect_change_stage(prospect=prospect, stage=Stage.MEETING, actor=user, reason="from the inbox")
        reply_mark_read(reply=reply, user=user)
    return label
