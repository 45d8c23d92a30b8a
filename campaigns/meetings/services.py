"""Booking, cancelling and moving meetings, and a host's booking settings.

`meeting_book` is the one way a meeting is made. It checks the slot against the host's rules, then inserts; two
visitors who pass the check for the same time at the same moment are told apart by PostgreSQL's exclusion
constraint (`meeting_host_no_overlap`): the second insert fails and becomes `SlotTaken`. The booking then, in the
same transaction, finds or creates the prospect (source "meeting"), moves it to the Meeting stage (which is the
campaigns' "meeting booked" stop rule; its live enrollments are stopped at once), notifies the host and stores a
`meeting.booked` webhook per subscribed endpoint. Invitations go out once the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization, User
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import require_org_id
from outreach.models import Message
from prospects.models import Prospect, Source, Stage, WebhookEndpoint, WebhookMessage
from prospects.routing.notifications import notifications_create
from prospects.routing.webhooks import EVENT_MEETING_BOOKED
from prospects.services import activity_record, prospect_change_stage, prospect_upsert

from ..enrollment import enrollment_stop
from ..models import Enrollment
from ..scheduler.stops import LIVE_STATES, stop_reason_for
from . import invitations
from .busy import feed_busy, feed_forget
from .models import BookingProfile, DateOverride, Meeting, MeetingStatus, MeetingType, WeeklyHours
from .slots import Availability, free_slots, zone_or_utc
from .tokens import LinkTarget

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "meeting_booked"
KEEP_STAGES = (Stage.WON, Stage.LOST)  # an outcome is not undone by a meeting
Range = tuple[dt.datetime, dt.datetime]


class SlotTaken(Exception):
    """Someone else booked this time a moment ago."""


class SlotUnavailable(Exception):
    """The time is not (or no longer) offered: outside the hours, too soon, too far ahead, or busy."""


@dataclass(frozen=True)
class Visitor:
    name: str
    email: str
    company: str = ""
    note: str = ""
    timezone: str = "UTC"


# --- settings -----------------------------------------------------------------------------------------------------


def profile_ensure(*, org: Organization, user: User) -> BookingProfile:
    """The user's booking profile in this org, created with Monday-Friday 09:00-17:00 and a 30-minute intro call."""
    profile = BookingProfile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    with transaction.atomic():
        profile, created = BookingProfile.objects.get_or_create(
            org=org, user=user, defaults={"timezone": org.timezone or "UTC"}
        )
        if created:
            WeeklyHours.objects.bulk_create(
                [
                    WeeklyHours(org=org, profile=profile, weekday=day, start=dt.time(9), end=dt.time(17))
                    for day in range(1, 6)
                ]
            )
            MeetingType.objects.create(
                org=org, profile=profile, name="Intro call", slug="intro-call", duration_minutes=30
            )
    return profile


def availability_of(profile: BookingProfile) -> Availability:
    """The profile's rules as the slot maths takes them (two queries: weekly hours and overrides)."""
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for row in profile.weekly_hours.all():
        weekly.setdefault(row.weekday, []).append((row.start, row.end))
    overrides: dict[dt.date, list[tuple[dt.time, dt.time]]] = {}
    for override in profile.overrides.all():
        hours = overrides.setdefault(override.date, [])
        if not override.is_day_off:
            assert override.start is not None and override.end is not None
            hours.append((override.start, override.end))
    return Availability(
        timezone=profile.timezone,
        weekly=weekly,
        overrides=overrides,
        buffer_before=dt.timedelta(minutes=profile.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=profile.buffer_after_minutes),
        min_notice=dt.timedelta(minutes=profile.min_notice_minutes),
        horizon=dt.timedelta(days=profile.horizon_days),
    )


def busy_of(profile: BookingProfile, *, now: dt.datetime, ignore: Meeting | None = None) -> list[Range]:
    """Everything that blocks the host: their booked meetings in every organisation (one person cannot be in two
    meetings), and their calendar feed."""
    meetings = Meeting.objects.unscoped().filter(
        host_id=profile.user_id, status=MeetingStatus.BOOKED, ends_at__gt=now - dt.timedelta(days=1)
    )
    if ignore is not None:
        meetings = meetings.exclude(pk=ignore.pk)
    ranges = list(meetings.values_list("starts_at", "ends_at"))
    return ranges + feed_busy(profile, now=now)


def slots_for(
    meeting_type: MeetingType, *, now: dt.datetime | None = None, ignore: Meeting | None = None
) -> list[dt.datetime]:
    now = now or timezone.now()
    profile = meeting_type.profile
    return free_slots(
        availability=availability_of(profile),
        duration=meeting_type.duration,
        now=now,
        busy=busy_of(profile, now=now, ignore=ignore),
    )


# --- booking ------------------------------------------------------------------------------------------------------


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def _prospect_for(meeting_type: MeetingType, visitor: Visitor, link: LinkTarget | None) -> Prospect | None:
    """The link's prospect when the booking came through an email; else the person matched by email, or new."""
    if link is not None:
        found = Prospect.objects.filter(pk=link.prospect_id).first()
        if found is not None:
            return found
    first, last = _split_name(visitor.name)
    data: dict[str, Any] = {"email": visitor.email, "first_name": first, "last_name": last}
    if visitor.company:
        data["company_name"] = visitor.company
    result = prospect_upsert(
        org=meeting_type.org, data=data, source=Source.MEETING, update_existing=False, update_company=False
    )
    return result.prospect  # None when the person is on the suppression list: the meeting stands on its own


def _message_for(link: LinkTarget | None) -> Message | None:
    return Message.objects.filter(send_key=link.send_key).first() if link else None


def _is_overlap(exc: IntegrityError) -> bool:
    return "meeting_host_no_overlap" in str(exc)


def meeting_book(
    *,
    meeting_type: MeetingType,
    starts_at: dt.datetime,
    visitor: Visitor,
    link: LinkTarget | None = None,
    now: dt.datetime | None = None,
) -> Meeting:
    """Book a slot for a visitor. Raises SlotUnavailable (not offered) or SlotTaken (lost the race)."""
    now = now or timezone.now()
    profile = meeting_type.profile
    if link is not None and link.org_id != meeting_type.org_id:
        link = None
    if starts_at not in slots_for(meeting_type, now=now):
        raise SlotUnavailable()
    with transaction.atomic():
        prospect = _prospect_for(meeting_type, visitor, link)
        try:
            with transaction.atomic():
                meeting = Meeting.objects.create(
                    org=meeting_type.org,
                    host_id=profile.user_id,
                    meeting_type=meeting_type,
                    prospect=prospect,
                    message=_message_for(link),
                    starts_at=starts_at,
                    ends_at=starts_at + meeting_type.duration,
                    visitor_name=visitor.name[:200],
                    visitor_email=visitor.email,
                    visitor_company=visitor.company[:200],
                    visitor_note=visitor.note[:5000],
                    visitor_timezone=visitor.timezone,
                )
        except IntegrityError as exc:
            if _is_overlap(exc):
                raise SlotTaken() from None
            raise
        if prospect is not None:
            _prospect_booked(meeting, prospect, now)
        _notify_host(meeting)
        _webhooks_store(meeting)
    transaction.on_commit(
        lambda: invitations.invitations_send(org_id=meeting.org_id, meeting_id=meeting.pk, kind="booked")
    )
    return meeting


def _prospect_booked(meeting: Meeting, prospect: Prospect, now: dt.datetime) -> None:
    local = meeting.starts_at.astimezone(zone_or_utc(meeting.meeting_type.profile.timezone))
    activity_record(
        prospect=prospect,
        kind="meeting_booked",
        summary=f"Booked “{meeting.meeting_type.name}” for {local:%a %d %b %Y, %H:%M} ({local.tzname()})",
        data={"meeting_id": meeting.pk, "message_id": meeting.message_id},
    )
    if prospect.stage not in KEEP_STAGES:
        prospect_change_stage(prospect=prospect, stage=Stage.MEETING, actor=None, reason="booked a meeting")
    _enrollments_stop(prospect, now)


def _enrollments_stop(prospect: Prospect, now: dt.datetime) -> None:
    """The stop rules, now rather than at the scheduler's next look, so no follow-up leaves after a booking."""
    live = Enrollment.objects.select_related("campaign", "prospect").filter(
        prospect=prospect, state__in=LIVE_STATES
    )
    for enrollment in live:
        reason = stop_reason_for(enrollment)
        if reason:
            enrollment_stop(enrollment=enrollment, reason=reason, now=now)


def _notify_host(meeting: Meeting) -> None:
    local = meeting.starts_at.astimezone(zone_or_utc(meeting.meeting_type.profile.timezone))
    who = meeting.visitor_name + (f" ({meeting.visitor_company})" if meeting.visitor_company else "")
    url = reverse("prospect_detail", args=[meeting.prospect_id]) if meeting.prospect_id else ""
    notifications_create(
        org_id=meeting.org_id,
        user_ids=[meeting.host_id],
        kind=NOTIFICATION_KIND,
        title=f"{who} booked {meeting.meeting_type.name} on {local:%a %d %b, %H:%M}",
        body=meeting.visitor_note[:1000],
        url=url,
    )


def meeting_payload(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.pk,
        "uid": meeting.uid,
        "status": meeting.status,
        "meeting_type": {"name": meeting.meeting_type.name, "slug": meeting.meeting_type.slug},
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "host_email": meeting.meeting_type.profile.user.email,
        "visitor": {
            "name": meeting.visitor_name,
            "email": meeting.visitor_email,
            "company": meeting.visitor_company,
            "timezone": meeting.visitor_timezone,
        },
        "prospect_id": meeting.prospect_id,
        "message_id": meeting.message_id,
        "prospect_url": settings.SITE_URL + reverse("prospect_detail", args=[meeting.prospect_id])
        if meeting.prospect_id
        else None,
    }


def _webhooks_store(meeting: Meeting) -> None:
    org_id = require_org_id()
    endpoints = WebhookEndpoint.objects.filter(is_active=True, events__contains=[EVENT_MEETING_BOOKED])
    payload = {
        "type": EVENT_MEETING_BOOKED,
        "timestamp": timezone.now().isoformat(),
        "data": meeting_payload(meeting),
    }
    messages = WebhookMessage.objects.bulk_create(
        [
            WebhookMessage(
                org_id=org_id,
                endpoint=endpoint,
                event_type=EVENT_MEETING_BOOKED,
                message_id=f"msg_{uuid.uuid4().hex}",
                payload=payload,
            )
            for endpoint in endpoints
        ]
    )
    for message in messages:
        task_send_on_commit("prospects.routing.tasks.webhook_deliver_task", org_id, message.pk)


# --- changing a booking -------------------------------------------------------------------------------------------


def meeting_cancel(*, meeting: Meeting, by: str, now: dt.datetime | None = None) -> bool:
    """Cancel a booked meeting (by "visitor" or "host"); False when it was not booked any more."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Meeting.objects.filter(pk=meeting.pk, status=MeetingStatus.BOOKED).update(
            status=MeetingStatus.CANCELLED, sequence=meeting.sequence + 1, cancelled_at=now, updated_at=now
        )
        if not changed:
            return False
        meeting.refresh_from_db()
        if meeting.prospect_id:
            prospect = Prospect.objects.get(pk=meeting.prospect_id)
            activity_record(
                prospect=prospect,
                kind="meeting_cancelled",
                summary=f"“{meeting.meeting_type.name}” cancelled by the {'visitor' if by == 'visitor' else 'host'}",
                data={"meeting_id": meeting.pk},
            )
    transaction.on_commit(
        lambda: invitations.invitations_send(org_id=meeting.org_id, meeting_id=meeting.pk, kind="cancelled")
    )
    return True


def meeting_reschedule(
    *, meeting: Meeting, starts_at: dt.datetime, now: dt.datetime | None = None
) -> Meeting:
    """Move a booked meeting: same UID, SEQUENCE + 1, a new REQUEST to both sides. SlotUnavailable / SlotTaken."""
    now = now or timezone.now()
    if not meeting.is_booked or starts_at not in slots_for(meeting.meeting_type, now=now, ignore=meeting):
        raise SlotUnavailable()
    try:
        with transaction.atomic():
            changed = Meeting.objects.filter(pk=meeting.pk, status=MeetingStatus.BOOKED).update(
                starts_at=starts_at,
                ends_at=starts_at + meeting.meeting_type.duration,
                sequence=meeting.sequence + 1,
                updated_at=now,
            )
    except IntegrityError as exc:
        if _is_overlap(exc):
            raise SlotTaken() from None
        raise
    if not changed:
        raise SlotUnavailable()
    meeting.refresh_from_db()
    transaction.on_commit(
        lambda: invitations.invitations_send(org_id=meeting.org_id, meeting_id=meeting.pk, kind="moved")
    )
    return meeting


# --- Settings → Meetings ------------------------------------------------------------------------------------------


def weekly_hours_save(*, profile: BookingProfile, hours: dict[int, tuple[dt.time, dt.time]]) -> None:
    """Replace the profile's weekly hours with one range per listed weekday."""
    with transaction.atomic():
        profile.weekly_hours.all().delete()
        WeeklyHours.objects.bulk_create(
            [
                WeeklyHours(org_id=profile.org_id, profile=profile, weekday=day, start=start, end=end)
                for day, (start, end) in sorted(hours.items())
            ]
        )


def date_override_add(
    *, profile: BookingProfile, date: dt.date, start: dt.time | None, end: dt.time | None
) -> None:
    """Other hours (or, without hours, a day off) on one date; replaces what that date had."""
    with transaction.atomic():
        profile.overrides.filter(date=date).delete()
        DateOverride.objects.create(org_id=profile.org_id, profile=profile, date=date, start=start, end=end)


def profile_feed_changed(*, profile: BookingProfile) -> None:
    """A new or removed calendar address: drop the cached copy and the old error."""
    feed_forget(profile)
    BookingProfile.objects.filter(pk=profile.pk).update(busy_feed_error="", busy_feed_checked_at=None)
