"""Meetings booked from a public page: a host's booking profile (hours, buffers, notice, horizon, busy feed), the
meeting types they offer, and the meetings themselves.

Two visitors can never hold the same host time: an exclusion constraint on (host, [starts_at, ends_at)) among
booked meetings refuses the second insert inside PostgreSQL, whatever the application checked before. Our embedded
PostgreSQL has no `btree_gist`, so the host id is compared as a one-value `int8range` (core GiST supports ranges).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils.timezone import now

from leadgen.tenancy import OrgOwned


def _profile_slug() -> str:
    return secrets.token_urlsafe(6).lower().replace("_", "").replace("-", "")[:8] or "host"


class BookingProfile(OrgOwned):
    """One host's booking rules in one organisation. `slug` is public (in the booking URL) and unique everywhere."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    slug = models.SlugField(max_length=60, unique=True, default=_profile_slug)
    timezone = models.CharField(max_length=64, default="UTC")
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0)
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0)
    min_notice_minutes = models.PositiveIntegerField(default=240)
    horizon_days = models.PositiveSmallIntegerField(default=30)
    # Invitations go out from this mailbox's address (else the site's default sender, replies to the host).
    mailbox = models.ForeignKey(
        "outreach.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An ICS address of the host's own calendar; its events are busy time. Fetched through the SSRF guard.
    busy_feed_url = models.CharField(max_length=1000, blank=True)  # https:// or webcal://
    busy_feed_error = models.CharField(max_length=300, blank=True)
    busy_feed_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="bookingprofile_unique_user")]

    def __str__(self) -> str:
        return self.slug


class WeeklyHours(OrgOwned):
    """A range of hours on one weekday (ISO, 1 = Monday), in the profile's timezone; a day may have several."""

    profile = models.ForeignKey(BookingProfile, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField()
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["weekday", "start"]
        indexes = [models.Index(fields=["org", "profile"], name="weeklyhours_org_profile")]


class DateOverride(OrgOwned):
    """Other hours on one date: rows with start and end replace that weekday's hours; a row without is a day off."""

    profile = models.ForeignKey(BookingProfile, on_delete=models.CASCADE, related_name="overrides")
    date = models.DateField()
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["date", "start"]
        indexes = [models.Index(fields=["org", "profile", "date"], name="dateoverride_org_profile")]

    @property
    def is_day_off(self) -> bool:
        return self.start is None or self.end is None


class MeetingType(OrgOwned):
    profile = models.ForeignKey(BookingProfile, on_delete=models.CASCADE, related_name="meeting_types")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    # A place, a phone number or a video link: shown on the page and put in the invitation.
    location = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["profile", "slug"], name="meetingtype_unique_slug")]
        indexes = [models.Index(fields=["org", "profile"], name="meetingtype_org_profile")]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.duration_minutes)


class MeetingStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def _uid() -> str:
    return f"{secrets.token_hex(16)}@leadgen"


class Meeting(OrgOwned):
    """A booked (or cancelled) meeting. `uid` and `sequence` are the invitation's: a reschedule keeps the UID and
    raises the SEQUENCE, so calendars update the event they already hold instead of adding a second one."""

    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    meeting_type = models.ForeignKey(MeetingType, on_delete=models.PROTECT, related_name="meetings")
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.SET_NULL, related_name="meetings"
    )
    # The email whose booking link was used, when there was one.
    message = models.ForeignKey(
        "outreach.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.BOOKED)
    visitor_name = models.CharField(max_length=200)
    visitor_email = models.EmailField(max_length=254)
    visitor_company = models.CharField(max_length=200, blank=True)
    visitor_note = models.TextField(blank=True)
    visitor_timezone = models.CharField(max_length=64, default="UTC")
    uid = models.CharField(max_length=80, unique=True, default=_uid)
    sequence = models.PositiveIntegerField(default=0)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="meeting_ends_after_start"),
            ExclusionConstraint(
                name="meeting_host_no_overlap",
                expressions=[
                    (
                        Func(F("host_id"), F("host_id"), Value("[]"), function="int8range"),
                        RangeOperators.OVERLAPS,
                    ),
                    (TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status="booked"),
            ),
        ]
        indexes = [
            models.Index(fields=["org", "host", "starts_at"], name="meeting_org_host_start"),
            models.Index(fields=["org", "prospect", "-starts_at"], name="meeting_org_prospect"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_name} at {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def is_booked(self) -> bool:
        return self.status == MeetingStatus.BOOKED
