"""Reads of the email channel shared by pages, the API and campaigns."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from .models import Mailbox, Message, Unsubscribe


def messages_filter(
    *, campaign_id: int | None = None, prospect_id: int | None = None, status: str | None = None
) -> QuerySet[Message]:
    """The current organisation's messages, newest first (by id: keyset pages), optionally by campaign, prospect and status."""
    qs = Message.objects.select_related("mailbox")
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    if prospect_id is not None:
        qs = qs.filter(prospect_id=prospect_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-id")


def mailboxes_list() -> QuerySet[Mailbox]:
    return Mailbox.objects.order_by("name", "id")


def unsubscribes_since(*, since: dt.datetime) -> QuerySet[Unsubscribe]:
    """Unsubscribes of the current organisation after `since`: what campaigns pulls to stop enrollments."""
    return Unsubscribe.objects.filter(created_at__gt=since).order_by("created_at", "id")
