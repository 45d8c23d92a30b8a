"""iCalendar (RFC 5545) both ways, with `icalendar`: the invitations we send, and busy time read from a feed.

Invitations follow iTIP (RFC 5546): METHOD:REQUEST for a new or moved meeting, METHOD:CANCEL for a cancelled one;
the UID stays the meeting's for its whole life and SEQUENCE rises with every change, which is how a calendar knows
that a later message replaces the event it holds. Times go out in UTC (`DTSTART:20261203T140000Z`), so no VTIMEZONE
is needed and every client shows the right local time.

Busy feeds: VEVENTs that are not transparent or cancelled become busy ranges. Repeating events are expanded with
`recurring-ical-events` (RRULE, RDATE, EXDATE and moved occurrences, RECURRENCE-ID) inside the booking horizon, so a
weekly standup blocks every week, not only its first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

PRODID = "-//Leadgen//Meetings//EN"
UTC = dt.UTC


@dataclass(frozen=True)
class Party:
    name: str
    email: str


@dataclass(frozen=True)
class Invitation:
    uid: str
    sequence: int
    method: str  # REQUEST | CANCEL
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    description: str
    location: str
    organizer: Party
    attendees: tuple[Party, ...]
    url: str = ""


def _address(party: Party, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{party.email}")
    if party.name:
        address.params["CN"] = icalendar.vText(party.name)
    for key, value in params.items():
        address.params[key] = icalendar.vText(value)
    return address


def invitation_ics(invitation: Invitation, *, stamp: dt.datetime | None = None) -> bytes:
    """The .ics body of one iTIP message for the meeting."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", invitation.method)
    event = icalendar.Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", (stamp or dt.datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", invitation.starts_at.astimezone(UTC))
    event.add("dtend", invitation.ends_at.astimezone(UTC))
    event.add("summary", invitation.summary)
    if invitation.description:
        event.add("description", invitation.description)
    if invitation.location:
        event.add("location", invitation.location)
    if invitation.url:
        event.add("url", invitation.url)
    event.add("organizer", _address(invitation.organizer))
    for attendee in invitation.attendees:
        event.add(
            "attendee", _address(attendee, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE")
        )
    event.add("status", "CANCELLED" if invitation.method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    return calendar.to_ical()


# --- busy time from a feed ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusyRead:
    ranges: list[tuple[dt.datetime, dt.datetime]]
    events: int
    repeating: int  # events with an RRULE, expanded into their occurrences inside the window


def _as_utc(value: dt.date | dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=zone)  # a floating time is the host's
        return aware.astimezone(UTC)
    return dt.datetime.combine(value, dt.time(0), tzinfo=zone).astimezone(UTC)  # an all-day event


def _event_range(event: icalendar.cal.Component, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime] | None:
    start_prop = event.get("dtstart")
    if start_prop is None:
        return None
    start = _as_utc(start_prop.dt, zone)
    end_prop, duration = event.get("dtend"), event.get("duration")
    if end_prop is not None:
        end = _as_utc(end_prop.dt, zone)
    elif duration is not None:
        end = start + duration.dt
    elif isinstance(start_prop.dt, dt.datetime):
        end = start  # RFC 5545: a DTSTART-only timed event takes no time
    else:
        end = start + dt.timedelta(days=1)
    return (start, end) if end > start else None


# Without a window, repeating events are expanded this far around now (longer than any booking horizon).
DEFAULT_SPAN = (dt.timedelta(days=1), dt.timedelta(days=400))


def _blocks(event: icalendar.cal.Component) -> bool:
    return (
        str(event.get("transp", "")).upper() != "TRANSPARENT"
        and str(event.get("status", "")).upper() != "CANCELLED"
    )


def busy_from_ics(
    data: bytes,
    *,
    host_zone: str,
    within: tuple[dt.datetime, dt.datetime] | None = None,
    now: dt.datetime | None = None,
) -> BusyRead:
    """Busy ranges (UTC) of a calendar feed, repeating events expanded inside `within` (else around `now`);
    raises ValueError for a body that is not iCalendar."""
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"not an iCalendar file ({exc})") from None
    zone = ZoneInfo(host_zone)
    moment = now or dt.datetime.now(UTC)
    start, end = within or (moment - DEFAULT_SPAN[0], moment + DEFAULT_SPAN[1])
    ranges, events, repeating = [], 0, 0
    for calendar in calendars:
        masters = calendar.walk("VEVENT")
        events += len({str(e.get("uid", id(e))) for e in masters})
        repeating += sum(1 for e in masters if e.get("rrule") is not None)
        try:
            occurrences = recurring_ical_events.of(calendar).between(start, end)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"a repeating event in the calendar cannot be read ({exc})") from None
        for occurrence in occurrences:
            busy = _event_range(occurrence, zone) if _blocks(occurrence) else None
            if busy is not None and busy[1] > start and busy[0] < end:
                ranges.append(busy)
    return BusyRead(ranges=sorted(set(ranges)), events=events, repeating=repeating)


def merged(ranges: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Overlapping ranges joined (smaller to cache, quicker to test against)."""
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
