"""`/api/v1/events` and `/api/v1/replies`: engagement as an integration reads it. Lists are keyset pages (a signed
cursor in `next_cursor`), errors have the API's one shape, another organisation's id answers 404."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.http import HttpRequest
from ninja import Query, Router, Schema

from leadgen.api_errors import invalid_cursor
from leadgen.tenancy import get_for_org
from outreach.models import EventKind, Reply, ReplyIntent, ReplyKind

from . import selectors
from .schemas import EventListOut, ReplyDetailOut, ReplyListOut

router = Router(tags=["engagement"])

EVENT_CURSOR_SALT = "outreach.inbox.api.events"


class EventParams(Schema):
    message_id: int | None = None
    prospect_id: int | None = None
    kind: EventKind | None = None
    cursor: str | None = None
    limit: int = 50


class ReplyParams(Schema):
    kind: ReplyKind | None = None
    intent: ReplyIntent | None = None
    campaign_id: int | None = None
    mailbox_id: int | None = None
    owner_id: int | None = None
    prospect_id: int | None = None
    unread: bool = False
    cursor: str | None = None
    limit: int = 50


@router.get(
    "/events", response=EventListOut, summary="Opens, clicks, deliveries, bounces; bots flagged with why"
)
def event_list(request: HttpRequest, params: Query[EventParams]) -> Any:
    qs = selectors.events_filter(
        message_id=params.message_id, prospect_id=params.prospect_id, kind=params.kind or ""
    )
    limit = max(1, min(params.limit, selectors.MAX_PAGE_SIZE))
    signer = signing.Signer(salt=EVENT_CURSOR_SALT)
    if params.cursor:
        try:
            qs = qs.filter(pk__lt=int(signer.unsign(params.cursor)))
        except (signing.BadSignature, ValueError):
            return invalid_cursor(request)
    rows = list(qs.order_by("-id")[: limit + 1])
    next_cursor = signer.sign(str(rows[limit - 1].pk)) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get(
    "/replies",
    response=ReplyListOut,
    by_alias=True,
    summary="Replies, auto-replies and bounces, newest first (filters as on the inbox page)",
)
def reply_list(request: HttpRequest, params: Query[ReplyParams]) -> Any:
    filters = selectors.InboxFilters(
        tab="all",
        kind=params.kind or "",
        intent=params.intent or "",
        campaign_id=params.campaign_id,
        mailbox_id=params.mailbox_id,
        owner_id=params.owner_id,
        prospect_id=params.prospect_id,
        unread=params.unread,
    )
    try:
        rows, next_cursor = selectors.reply_page(filters=filters, cursor=params.cursor, limit=params.limit)
    except selectors.InvalidCursor:
        return invalid_cursor(request)
    return {"items": rows, "next_cursor": next_cursor}


def _thread_item(entry: selectors.ThreadItem) -> dict[str, Any]:
    mail = entry.item
    if entry.ours:
        return {
            "type": "message",
            "id": mail.pk,
            "ours": True,
            "at": entry.at,
            "sender": mail.mailbox.from_email,
            "to": mail.to_email,
            "subject": mail.subject,
            "body_text": mail.body_text,
            "body_clean": mail.body_text,
            "status": mail.status,
        }
    return {
        "type": "reply",
        "id": mail.pk,
        "ours": False,
        "at": entry.at,
        "sender": mail.from_email,
        "to": mail.to_email,
        "subject": mail.subject,
        "body_text": mail.body_text,
        "body_clean": mail.body_clean,
        "status": mail.kind,
    }


@router.get("/replies/{reply_id}", response=ReplyDetailOut, by_alias=True, summary="A reply with its thread")
def reply_get(request: HttpRequest, reply_id: int) -> Any:
    reply = get_for_org(Reply.objects.select_related("message"), pk=reply_id)
    reply.thread = [_thread_item(entry) for entry in selectors.thread_for(reply=reply)]  # type: ignore[attr-defined]
    return reply
