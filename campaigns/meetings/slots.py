"""Slot maths: pure functions from a host's rules and busy time to the free start times, in UTC.

Hours are kept as wall-clock times in the host's timezone and turned into UTC one date at a time, so a window of
09:00-17:00 is 08:00-16:00 UTC in Berlin's winter and 07:00-15:00 UTC in its summer, and a window that spans a
clock change is one hour shorter (spring) or longer (autumn) in real time. Slots step through real (UTC) time from
the window's start, so no slot is doubled or lost at a change. A local time that does not exist (02:30 on the
spring-forward night) is read with the offset before the change, as `zoneinfo` does with fold=0.

Nothing here touches the database: the caller passes the booked meetings and calendar busy ranges it has loaded.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC = dt.UTC
Range = tuple[dt.datetime, dt.datetime]
Hours = Sequence[tuple[dt.time, dt.time]]


@dataclass(frozen=True)
class Availability:
    """A host's booking rules. `weekly` maps ISO weekdays (1 = Monday) to local hour ranges; `overrides` maps a
    date to the ranges that replace its weekday's (an empty sequence is a day off)."""

    timezone: str
    weekly: Mapping[int, Hours]
    overrides: Mapping[dt.date, Hours] = field(default_factory=dict)
    buffer_before: dt.timedelta = dt.timedelta(0)
    buffer_after: dt.timedelta = dt.timedelta(0)
    min_notice: dt.timedelta = dt.timedelta(0)
    horizon: dt.timedelta = dt.timedelta(days=30)


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The named IANA zone, or UTC for a blank or unknown name (a visitor's browser may send anything)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def is_zone(name: str) -> bool:
    return bool(name) and name in _zones()


_ZONES: frozenset[str] = frozenset()


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def zone_names() -> list[str]:
    """The IANA names a visitor can pick (regions, not the legacy aliases such as "US/Eastern")."""
    return [
        *sorted(
            name for name in _zones() if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))
        ),
        "UTC",
    ]


def local_to_utc(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=zone).astimezone(UTC)


def day_windows(availability: Availability, day: dt.date) -> list[Range]:
    """The host's open ranges on one local date, in UTC."""
    zone = zone_or_utc(availability.timezone)
    hours = availability.overrides.get(day)
    if hours is None:
        hours = availability.weekly.get(day.isoweekday(), ())
    windows = []
    for start, end in hours:
        begins, ends = local_to_utc(day, start, zone), local_to_utc(day, end, zone)
        if ends > begins:
            windows.append((begins, ends))
    return windows


def _merged(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _overlaps(
    start: dt.datetime, end: dt.datetime, busy: Sequence[Range], ends: Sequence[dt.datetime]
) -> bool:
    """Whether [start, end) touches a busy range; `busy` is merged and sorted, `ends` its end times (bisected)."""
    index = bisect.bisect_right(ends, start)
    return index < len(busy) and busy[index][0] < end


def free_slots(
    *,
    availability: Availability,
    duration: dt.timedelta,
    now: dt.datetime,
    busy: Iterable[Range] = (),
    step: dt.timedelta | None = None,
) -> list[dt.datetime]:
    """Every start time (UTC, ascending) a meeting of `duration` can be booked at.

    A slot lies inside one open window, starts at least `min_notice` after `now` and before `now + horizon`, and
    together with the buffers around it ([start - before, end + after)) touches no busy range: booked meetings
    and the host's calendar events alike.
    """
    if duration <= dt.timedelta(0):
        raise ValueError("a meeting lasts longer than zero minutes")
    step = step or duration
    earliest, latest = now + availability.min_notice, now + availability.horizon
    busy_ranges = _merged(busy)
    ends = [end for _, end in busy_ranges]
    zone = zone_or_utc(availability.timezone)
    first_day = now.astimezone(zone).date() - dt.timedelta(days=1)
    last_day = latest.astimezone(zone).date()
    slots: list[dt.datetime] = []
    day = first_day
    while day <= last_day:
        for window_start, window_end in day_windows(availability, day):
            start = window_start
            while start + duration <= window_end:
                end = start + duration
                if earliest <= start < latest and not _overlaps(
                    start - availability.buffer_before, end + availability.buffer_after, busy_ranges, ends
                ):
                    slots.append(start)
                start += step
        day += dt.timedelta(days=1)
    return sorted(set(slots))


def slots_by_day(slots: Iterable[dt.datetime], zone_name: str) -> list[tuple[dt.date, list[dt.datetime]]]:
    """Slots grouped by the visitor's local date, each as a local datetime (for display)."""
    zone = zone_or_utc(zone_name)
    days: dict[dt.date, list[dt.datetime]] = {}
    for slot in slots:
        local = slot.astimezone(zone)
        days.setdefault(local.date(), []).append(local)
    return sorted(days.items())


def is_free(
    *,
    availability: Availability,
    duration: dt.timedelta,
    now: dt.datetime,
    start: dt.datetime,
    busy: Iterable[Range] = (),
) -> bool:
    """Whether `start` is one of the slots offered now (what a POST of a slot is checked against)."""
    return start in free_slots(availability=availability, duration=duration, now=now, busy=busy)
