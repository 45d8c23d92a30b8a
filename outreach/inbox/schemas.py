"""API schemas of `/api/v1/events` and `/api/v1/replies`."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field


class EventOut(Schema):
    id: int
    kind: str
    message_id: int
    prospect_id: int | None
    campaign_id: int | None
    at: dt.datetime
    is_bot: bool
    bot_kind: str
    bot_reason: str
    user_agent: str
    link_index: int | None
    url: str
    source: str


class EventListOut(Schema):
    items: list[EventOut]
    next_cursor: str | None


class ReplyOut(Schema):
    id: int
    kind: str
    prospect_id: int | None
    message_id: int | None
    campaign_id: int | None
    mailbox_id: int | None
    # "from" is a Python keyword: read from `from_email`, written as "from" (the routes serialise by alias).
    sender: str = Field(validation_alias="from_email", serialization_alias="from")
    from_name: str
    subject: str
    intent: str
    intent_date: dt.date | None
    return_date: dt.date | None
    bounce_status: str
    bounce_hard: bool
    received_at: dt.datetime
    read_at: dt.datetime | None


class ReplyListOut(Schema):
    items: list[ReplyOut]
    next_cursor: str | None


class ThreadItemOut(Schema):
    """One mail of the conversation: `ours` true for a Message we sent, false for mail that came back."""

    type: str  # message | reply
    id: int
    ours: bool
    at: dt.datetime
    sender: str = Field(serialization_alias="from")
    to: str
    subject: str
    body_text: str
    body_clean: str
    status: str


class ReplyDetailOut(ReplyOut):
    to_email: str
    rfc_message_id: str
    in_reply_to: str
    references: str
    body_text: str
    body_clean: str
    kind_reason: str
    intent_provider: str
    intent_reason: str
    thread: list[ThreadItemOut]
