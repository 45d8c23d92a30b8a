"""Busy time from the host's own calendar: an ICS feed on a real local HTTP server, through the SSRF guard."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaigns.meetings import services
from campaigns.meetings.busy import feed_busy
from campaigns.meetings.ics import busy_from_ics
from campaigns.meetings.models import BookingProfile, MeetingType
from conftest import Tenant

pytest_plugins = ["leadgen.tests.fake_web"]

UTC = dt.UTC


def _feed(start: dt.datetime) -> str:
    """What Google Calendar's secret iCal address serves (CRLF lines, a VTIMEZONE, UTC and zoned times)."""
    day = start.strftime("%Y%m%d")
    nxt = (start + dt.timedelta(days=1)).strftime("%Y%m%d")
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-TIMEZONE:Europe/Berlin",
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "TZNAME:CEST",
        "DTSTART:19700329T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "TZNAME:CET",
        "DTSTART:19701025T030000",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
        # 10:00-11:00 UTC: busy.
        "BEGIN:VEVENT",
        f"DTSTART:{day}T100000Z",
        f"DTEND:{day}T110000Z",
        "UID:a@google.com",
        "SUMMARY:Board meeting",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        # 14:00 Berlin for 90 minutes (DURATION instead of DTEND).
        "BEGIN:VEVENT",
        f"DTSTART;TZID=Europe/Berlin:{day}T140000",
        "DURATION:PT1H30M",
        "UID:b@google.com",
        "SUMMARY:Dentist",
        "END:VEVENT",
        # Free time and a cancelled event block nothing.
        "BEGIN:VEVENT",
        f"DTSTART:{day}T160000Z",
        f"DTEND:{day}T170000Z",
        "UID:c@google.com",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "BEGIN:VEVENT",
        f"DTSTART:{day}T180000Z",
        f"DTEND:{day}T190000Z",
        "UID:d@google.com",
        "STATUS:CANCELLED",
        "END:VEVENT",
        # An all-day event on the next day, and a weekly standup, skipped once (EXDATE) and moved once.
        "BEGIN:VEVENT",
        f"DTSTART;VALUE=DATE:{nxt}",
        f"DTEND;VALUE=DATE:{(start + dt.timedelta(days=2)):%Y%m%d}",
        "UID:e@google.com",
        "SUMMARY:Offsite",
        "END:VEVENT",
        "BEGIN:VEVENT",
        f"DTSTART:{day}T080000Z",
        f"DTEND:{day}T081500Z",
        "RRULE:FREQ=WEEKLY;COUNT=5",
        f"EXDATE:{(start + dt.timedelta(days=7)):%Y%m%d}T080000Z",
        "UID:f@google.com",
        "SUMMARY:Standup",
        "END:VEVENT",
        # The third standup moved to 09:00 that day.
        "BEGIN:VEVENT",
        f"RECURRENCE-ID:{(start + dt.timedelta(days=14)):%Y%m%d}T080000Z",
        f"DTSTART:{(start + dt.timedelta(days=14)):%Y%m%d}T090000Z",
        f"DTEND:{(start + dt.timedelta(days=14)):%Y%m%d}T091500Z",
        "UID:f@google.com",
        "SUMMARY:Standup (moved)",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def test_the_feed_is_read_into_busy_ranges() -> None:
    day = dt.datetime(2026, 7, 6, tzinfo=UTC)  # summer: Berlin is UTC+2
    read = busy_from_ics(_feed(day).encode(), host_zone="Europe/Berlin", now=day)
    assert read.events == 6 and read.repeating == 1
    week = dt.timedelta(days=7)
    standups = [day.replace(hour=8) + n * week for n in (0, 3, 4)] + [day.replace(hour=9) + 2 * week]
    assert read.ranges == sorted(
        [
            (day.replace(hour=10), day.replace(hour=11)),
            (day.replace(hour=12), day.replace(hour=13, minute=30)),  # 14:00 CEST
            # All day in the host's zone: midnight to midnight Berlin time.
            (dt.datetime(2026, 7, 6, 22, tzinfo=UTC), dt.datetime(2026, 7, 7, 22, tzinfo=UTC)),
        ]
        + [(at, at + dt.timedelta(minutes=15)) for at in standups]
    )
    # Asked for one week only, the repeating event is expanded inside it.
    first_week = busy_from_ics(_feed(day).encode(), host_zone="Europe/Berlin", within=(day, day + week))
    assert [r for r in first_week.ranges if r[0].minute == 0 and r[1].minute == 15] == [
        (day.replace(hour=8), day.replace(hour=8, minute=15))
    ]
    with pytest.raises(ValueError, match="not an iCalendar file"):
        busy_from_ics(b"<html>Sign in</html>", host_zone="UTC")


@pytest.mark.django_db
def test_busy_times_are_not_offered_and_the_feed_is_cached(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType, fake_web: Any, settings: Any
) -> None:
    tomorrow = (dt.datetime.now(UTC) + dt.timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    fake_web.route("/calendar.ics", _feed(tomorrow), headers={"Content-Type": "text/calendar; charset=utf-8"})
    with tenant.scope():
        host_profile.timezone = "UTC"
        host_profile.busy_feed_url = fake_web.url("/calendar.ics")
        host_profile.save()
        slots = services.slots_for(intro)
        assert tomorrow.replace(hour=10) not in slots and tomorrow.replace(hour=10, minute=30) not in slots
        assert tomorrow.replace(hour=9, minute=30) in slots and tomorrow.replace(hour=11) in slots
        assert tomorrow.replace(hour=16) in slots  # transparent
        services.slots_for(intro)
        assert fake_web.paths_requested() == ["/calendar.ics"]  # the second page view used the cache
        host_profile.refresh_from_db()
        assert host_profile.busy_feed_error == "" and host_profile.busy_feed_checked_at is not None


@pytest.mark.django_db
def test_a_feed_that_fails_keeps_the_last_good_copy_and_says_why(
    tenant: Tenant, host_profile: BookingProfile, fake_web: Any
) -> None:
    from django.core.cache import cache

    from campaigns.meetings.busy import _key

    now = dt.datetime.now(UTC)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    fake_web.route("/calendar.ics", _feed(tomorrow), headers={"Content-Type": "text/calendar"})
    with tenant.scope():
        host_profile.busy_feed_url = fake_web.url("/calendar.ics")
        host_profile.save()
        good = feed_busy(host_profile, now=now)
        assert (tomorrow.replace(hour=10), tomorrow.replace(hour=11)) in good
        cache.delete(_key(host_profile, "fresh"))  # five minutes later
        fake_web.route("/calendar.ics", "gone", status=404)
        assert feed_busy(host_profile, now=now) == good
        host_profile.refresh_from_db()
        assert host_profile.busy_feed_error == "the calendar address answered 404"


@pytest.mark.django_db
def test_a_feed_on_a_private_address_is_refused_by_the_guard(
    tenant: Tenant, host_profile: BookingProfile
) -> None:
    with tenant.scope():
        host_profile.busy_feed_url = "http://169.254.169.254/latest/meta-data/"
        host_profile.save()
        assert feed_busy(host_profile) == []
        host_profile.refresh_from_db()
        assert "169.254.169.254" in host_profile.busy_feed_error
