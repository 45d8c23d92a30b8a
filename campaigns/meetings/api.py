"""JSON API of meetings: list, read, and cancel (as the organisation; the visitor gets the cancellation)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router

from leadgen.tenancy import get_for_org

from . import services
from .models import Meeting, MeetingStatus
from .schemas import MeetingListOut, MeetingListParams, MeetingOut

router = Router(tags=["meetings"])

API_MAX_LIMIT = 200


def _meetings() -> QuerySet[Meeting]:
    return Meeting.objects.select_related("meeting_type", "host")


@router.get("/meetings", response=MeetingListOut, summary="Meetings, newest booking first")
def meeting_list(request: HttpRequest, params: Query[MeetingListParams]) -> Any:
    rows = _meetings().order_by("-id")
    if params.prospect_id is not None:
        rows = rows.filter(prospect_id=params.prospect_id)
    if params.status in MeetingStatus.values:
        rows = rows.filter(status=params.status)
    if params.cursor and params.cursor.isdigit():
        rows = rows.filter(id__lt=int(params.cursor))
    limit = max(1, min(params.limit, API_MAX_LIMIT))
    items = list(rows[: limit + 1])
    next_cursor = str(items[limit - 1].pk) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@router.get("/meetings/{meeting_id}", response=MeetingOut)
def meeting_get(request: HttpRequest, meeting_id: int) -> Any:
    return get_for_org(_meetings(), pk=meeting_id)


@router.post("/meetings/{meeting_id}/cancel", response=MeetingOut, summary="Cancel; both sides get a CANCEL")
def meeting_cancel(request: HttpRequest, meeting_id: int) -> Any:
    meeting = get_for_org(_meetings(), pk=meeting_id)
    services.meeting_cancel(meeting=meeting, by="host")
    meeting.refresh_from_db()
    return meeting
