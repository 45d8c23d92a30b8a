"""The batch writer: tracking hits from the Redis buffer become Events, exactly once.

One drainer at a time (a Redis lock renewed every batch). Each batch is read with LRANGE, classified, written in
one `INSERT … ON CONFLICT DO NOTHING RETURNING` (the hit's uuid is the Event's external_id), the prospects' human
engagement added for the rows that were new, all in one transaction; only after that commit is the batch trimmed
off the buffer. A crash between the commit and the trim re-reads the batch next time: the insert skips every hit
already stored and the engagement is added only for new rows, so nothing doubles and nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from leadgen.tenancy import org_scope
from outreach.models import Event, EventKind, Message

from . import bots
from .buffer import BUFFER_KEY, LOCK_KEY, key, redis_client

logger = logging.getLogger(__name__)

LOCK_SECONDS = 60
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"

INSERT_SQL = """
INSERT INTO outreach_event (org_id, message_id, prospect_id, campaign_id, kind, at, link_index, url, ip_prefix,
    user_agent, is_bot, bot_kind, bot_reason, source, external_id, meta, created_at)
SELECT o, m, p, c, k, a, l, u, ip, ua, b, bk, br, s, x, mt::jsonb, now()
FROM unnest(%(org)s::bigint[], %(msg)s::bigint[], %(prospect)s::bigint[], %(campaign)s::bigint[], %(kind)s::text[],
    %(at)s::timestamptz[], %(link)s::smallint[], %(url)s::text[], %(ip)s::text[], %(ua)s::text[], %(bot)s::bool[],
    %(bot_kind)s::text[], %(reason)s::text[], %(source)s::text[], %(external)s::text[], %(meta)s::text[])
    AS t(o, m, p, c, k, a, l, u, ip, ua, b, bk, br, s, x, mt)
ON CONFLICT DO NOTHING
RETURNING external_id
"""
COLUMNS: tuple[str, ...] = ("org", "msg", "prospect", "campaign", "kind", "at", "link", "url", "ip", "ua")
COLUMNS += ("bot", "bot_kind", "reason", "source", "external", "meta")


@dataclass(frozen=True)
class Row:
    """One Event to insert, with what the engagement update needs."""

    values: dict[str, Any]
    subject: str

    @property
    def human(self) -> bool:
        return not self.values["bot"] and self.values["prospect"] is not None


def _when(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _messages(hits: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    ids = {int(h["msg"]) for h in hits}
    fields = ("pk", "org_id", "prospect_id", "campaign_id", "sent_at", "subject", "meta")
    return {row["pk"]: row for row in Message.objects.unscoped().filter(pk__in=ids).values(*fields)}


def _clicks_near(hits: Sequence[dict[str, Any]]) -> dict[int, list[tuple[int, float]]]:
    """(link index, time) of the clicks of each clicked message around this batch: stored ones and the batch's."""
    clicks = [h for h in hits if h["k"] == "c"]
    near: dict[int, list[tuple[int, float]]] = defaultdict(list)
    if not clicks:
        return near
    since = _when(min(h["at"] for h in clicks) - bots.ALL_LINKS_SECONDS)
    stored = Event.objects.unscoped().filter(
        message_id__in={h["msg"] for h in clicks}, kind=EventKind.CLICKED, at__gte=since
    )
    for message_id, link, at in stored.values_list("message_id", "link_index", "at"):
        near[message_id].append((link if link is not None else -1, at.timestamp()))
    for h in clicks:
        near[int(h["msg"])].append((int(h["link"]), float(h["at"])))
    return near


def _row(hit: dict[str, Any], message: dict[str, Any], near: list[tuple[int, float]]) -> Row:
    links = (message["meta"] or {}).get("links") or []
    at = float(hit["at"])
    together = {link for link, when in near if abs(when - at) <= bots.ALL_LINKS_SECONDS}
    sent_at = message["sent_at"].timestamp() if message["sent_at"] else None
    found = bots.Hit(
        hit["k"], at, hit.get("ip") or "", hit.get("ua") or "", hit.get("m") or "GET", hit.get("h") or {}
    )
    verdict = bots.classify(found, bots.MessageFacts(sent_at, len(links), len(together)))
    link = hit.get("link")
    url = links[link] if hit["k"] == "c" and isinstance(link, int) and 0 <= link < len(links) else ""
    meta = {"method": found.method, "headers": found.headers, "rule": verdict.rule}
    if verdict.via:
        meta["via"] = verdict.via
    values = {
        "org": message["org_id"],
        "msg": message["pk"],
        "prospect": message["prospect_id"],
        "campaign": message["campaign_id"],
        "kind": EventKind.OPENED if hit["k"] == "o" else EventKind.CLICKED,
        "at": _when(at),
        "link": link if hit["k"] == "c" else None,
        "url": url,
        "ip": found.ip_prefix[:64],
        "ua": found.user_agent[:512],
        "bot": verdict.is_bot,
        "bot_kind": verdict.bot_kind,
        "reason": verdict.reason[:300],
        "source": "pixel" if hit["k"] == "o" else "redirect",
        "external": str(hit["id"])[:200],
        "meta": json.dumps(meta),
    }
    return Row(values=values, subject=message["subject"])


def hits_rows(hits: Sequence[dict[str, Any]]) -> list[Row]:
    """Classified rows for these hits; a hit whose message is gone or of another org than its token is dropped."""
    messages = _messages(hits)
    near = _clicks_near(hits)
    rows = []
    for hit in hits:
        message = messages.get(int(hit["msg"]))
        if message is None or message["org_id"] != int(hit["org"]):
            continue
        rows.append(_row(hit, message, near.get(message["pk"], [])))
    return rows


def _engagement(rows: Iterable[Row]) -> None:
    """Human opens and clicks → the prospects' counters and timelines, per organisation."""
    from prospects.engagement import EngagementDelta, prospects_engagement_add

    by_org: dict[int, dict[int, EngagementDelta]] = defaultdict(dict)
    for row in rows:
        v = row.values
        delta = by_org[v["org"]].setdefault(v["prospect"], EngagementDelta())
        opened = v["kind"] == EventKind.OPENED
        delta.opens += int(opened)
        delta.clicks += int(not opened)
        delta.last_at = max(filter(None, [delta.last_at, v["at"]]))
        summary = f"Opened “{row.subject}”" if opened else f"Clicked {v['url']} in “{row.subject}”"
        line = ("email_opened" if opened else "email_clicked", summary, {"message_id": v["msg"]})
        delta.activities = (*delta.activities, line)
    for org_id, deltas in by_org.items():
        with org_scope(org_id):
            prospects_engagement_add(deltas=deltas)


def hits_write(hits: Sequence[dict[str, Any]]) -> int:
    """Store these hits as Events (each external id once) and add human engagement for the new ones; the count
    of new Events."""
    rows = hits_rows(hits)
    if not rows:
        return 0
    params = {name: [row.values[name] for row in rows] for name in COLUMNS}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(INSERT_SQL, params)
            new = {external for (external,) in cursor.fetchall()}
        _engagement(r for r in rows if r.human and r.values["external"] in new)
    return len(new)


def _parse(raw: Sequence[bytes | str], totals: dict[str, int]) -> list[dict[str, Any]]:
    hits = []
    for item in raw:
        try:
            hit = json.loads(item)
            int(hit["msg"]), int(hit["org"]), float(hit["at"])
            if hit["k"] not in ("o", "c") or not hit.get("id"):
                raise ValueError("kind or id")
            hits.append(hit)
        except (ValueError, KeyError, TypeError):
            totals["malformed"] += 1
            logger.warning("tracking: dropped a malformed hit: %r", item[:300])
    return hits


def events_flush(*, batch: int | None = None, max_seconds: float = 20.0) -> dict[str, int]:
    """Drain the buffer in batches while it has hits (up to `max_seconds`). One drainer at a time."""
    client = redis_client()
    token = uuid.uuid4().hex
    totals = {"read": 0, "stored": 0, "malformed": 0, "busy": 0}
    if not client.set(key(LOCK_KEY), token, nx=True, ex=LOCK_SECONDS):
        totals["busy"] = 1
        return totals
    size = batch or settings.TRACKING_BATCH_SIZE
    deadline = time.monotonic() + max_seconds
    try:
        while time.monotonic() < deadline:
            raw = client.lrange(key(BUFFER_KEY), 0, size - 1)
            if not raw:
                break
            totals["stored"] += hits_write(_parse(raw, totals))
            # Trimmed only after the commit: a crash before this line re-reads the batch, which then adds nothing.
            client.ltrim(key(BUFFER_KEY), len(raw), -1)
            totals["read"] += len(raw)
            if not client.eval(_RENEW, 1, key(LOCK_KEY), token, LOCK_SECONDS):
                logger.warning("tracking: flush lock lost; stopping this drain")
                break
    finally:
        client.eval(_RELEASE, 1, key(LOCK_KEY), token)
    return totals


def events_sent_record(*, messages: Sequence[Message]) -> int:
    """A `sent` Event per message the engine just marked sent (once each: external id `sent:<id>`)."""
    current = dt.datetime.now(tz=dt.UTC)
    events = [
        Event(
            org_id=m.org_id,
            message_id=m.pk,
            prospect_id=m.prospect_id,
            campaign_id=m.campaign_id,
            kind=EventKind.SENT,
            at=m.sent_at or current,
            source="smtp" if m.mailbox.kind == "smtp" else "esp",
            external_id=f"sent:{m.pk}",
        )
        for m in messages
    ]
    return len(Event.objects.unscoped().bulk_create(events, ignore_conflicts=True)) if events else 0
