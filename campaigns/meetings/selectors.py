"""Reads of the meetings wing shared by its pages."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from .models import BookingProfile, Meeting, MeetingStatus, MeetingType


def public_profile(slug: str) -> BookingProfile | None:
    """The profile behind a public booking URL, in any organisation (the page then scopes to its org)."""
    return BookingProfile.objects.unscoped().select_related("user", "org").filter(slug=slug).first()


def public_meeting_type(profile: BookingProfile, slug: str) -> MeetingType | None:
    return (
        MeetingType.objects.select_related("profile__user")
        .filter(profile=profile, slug=slug, is_active=True)
        .first()
    )


def upcoming_meetings(*, host_id: int, now: dt.datetime, limit: int = 50) -> QuerySet[Meeting]:
    return (
        Meeting.objects.select_related("meeting_type", "prospect")
        .filter(host_id=host_id, status=MeetingStatus.BOOKED, ends_at__gt=now)
        .order_by("starts_at")[:limit]
    )


def prospect_meetings(*, prospect_id: int) -> QuerySet[Meeting]:
    return (
        Meeting.objects.select_related("meeting_type__profile", "host")
        .filter(prospect_id=prospect_id)
        .order_by("-starts_at")
    )


def meeting_for_manage(*, org_id: int, meeting_id: int) -> Meeting | None:
    return (
        Meeting.objects.unscoped()
        .select_related("meeting_type__profile__user", "org")
        .filter(org_id=org_id, pk=meeting_id)
        .first()
    )
