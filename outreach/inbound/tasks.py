"""Celery tasks of inbound mail (queue `events`, routed in settings): IMAP polling and the Slack note of a reply.

Beat runs `mailboxes_sync_due` every minute; it queues one `mailbox_sync_task` per mailbox with IMAP settings. The
per-mailbox Redis lock in `imap.mailbox_sync` makes an overlapping run (a slow server, "Sync now", the IDLE
runner) a no-op. A mailbox paused because its IMAP login was refused is left alone until it is resumed, so a wrong
password is not retried against the server every minute.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db.models import Q

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_task

AUTH_ERROR_PREFIX = "The IMAP server refused the login"


def _backoff(retries: int) -> int:
    return min(int(getattr(settings, "OUTREACH_IMAP_RETRY_BACKOFF", 60)) * (2**retries), 3600)


@shared_task(bind=True, ignore_result=True, max_retries=6, time_limit=600, soft_time_limit=540)
@org_task
def mailbox_sync_task(self: Task, org_id: int, mailbox_id: int) -> dict[str, Any] | None:
    """Sync one mailbox; network trouble retries with exponential backoff, a refused login does not."""
    from ..models import Mailbox
    from .imap import ImapAuthFailed, ImapUnavailable, mailbox_sync

    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        return None
    try:
        result = mailbox_sync(mailbox=mailbox)
    except ImapAuthFailed:
        return {"error": "auth"}
    except ImapUnavailable as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    return {"new": result.new_uids, "stored": result.stored, "skipped": result.skipped}


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def mailboxes_sync_due() -> int:
    """Beat: queue a sync of every mailbox with IMAP settings (across organisations)."""
    from ..models import Mailbox, MailboxStatus

    rows = list(
        Mailbox.objects.unscoped()
        .exclude(imap_host="")
        .exclude(Q(status=MailboxStatus.PAUSED) & Q(imap_sync_error__startswith=AUTH_ERROR_PREFIX))
        .values_list("org_id", "pk")
    )
    for org_id, pk in rows:
        task_send_on_commit("outreach.inbound.tasks.mailbox_sync_task", org_id, pk)
    return len(rows)


@shared_task(bind=True, ignore_result=True, max_retries=5, time_limit=30, soft_time_limit=25)
@org_task
def reply_slack_task(self: Task, org_id: int, reply_id: int) -> bool:
    """Post a human reply to the org's Slack incoming webhook, retried with backoff when Slack is down."""
    from django.urls import reverse

    from prospects.routing.slack import SlackAttemptFailed, slack_reply_notify

    from ..models import Reply, ReplyIntent

    reply = Reply.objects.select_related("prospect").filter(pk=reply_id).first()
    if reply is None:
        return False
    who = str(reply.prospect) if reply.prospect else (reply.from_name or reply.from_email)
    intent = (
        f"Read as: {ReplyIntent(reply.intent).label} (by {reply.intent_provider})"
        if reply.intent in ReplyIntent.values
        else ""
    )
    try:
        return slack_reply_notify(
            org_id=org_id,
            who=who,
            subject=reply.subject,
            snippet=reply.body_clean[:500],
            intent=intent,
            link=settings.SITE_URL + reverse("inbox_thread", args=[reply.pk]),
        )
    except SlackAttemptFailed as exc:
        countdown = min(int(getattr(settings, "WEBHOOK_RETRY_BACKOFF", 30)) * (2**self.request.retries), 3600)
        raise self.retry(exc=exc, countdown=countdown) from exc
