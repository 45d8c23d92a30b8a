"""JSON shapes of the meetings API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema


class MeetingOut(Schema):
    id: int
    uid: str
    status: str
    meeting_type: str
    host_email: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    visitor_name: str
    visitor_email: str
    visitor_company: str
    visitor_timezone: str
    prospect_id: int | None
    message_id: int | None
    sequence: int
    created_at: dt.datetime

    @staticmethod
    def resolve_meeting_type(obj: Any) -> str:
        return str(obj.meeting_type.slug)

    @staticmethod
    def resolve_host_email(obj: Any) -> str:
        return str(obj.host.email)


class MeetingListOut(Schema):
    items: list[MeetingOut]
    next_cursor: str | None


class MeetingListParams(Schema):
    cursor: str | None = None
    limit: int = 50
    prospect_id: int | None = None
    status: str | None = None
