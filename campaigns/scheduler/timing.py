"""When the next email of a sequence may leave, in the recipient's own timezone.

All arithmetic on wall-clock times happens in the recipient's zone (zoneinfo) and the result is converted to UTC,
so a 09:00-17:00 window stays 09:00-17:00 local across DST changes. Delays in hours are absolute durations;
delays in business days count Monday-Friday that are not public holidays and keep the local time of day. A skipped
wall time (02:30 on a spring-forward night) reads with the offset before the change, i.e. 03:30; a repeated one
(autumn) is its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import holidays as holiday_calendars

UTC = dt.UTC
SEARCH_DAYS = 400  # a schedule with any send day always has one within a year


@dataclass(frozen=True)
class Window:
    """Send days (ISO weekdays, 1 = Monday) and a daily local window [start, end)."""

    days: frozenset[int]
    start: dt.time
    end: dt.time
    holiday_country: str | None = None

    @classmethod
    def of(
        cls, *, days: Iterable[int], start: dt.time, end: dt.time, holiday_country: str | None = None
    ) -> Window:
        return cls(frozenset(days), start, end, (holiday_country or "").upper() or None)


@functools.lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    try:
        return frozenset(holiday_calendars.country_holidays(country, years=year).keys())
    except NotImplementedError:  # a country python-holidays does not know: no holidays rather than no sends
        return frozenset()


def is_holiday(day: dt.date, country: str | None) -> bool:
    return bool(country) and day in _holidays(str(country), day.year)


def _is_send_day(day: dt.date, window: Window) -> bool:
    return day.isoweekday() in window.days and not is_holiday(day, window.holiday_country)


def _local(day: dt.date, at: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant of a local wall time (PEP 495 fold=0: a skipped time reads with the offset before the change,
    so 02:30 on a spring-forward night is 03:30; a repeated time is its first occurrence)."""
    return dt.datetime.combine(day, at).replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def next_in_window(after: dt.datetime, *, zone: str | zoneinfo.ZoneInfo, window: Window) -> dt.datetime:
    """The first instant at or after `after` that is inside the window on a send day, in UTC."""
    if not window.days or window.start >= window.end:
        raise ValueError("a schedule needs at least one send day and a window that starts before it ends")
    tz = zone if isinstance(zone, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(zone)
    local = after.astimezone(tz)
    for offset in range(SEARCH_DAYS):
        day = local.date() + dt.timedelta(days=offset)
        if not _is_send_day(day, window):
            continue
        opens, closes = _local(day, window.start, tz), _local(day, window.end, tz)
        if local < opens:
            return opens.astimezone(UTC)
        if local < closes:
            return local.astimezone(UTC)
    raise ValueError("no send day within a year")


def add_business_days(
    start: dt.datetime, days: int, *, zone: str | zoneinfo.ZoneInfo, holiday_country: str | None = None
) -> dt.datetime:
    """`days` working days (Mon-Fri, not holidays) after `start`, at the same local time, in UTC."""
    tz = zone if isinstance(zone, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(zone)
    local = start.astimezone(tz)
    day, left = local.date(), days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.isoweekday() <= 5 and not is_holiday(day, holiday_country):
            left -= 1
    return _local(day, local.timetz().replace(tzinfo=None), tz).astimezone(UTC)


def send_time_after(
    previous: dt.datetime,
    *,
    delay_amount: int,
    delay_unit: str,
    zone: str,
    window: Window,
) -> dt.datetime:
    """The next step's send time: the delay after the previous send, then the next moment inside the window."""
    if delay_unit == "business_days":
        earliest = add_business_days(
            previous, delay_amount, zone=zone, holiday_country=window.holiday_country
        )
    else:
        earliest = previous + dt.timedelta(hours=delay_amount)
    return next_in_window(earliest, zone=zone, window=window)
