"""Reads of tracking events for the pages that show them."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.models import Event, EventKind, Message

HISTORY_LIMIT = 200


@dataclass(frozen=True)
class HistoryLine:
    event: Event
    who: str  # "Person" | "Machine" | "Bot" | "" (events that are no hit: sent, bounced, ...)
    why: str


@dataclass(frozen=True)
class History:
    lines: list[HistoryLine]
    human_opens: int
    machine_opens: int
    human_clicks: int
    bot_hits: int
    truncated: bool


def _line(event: Event) -> HistoryLine:
    if event.kind not in (EventKind.OPENED, EventKind.CLICKED):
        return HistoryLine(event, "", "")
    if not event.is_bot:
        via = (event.meta or {}).get("via", "")
        return HistoryLine(event, "Person", f"through the {via}" if via else "")
    return HistoryLine(event, "Machine" if event.bot_kind == "machine" else "Bot", event.bot_reason)


def message_history(*, message: Message) -> History:
    """The message's events, oldest first (one query), with the counts a rep reads first."""
    events = list(Event.objects.filter(message=message).order_by("at", "id")[: HISTORY_LIMIT + 1])
    lines = [_line(e) for e in events[:HISTORY_LIMIT]]
    return History(
        lines=lines,
        human_opens=sum(1 for x in lines if x.event.kind == EventKind.OPENED and x.who == "Person"),
        machine_opens=sum(1 for x in lines if x.event.kind == EventKind.OPENED and x.who == "Machine"),
        human_clicks=sum(1 for x in lines if x.event.kind == EventKind.CLICKED and x.who == "Person"),
        bot_hits=sum(1 for x in lines if x.who == "Bot"),
        truncated=len(events) > HISTORY_LIMIT,
    )
