"""Reads of the inbox, shared by its pages and the `/api/v1/replies` and `/api/v1/events` endpoints.

Human replies and machine mail (auto-replies, bounces) are two tabs, never one list: a rep works the first and
only glances at the second. Pages are keyset pages over (received_at, id), newest first, so page 40 costs what
page 1 does; the cursor is signed so a client cannot hand us a forged position.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Count, Q, QuerySet
from django.utils.module_loading import import_string

from outreach.models import Event, Message, MessageStatus, Reply, ReplyKind

CURSOR_SALT = "outreach.inbox.cursor"
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
HUMAN = (ReplyKind.REPLY,)
AUTOMATIC = (ReplyKind.AUTO_REPLY, ReplyKind.BOUNCE)
# What a thread shows of our own mail: the messages that left or may have left (not drafts, not cancelled ones).
THREAD_STATUSES = (MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.QUEUED, MessageStatus.UNKNOWN)


class InvalidCursor(ValueError):
    """The cursor was not made by us (tampered, or from another list)."""


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox page and `GET /api/v1/replies` narrow by; empty values mean "any"."""

    tab: str = "replies"  # replies | automatic | all (the API: every kind unless `kind` says)
    intent: str = ""
    kind: str = ""
    campaign_id: int | None = None
    mailbox_id: int | None = None
    owner_id: int | None = None
    prospect_id: int | None = None
    unread: bool = False


def replies_filter(*, filters: InboxFilters) -> QuerySet[Reply]:
    """The organisation's replies matching `filters` (unordered; `reply_page` orders and pages)."""
    qs = Reply.objects.all()
    if filters.tab != "all":
        qs = qs.filter(kind__in=AUTOMATIC if filters.tab == "automatic" else HUMAN)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.intent:
        qs = qs.filter(intent=filters.intent)
    if filters.campaign_id is not None:
        qs = qs.filter(campaign_id=filters.campaign_id)
    if filters.mailbox_id is not None:
        qs = qs.filter(mailbox_id=filters.mailbox_id)
    if filters.owner_id is not None:
        qs = qs.filter(prospect__owner_id=filters.owner_id)
    if filters.prospect_id is not None:
        qs = qs.filter(prospect_id=filters.prospect_id)
    if filters.unread:
        qs = qs.filter(read_at__isnull=True)
    return qs


def _cursor_make(row: Reply) -> str:
    return signing.Signer(salt=CURSOR_SALT).sign(f"{row.received_at.isoformat()}|{row.pk}")


def _cursor_read(cursor: str) -> tuple[dt.datetime, int]:
    try:
        when, _, pk = signing.Signer(salt=CURSOR_SALT).unsign(cursor).partition("|")
        return dt.datetime.fromisoformat(when), int(pk)
    except (signing.BadSignature, ValueError):
        raise InvalidCursor("The cursor is invalid.") from None


def reply_page(
    *, filters: InboxFilters, cursor: str | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Reply], str | None]:
    """One page of replies, newest first, with their prospect and mailbox; raises InvalidCursor."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    qs = replies_filter(filters=filters).select_related("prospect", "mailbox")
    if cursor:
        when, pk = _cursor_read(cursor)
        qs = qs.filter(Q(received_at__lt=when) | Q(received_at=when, pk__lt=pk))
    rows = list(qs.order_by("-received_at", "-id")[: limit + 1])
    next_cursor = _cursor_make(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def unread_count() -> int:
    """Unread human replies of the organisation: the number in the nav."""
    return Reply.objects.filter(kind=ReplyKind.REPLY, read_at__isnull=True).count()


def campaign_choices() -> list[tuple[int, str]]:
    """Campaigns that have replies, by name. The names come from campaigns through the setting that names the
    function (outreach never imports campaigns; the settings are the composition root)."""
    ids = list(
        Reply.objects.exclude(campaign_id=None).order_by().values_list("campaign_id", flat=True).distinct()
    )
    if not ids:
        return []
    names: dict[int, str] = import_string(settings.OUTREACH_CAMPAIGN_NAMES)(ids)
    return sorted(((pk, name) for pk, name in names.items()), key=lambda item: item[1].lower())


@dataclass(frozen=True)
class ThreadItem:
    """One mail of a conversation: ours (a Message) or theirs (a Reply), at the time it left or arrived."""

    at: dt.datetime
    ours: bool
    item: Any


def _root_id(message: Message) -> str:
    chain = message.references.replace(",", " ").split()
    return chain[0] if chain else message.message_id


def thread_for(*, reply: Reply) -> list[ThreadItem]:
    """The whole conversation `reply` belongs to, oldest first: every message of ours that shares the thread's
    first Message-ID (the opener and every follow-up and answer that references it) and every mail back to them.
    Three queries whatever the length."""
    if reply.message is None:
        return [ThreadItem(at=reply.received_at, ours=False, item=reply)]
    root = _root_id(reply.message)
    # The person's messages first (an index), then the thread among them: `references` is searched by substring.
    theirs = Message.objects.filter(
        Q(prospect_id=reply.message.prospect_id)
        if reply.message.prospect_id
        else Q(to_email=reply.message.to_email)
    )
    messages = list(
        theirs.filter(Q(message_id=root) | Q(references__contains=root), status__in=THREAD_STATUSES)
        .select_related("mailbox")
        .order_by("id")
    )
    ids = [m.pk for m in messages] or [reply.message.pk]
    replies = list(Reply.objects.filter(Q(message_id__in=ids) | Q(pk=reply.pk)).order_by("received_at", "id"))
    items = [ThreadItem(at=m.sent_at or m.scheduled_at or m.created_at, ours=True, item=m) for m in messages]
    items += [ThreadItem(at=r.received_at, ours=False, item=r) for r in replies]
    return sorted(items, key=lambda entry: (entry.at, not entry.ours))


def inbox_replies_sent(*, reply: Reply) -> int:
    """How many answers to `reply` were written in the app (the next one's send key counts on from here)."""
    answers = Message.objects.filter(send_key__startswith=f"inbox-reply:{reply.pk}:")
    if reply.prospect_id:  # the person's messages by index, then the prefix among them
        answers = answers.filter(prospect_id=reply.prospect_id)
    return answers.count()


# --- events ---------------------------------------------------------------------------------------------------------


def events_filter(
    *, message_id: int | None = None, prospect_id: int | None = None, kind: str = ""
) -> QuerySet[Event]:
    """The organisation's events, bot traffic included (each says so): what `GET /api/v1/events` lists."""
    qs = Event.objects.all()
    if message_id is not None:
        qs = qs.filter(message_id=message_id)
    if prospect_id is not None:
        qs = qs.filter(prospect_id=prospect_id)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


@dataclass(frozen=True)
class Engagement:
    """What the prospect page shows next to the messages: human opens and clicks, replies, machine traffic."""

    human_opens: int
    human_clicks: int
    machine_events: int
    replies: list[Reply]
    recent: list[Event]


def prospect_engagement(*, prospect_id: int, limit: int = 20) -> Engagement:
    """A person's replies and engagement events, newest first (three queries)."""
    counts: dict[tuple[str, bool], int] = {}
    grouped = (
        Event.objects.filter(prospect_id=prospect_id, kind__in=("opened", "clicked"))
        .order_by()
        .values_list("kind", "is_bot")
        .annotate(n=Count("id"))
    )
    for kind, is_bot, n in grouped:
        counts[(kind, is_bot)] = n
    replies = list(Reply.objects.filter(prospect_id=prospect_id).order_by("-received_at", "-id")[:limit])
    recent = list(
        Event.objects.filter(
            prospect_id=prospect_id, kind__in=("opened", "clicked", "bounced", "unsubscribed")
        )
        .select_related("message")
        .order_by("-at", "-id")[:limit]
    )
    return Engagement(
        human_opens=counts.get(("opened", False), 0),
        human_clicks=counts.get(("clicked", False), 0),
        machine_events=counts.get(("opened", True), 0) + counts.get(("clicked", True), 0),
        replies=replies,
        recent=recent,
    )
