"""Slot maths across clock changes and timezones: the start times a visitor is offered, checked in UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from campaigns.meetings.slots import Availability, free_slots, slots_by_day

UTC = dt.UTC
NINE_TO_FIVE = {day: [(dt.time(9), dt.time(17))] for day in range(1, 6)}
HOUR = dt.timedelta(hours=1)


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _on(slots: list[dt.datetime], day: dt.date, zone: str) -> list[str]:
    return [
        s.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        for s in slots
        if s.astimezone(ZoneInfo(zone)).date() == day
    ]


def test_berlin_hours_move_in_utc_across_the_spring_change() -> None:
    """EU clocks go forward on Sunday 29 March 2026: 09:00 Berlin is 08:00 UTC on the Friday, 07:00 UTC on Monday."""
    rules = Availability(timezone="Europe/Berlin", weekly=NINE_TO_FIVE)
    slots = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 3, 26, 0), step=HOUR)
    friday = [s for s in slots if s.date() == dt.date(2026, 3, 27)]
    monday = [s for s in slots if s.date() == dt.date(2026, 3, 30)]
    assert friday[0] == _utc(2026, 3, 27, 8) and friday[-1] == _utc(2026, 3, 27, 15)
    assert monday[0] == _utc(2026, 3, 30, 7) and monday[-1] == _utc(2026, 3, 30, 14)
    assert len(friday) == len(monday) == 8
    assert not [s for s in slots if s.date() in (dt.date(2026, 3, 28), dt.date(2026, 3, 29))]  # weekend


def test_a_window_across_the_spring_night_is_an_hour_shorter_in_berlin() -> None:
    """00:00-06:00 on the night 02:00 does not exist: five real hours, local starts 00, 01, 03, 04, 05."""
    rules = Availability(
        timezone="Europe/Berlin", weekly={7: [(dt.time(0), dt.time(6))]}, horizon=dt.timedelta(days=3)
    )
    slots = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 3, 27, 0))
    sunday = dt.date(2026, 3, 29)
    assert _on(slots, sunday, "Europe/Berlin") == ["00:00", "01:00", "03:00", "04:00", "05:00"]
    assert slots[0] == _utc(2026, 3, 28, 23) and slots[-1] == _utc(2026, 3, 29, 3)


def test_a_window_across_the_autumn_night_is_an_hour_longer_in_berlin() -> None:
    """On 25 October 2026 02:00-03:00 happens twice: seven real hours, both 02:00s offered."""
    rules = Availability(
        timezone="Europe/Berlin", weekly={7: [(dt.time(0), dt.time(6))]}, horizon=dt.timedelta(days=3)
    )
    slots = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 10, 23, 0))
    local = _on(slots, dt.date(2026, 10, 25), "Europe/Berlin")
    assert local == ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00", "05:00"]
    assert len(set(slots)) == 7
    assert slots[2] == _utc(2026, 10, 25, 0) and slots[3] == _utc(2026, 10, 25, 1)  # CEST then CET


def test_new_york_spring_and_autumn_changes() -> None:
    """US clocks change on 8 March and 1 November 2026: 09:00 New York is 14:00 UTC in winter, 13:00 in summer."""
    rules = Availability(timezone="America/New_York", weekly=NINE_TO_FIVE)
    march = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 3, 5, 0))
    assert next(s for s in march if s.date() == dt.date(2026, 3, 6)) == _utc(2026, 3, 6, 14)  # Friday, EST
    assert next(s for s in march if s.date() == dt.date(2026, 3, 9)) == _utc(2026, 3, 9, 13)  # Monday, EDT
    november = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 10, 29, 0))
    assert next(s for s in november if s.date() == dt.date(2026, 10, 30)) == _utc(2026, 10, 30, 13)  # EDT
    assert next(s for s in november if s.date() == dt.date(2026, 11, 2)) == _utc(2026, 11, 2, 14)  # EST
    # The EU has already changed (25 Oct) while New York has not: the gap is 5 hours that week, not 6.
    assert all(s.astimezone(ZoneInfo("America/New_York")).hour in range(9, 17) for s in november)


def test_host_in_berlin_visitor_in_new_york_sees_their_own_clock() -> None:
    """In the week between the EU and US spring changes Berlin is only 5 hours ahead of New York."""
    rules = Availability(timezone="Europe/Berlin", weekly=NINE_TO_FIVE)
    slots = free_slots(availability=rules, duration=dt.timedelta(minutes=30), now=_utc(2026, 3, 15, 12))
    days = dict(slots_by_day(slots, "America/New_York"))
    # Monday 16 March: Berlin is on CET (UTC+1), New York already on EDT (UTC-4): 09:00 Berlin is 04:00 there.
    monday = days[dt.date(2026, 3, 16)]
    assert monday[0].strftime("%H:%M %Z") == "04:00 EDT" and monday[-1].strftime("%H:%M") == "11:30"
    # Monday 30 March, both on summer time again: 6 hours apart, 09:00 Berlin is 03:00 in New York.
    assert days[dt.date(2026, 3, 30)][0].strftime("%H:%M") == "03:00"
    # A visitor in Tokyo sees Berlin's afternoon on the next calendar date there.
    tokyo = dict(slots_by_day(slots, "Asia/Tokyo"))
    assert tokyo[dt.date(2026, 3, 17)][0].strftime("%H:%M") == "00:00"  # Mon 16:00 Berlin = Tue 00:00 Tokyo


def test_notice_horizon_overrides_buffers_and_busy_time() -> None:
    now = _utc(2026, 6, 1, 7, 10)  # Monday 09:10 in Berlin (CEST)
    rules = Availability(
        timezone="Europe/Berlin",
        weekly=NINE_TO_FIVE,
        overrides={
            dt.date(2026, 6, 2): [],  # Tuesday off
            dt.date(2026, 6, 3): [(dt.time(13), dt.time(15))],  # Wednesday afternoon only
        },
        buffer_before=dt.timedelta(minutes=15),
        buffer_after=dt.timedelta(minutes=15),
        min_notice=dt.timedelta(hours=2),
        horizon=dt.timedelta(days=3),
    )
    busy = [(_utc(2026, 6, 1, 12), _utc(2026, 6, 1, 13))]  # 14:00-15:00 Berlin
    slots = free_slots(availability=rules, duration=HOUR, now=now, busy=busy)
    monday = _on(slots, dt.date(2026, 6, 1), "Europe/Berlin")
    # 09-11 is inside the notice; 13:00 and 15:00 would touch the busy hour within the 15-minute buffers.
    assert monday == ["12:00", "16:00"]
    assert not _on(slots, dt.date(2026, 6, 2), "Europe/Berlin")
    assert _on(slots, dt.date(2026, 6, 3), "Europe/Berlin") == ["13:00", "14:00"]
    # The horizon ends on Thursday at 09:10: only the 09:00 slot starts before it.
    assert _on(slots, dt.date(2026, 6, 4), "Europe/Berlin") == ["09:00"]
    assert max(slots) == _utc(2026, 6, 4, 7)


def test_adjacent_meeting_is_allowed_without_buffers() -> None:
    rules = Availability(
        timezone="UTC", weekly={1: [(dt.time(9), dt.time(12))]}, horizon=dt.timedelta(days=2)
    )
    busy = [(_utc(2026, 6, 1, 10), _utc(2026, 6, 1, 11))]
    slots = free_slots(availability=rules, duration=HOUR, now=_utc(2026, 5, 31), busy=busy)
    assert slots == [_utc(2026, 6, 1, 9), _utc(2026, 6, 1, 11)]


def test_many_unsorted_overlapping_busy_ranges_match_a_plain_check() -> None:
    """The bisected check over merged ranges agrees with testing every busy range one by one."""
    import random

    generator = random.Random(13)
    now = _utc(2026, 6, 1)
    busy = []
    for _ in range(400):
        start = now + dt.timedelta(minutes=generator.randrange(0, 14 * 24 * 60, 5))
        busy.append((start, start + dt.timedelta(minutes=generator.choice([5, 15, 30, 90, 240]))))
    generator.shuffle(busy)
    rules = Availability(
        timezone="Europe/Berlin",
        weekly=NINE_TO_FIVE,
        buffer_before=dt.timedelta(minutes=10),
        buffer_after=dt.timedelta(minutes=5),
        horizon=dt.timedelta(days=14),
    )
    duration = dt.timedelta(minutes=30)
    every = free_slots(availability=rules, duration=duration, now=now)
    expected = [
        s
        for s in every
        if not any(b < s + duration + rules.buffer_after and s - rules.buffer_before < e for b, e in busy)
    ]
    got = free_slots(availability=rules, duration=duration, now=now, busy=busy)
    assert got == expected and 0 < len(got) < len(every)
