"""Send times in each recipient's own window, across DST changes, weekends and public holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.scheduler.timing import Window, add_business_days, next_in_window, send_time_after

UTC = dt.UTC
OFFICE = Window.of(days=[1, 2, 3, 4, 5], start=dt.time(9), end=dt.time(17))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Friday 17:30 in Tokyo (no DST) → Monday 09:00 JST.
        ("Asia/Tokyo", utc(2026, 3, 27, 8, 30), utc(2026, 3, 30, 0, 0)),
        # Friday 19:00 CET; Berlin moves to CEST on Sunday 29 March → Monday 09:00 CEST is 07:00 UTC, not 08:00.
        ("Europe/Berlin", utc(2026, 3, 27, 18, 0), utc(2026, 3, 30, 7, 0)),
        # Friday 18:00 PST; Los Angeles moves to PDT on Sunday 8 March → Monday 09:00 PDT is 16:00 UTC.
        ("America/Los_Angeles", utc(2026, 3, 7, 2, 0), utc(2026, 3, 9, 16, 0)),
        # Autumn: Friday 17:30 CEST, back to CET on Sunday 25 October → Monday 09:00 CET is 08:00 UTC.
        ("Europe/Berlin", utc(2026, 10, 23, 15, 30), utc(2026, 10, 26, 8, 0)),
        # Inside the window now: now.
        ("Europe/Berlin", utc(2026, 3, 26, 10, 15), utc(2026, 3, 26, 10, 15)),
        # Before the window opens on a weekday: 09:00 the same day (Tokyo Tuesday 06:00).
        ("Asia/Tokyo", utc(2026, 3, 30, 21, 0), utc(2026, 3, 31, 0, 0)),
        # Saturday afternoon in Los Angeles → Monday 09:00 PDT.
        ("America/Los_Angeles", utc(2026, 6, 6, 20, 0), utc(2026, 6, 8, 16, 0)),
    ],
)
def test_next_moment_inside_the_recipients_window(
    zone: str, after: dt.datetime, expected: dt.datetime
) -> None:
    assert next_in_window(after, zone=zone, window=OFFICE) == expected


def test_the_same_instant_lands_in_each_recipients_own_morning() -> None:
    friday_evening_utc = utc(2026, 3, 27, 20, 0)
    times = {
        zone: next_in_window(friday_evening_utc, zone=zone, window=OFFICE)
        for zone in ("Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles")
    }
    assert times == {
        "Asia/Tokyo": utc(2026, 3, 30, 0, 0),
        "Europe/Berlin": utc(2026, 3, 30, 7, 0),
        # Still Friday 13:00 in Los Angeles: inside its window.
        "America/Los_Angeles": friday_evening_utc,
    }


def test_hour_delays_are_durations_and_weekends_are_skipped() -> None:
    sent = utc(2026, 3, 26, 8, 0)  # Thursday 09:00 CET
    # +72 h is Sunday (after the DST change) → Monday 09:00 CEST.
    assert send_time_after(
        sent, delay_amount=72, delay_unit="hours", zone="Europe/Berlin", window=OFFICE
    ) == utc(2026, 3, 30, 7, 0)
    # +24 h is Friday 10:00 CET, inside the window.
    assert send_time_after(
        sent, delay_amount=25, delay_unit="hours", zone="Europe/Berlin", window=OFFICE
    ) == utc(2026, 3, 27, 9, 0)


def test_business_days_keep_the_local_time_across_dst() -> None:
    sent = utc(2026, 3, 27, 9, 0)  # Friday 10:00 CET
    # Two business days: Tuesday, 10:00 local, now CEST.
    assert add_business_days(sent, 2, zone="Europe/Berlin") == utc(2026, 3, 31, 8, 0)
    assert send_time_after(
        sent, delay_amount=2, delay_unit="business_days", zone="Europe/Berlin", window=OFFICE
    ) == utc(2026, 3, 31, 8, 0)


def test_public_holidays_of_the_country_are_skipped() -> None:
    window = Window.of(days=[1, 2, 3, 4, 5], start=dt.time(9), end=dt.time(17), holiday_country="DE")
    # Thursday 2 April 2026, 18:00 CEST: Good Friday, the weekend and Easter Monday are not send days.
    after = utc(2026, 4, 2, 16, 0)
    assert next_in_window(after, zone="Europe/Berlin", window=window) == utc(2026, 4, 7, 7, 0)
    assert next_in_window(after, zone="Europe/Berlin", window=OFFICE) == utc(2026, 4, 3, 7, 0)
    # A business-day delay skips them too.
    assert add_business_days(after, 1, zone="Europe/Berlin", holiday_country="DE") == utc(2026, 4, 7, 16, 0)


def test_a_window_in_the_spring_gap_opens_at_the_first_real_time() -> None:
    night = Window.of(days=range(1, 8), start=dt.time(2, 30), end=dt.time(4))
    # Sunday 29 March 2026, Berlin: 02:30 does not exist; the window opens at 03:30 CEST (01:30 UTC).
    assert next_in_window(utc(2026, 3, 28, 23, 0), zone="Europe/Berlin", window=night) == utc(
        2026, 3, 29, 1, 30
    )


def test_an_impossible_schedule_is_refused() -> None:
    with pytest.raises(ValueError):
        next_in_window(
            utc(2026, 1, 1), zone="UTC", window=Window.of(days=[], start=dt.time(9), end=dt.time(17))
        )
    with pytest.raises(ValueError):
        next_in_window(
            utc(2026, 1, 1), zone="UTC", window=Window.of(days=[1], start=dt.time(17), end=dt.time(9))
        )
