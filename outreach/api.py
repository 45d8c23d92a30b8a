"""`/api/v1/mailboxes` and `/api/v1/messages`. Idempotency-Key on POSTs is handled for every router by the API."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from leadgen.api_errors import error
from leadgen.tenancy import get_for_org

from . import mailboxes, selectors, services
from .models import Mailbox, Message, MessageStatus
from .schemas import (
    MailboxIn,
    MailboxListOut,
    MailboxOut,
    MailboxPatch,
    MailboxSyncOut,
    MailboxTestOut,
    MessageDetailOut,
    MessageListOut,
    MessagePatch,
    MessageRejectIn,
)

router = Router(tags=["outreach"])

API_MAX_LIMIT = 200
CURSOR_SALT = "outreach.api.cursor"


class ListParams(Schema):
    cursor: str | None = None
    limit: int = 50


class MessageListParams(ListParams):
    campaign_id: int | None = None
    prospect_id: int | None = None
    status: MessageStatus | None = None


class InvalidCursor(ValueError):
    pass


def _page(qs: QuerySet[Any], *, cursor: str | None, limit: int) -> dict[str, Any]:
    """Keyset page over `qs` ordered by -id; the cursor is the signed last id."""
    limit = max(1, min(limit, API_MAX_LIMIT))
    if cursor:
        try:
            qs = qs.filter(pk__lt=int(signing.Signer(salt=CURSOR_SALT).unsign(cursor)))
        except (signing.BadSignature, ValueError):
            raise InvalidCursor from None
    rows = list(qs.order_by("-id")[: limit + 1])
    next_cursor = (
        signing.Signer(salt=CURSOR_SALT).sign(str(rows[limit - 1].pk)) if len(rows) > limit else None
    )
    return {"items": rows[:limit], "next_cursor": next_cursor}


def _invalid_cursor(request: HttpRequest) -> Any:
    return error(request, 422, "The cursor is invalid.", "invalid_cursor")


# --- mailboxes -----------------------------------------------------------------------------------------------------


@router.get("/mailboxes", response=MailboxListOut, summary="List mailboxes (secrets are never returned)")
def mailbox_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    try:
        return _page(selectors.mailboxes_list(), cursor=page.cursor, limit=page.limit)
    except InvalidCursor:
        return _invalid_cursor(request)


@router.post("/mailboxes", response={201: MailboxOut}, summary="Add an SMTP/IMAP or ESP mailbox")
def mailbox_create(request: HttpRequest, payload: MailboxIn) -> Any:
    org = request.auth.org  # type: ignore[attr-defined]
    return Status(201, services.mailbox_create(org=org, data=payload.model_dump()))


@router.get("/mailboxes/{mailbox_id}", response=MailboxOut)
def mailbox_get(request: HttpRequest, mailbox_id: int) -> Any:
    return get_for_org(Mailbox, pk=mailbox_id)


@router.patch(
    "/mailboxes/{mailbox_id}", response=MailboxOut, summary="Change a mailbox; omitted secrets are kept"
)
def mailbox_patch(request: HttpRequest, mailbox_id: int, payload: MailboxPatch) -> Any:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    data = payload.model_dump(exclude_unset=True)
    status = data.pop("status", None)
    if data:
        services.mailbox_update(mailbox=mailbox, data=data)
    if status == "paused":
        services.mailbox_pause(mailbox=mailbox, reason="Paused through the API.")
    elif status == "active":
        services.mailbox_resume(mailbox=mailbox)
    return mailbox


@router.delete("/mailboxes/{mailbox_id}", response={204: None, 409: dict})
def mailbox_delete(request: HttpRequest, mailbox_id: int) -> Any:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    if Message.objects.filter(mailbox=mailbox).exists():
        return error(request, 409, "This mailbox has messages; pause it instead.", "conflict")
    mailbox.delete()
    return Status(204, None)


@router.post("/mailboxes/{mailbox_id}/test", response=MailboxTestOut, summary="Log in over SMTP and IMAP")
def mailbox_test(request: HttpRequest, mailbox_id: int) -> Any:
    checks = mailboxes.mailbox_test(mailbox=get_for_org(Mailbox, pk=mailbox_id))
    return {"ok": all(c.ok for c in checks), "checks": checks}


@router.post(
    "/mailboxes/{mailbox_id}/sync",
    response={200: MailboxSyncOut, 409: dict, 502: dict},
    summary="Read the mailbox's IMAP inbox for replies, auto-replies and bounces now",
)
def mailbox_sync(request: HttpRequest, mailbox_id: int) -> Any:
    from .inbound.imap import ImapAuthFailed, ImapUnavailable
    from .inbound.imap import mailbox_sync as imap_sync

    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    if not (mailbox.imap_host and mailbox.imap_username):
        return error(request, 409, "This mailbox has no IMAP settings.", "not_configured")
    try:
        result = imap_sync(mailbox=mailbox)
    except (ImapAuthFailed, ImapUnavailable) as exc:
        return error(request, 502, str(exc), "imap_error")
    if result.skipped == "locked":
        return error(request, 409, "A sync of this mailbox is already running.", "conflict")
    return {
        "new_messages": result.new_uids,
        "downloaded": result.bodies,
        "stored": result.stored,
        "reread": result.reread,
        "seconds": result.seconds,
        "synced_at": mailbox.imap_synced_at,
    }


# --- messages ------------------------------------------------------------------------------------------------------


@router.get("/messages", response=MessageListOut, summary="List messages by campaign, prospect and status")
def message_list(request: HttpRequest, params: Query[MessageListParams]) -> Any:
    qs = selectors.messages_filter(
        campaign_id=params.campaign_id, prospect_id=params.prospect_id, status=params.status
    )
    try:
        return _page(qs, cursor=params.cursor, limit=params.limit)
    except InvalidCursor:
        return _invalid_cursor(request)


@router.get("/messages/{message_id}", response=MessageDetailOut)
def message_get(request: HttpRequest, message_id: int) -> Any:
    return get_for_org(Message, pk=message_id)


@router.patch("/messages/{message_id}", response=MessageDetailOut, summary="Edit a message not yet sending")
def message_patch(request: HttpRequest, message_id: int, payload: MessagePatch) -> Any:
    message = get_for_org(Message, pk=message_id)
    return _state_change(
        request, services.message_edit, message=message, actor=None, **payload.model_dump(exclude_unset=True)
    )


@router.post(
    "/messages/{message_id}/approve", response=MessageDetailOut, summary="Approve a draft and queue it"
)
def message_approve(request: HttpRequest, message_id: int) -> Any:
    message = get_for_org(Message, pk=message_id)
    return _state_change(request, services.message_approve, message=message, actor=None)


@router.post("/messages/{message_id}/reject", response=MessageDetailOut, summary="Reject a draft")
def message_reject(request: HttpRequest, message_id: int, payload: MessageRejectIn) -> Any:
    message = get_for_org(Message, pk=message_id)
    return _state_change(request, services.message_reject, message=message, actor=None, reason=payload.reason)


def _state_change(request: HttpRequest, change: Any, **kwargs: Any) -> Any:
    try:
        return change(**kwargs)
    except services.MessageStateError as exc:
        return error(request, 409, " ".join(exc.messages), "invalid_state")
