"""Out-of-office pauses: an auto-reply since the enrollment began moves its next send to the day after the
return date the reply gives (or `Campaign.ooo_pause_days` after it arrived when it gives none), in the recipient's
timezone, at the first moment of their send window.

The enrollment stays active: only `next_send_at` (and the step's message, if it was already made but not sent) move
later, so when the time comes the dispatcher goes on at the step it had reached, by itself. `replies_seen_id` is the
highest Reply id applied, so each auto-reply pauses once; the UPDATE is conditional on it, so two pulls never
apply the same one twice. An auto-reply is never a reply: it stops nothing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Case, Exists, F, OuterRef, QuerySet, When
from django.utils import timezone

from leadgen.tenancy import org_scope
from outreach.models import Message, MessageStatus, Reply, ReplyKind

from ..enrollment import enrollment_window
from ..models import Enrollment, EnrollmentState
from .timing import next_in_window

# A message made for a step but not yet handed to a worker: a pause moves it too.
NOT_SENT = (MessageStatus.DRAFT, MessageStatus.APPROVED, MessageStatus.QUEUED)


def _auto_replies() -> QuerySet[Reply]:
    return Reply.objects.unscoped().filter(kind=ReplyKind.AUTO_REPLY)


def pause_candidates() -> QuerySet[Enrollment]:
    """Active enrollments, across every org, with an auto-reply since they began that is not applied yet."""
    newer = _auto_replies().filter(
        org_id=OuterRef("org_id"),
        prospect_id=OuterRef("prospect_id"),
        id__gt=OuterRef("replies_seen_id"),
        received_at__gte=OuterRef("enrolled_at"),
    )
    return Enrollment.objects.unscoped().filter(Exists(newer), state=EnrollmentState.ACTIVE)


def resume_at(*, reply: Reply, enrollment: Enrollment) -> dt.datetime:
    """When sending may go on after this auto-reply: the window's opening on the day after the return date."""
    zone = zoneinfo.ZoneInfo(enrollment.timezone)
    if reply.return_date is not None:
        day = reply.return_date + dt.timedelta(days=1)
    else:
        day = reply.received_at.astimezone(zone).date() + dt.timedelta(
            days=enrollment.campaign.ooo_pause_days
        )
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone)
    return next_in_window(start, zone=zone, window=enrollment_window(enrollment))


def enrollment_pause_apply(*, enrollment: Enrollment, now: dt.datetime | None = None) -> str:
    """Apply the enrollment's new auto-replies: "paused" (until the latest resume time), "none" or "raced"."""
    now = now or timezone.now()
    replies = list(
        _auto_replies()
        .filter(
            org_id=enrollment.org_id,
            prospect_id=enrollment.prospect_id,
            id__gt=enrollment.replies_seen_id,
            received_at__gte=enrollment.enrolled_at,
        )
        .order_by("id")
    )
    if not replies:
        return "none"
    until = max(resume_at(reply=reply, enrollment=enrollment) for reply in replies)
    if enrollment.paused_until and enrollment.paused_until > until:
        until = enrollment.paused_until
    local = until.astimezone(zoneinfo.ZoneInfo(enrollment.timezone))
    text = f"Out of office: the next email waits until {local:%a %d %b %Y, %H:%M} ({enrollment.timezone})."
    moved = (
        Enrollment.objects.unscoped()
        .filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE, replies_seen_id=enrollment.replies_seen_id)
        .update(
            replies_seen_id=replies[-1].pk,
            paused_until=until,
            next_send_at=Case(When(next_send_at__lt=until, then=until), default=F("next_send_at")),
            updated_at=now,
        )
    )
    if not moved:
        return "raced"
    if enrollment.current_message_id:
        # The engine claims only messages due by now, so moving `scheduled_at` holds it; one already being sent
        # has gone (the pause came too late for it, as it would for a person).
        Message.objects.unscoped().filter(
            pk=enrollment.current_message_id, status__in=NOT_SENT, scheduled_at__lt=until
        ).update(scheduled_at=until, hold_reason=text, updated_at=now)
    enrollment.refresh_from_db()
    return "paused"


def pauses_run(*, now: dt.datetime | None = None, batch: int = 1000) -> int:
    """Every org: apply new auto-replies to the enrollments they belong to."""
    now = now or timezone.now()
    paused = 0
    rows = pause_candidates().select_related("campaign", "prospect").order_by("id")[:batch]
    for enrollment in rows:
        with org_scope(enrollment.org_id):
            if enrollment_pause_apply(enrollment=enrollment, now=now) == "paused":
                paused += 1
    return paused
