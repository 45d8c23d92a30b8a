"""A host's busy time from their own calendar's ICS feed: fetched through the SSRF guard, cached in Redis.

A fresh copy is kept for `FRESH_SECONDS`; the last good copy for a day, so a feed that is down for a while still
blocks the times it last showed (and Settings → Meetings shows the error) instead of opening the whole calendar.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.core.cache import cache
from django.utils import timezone

from leadgen import netguard

from .ics import busy_from_ics, merged
from .models import BookingProfile

log = logging.getLogger(__name__)

FRESH_SECONDS = 300
STALE_SECONDS = 86_400
MAX_FEED_BYTES = 5_000_000
FEED_TIMEOUT = 10.0

Range = tuple[dt.datetime, dt.datetime]


def _key(profile: BookingProfile, kind: str) -> str:
    digest = hashlib.sha256(profile.busy_feed_url.encode()).hexdigest()[:16]
    return f"meetings:feed:{kind}:{profile.pk}:{digest}"


def feed_url(url: str) -> str:
    """`webcal://` (what calendar apps hand out) is HTTPS by another name."""
    return "https://" + url[len("webcal://") :] if url.lower().startswith("webcal://") else url


def _encode(ranges: list[Range]) -> list[list[str]]:
    return [[start.isoformat(), end.isoformat()] for start, end in ranges]


def _decode(rows: list[list[str]]) -> list[Range]:
    return [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in rows]


def feed_fetch(profile: BookingProfile, *, now: dt.datetime) -> list[Range]:
    """Fetch and parse the feed now; raises netguard.FetchError or ValueError with a reason a person can read."""
    result = netguard.guarded_get(
        feed_url(profile.busy_feed_url),
        max_bytes=MAX_FEED_BYTES,
        timeout=FEED_TIMEOUT,
        headers={"Accept": "text/calendar, */*;q=0.5"},
    )
    if result.status != 200:
        raise netguard.FetchError(f"the calendar address answered {result.status}")
    if result.truncated:
        raise ValueError(f"the calendar is larger than {MAX_FEED_BYTES // 1_000_000} MB")
    within = (now - dt.timedelta(days=1), now + dt.timedelta(days=profile.horizon_days + 1))
    read = busy_from_ics(result.body, host_zone=profile.timezone, within=within)
    return merged(read.ranges)


def feed_busy(profile: BookingProfile, *, now: dt.datetime | None = None) -> list[Range]:
    """The feed's busy ranges (UTC), from the cache when fresh; [] when there is no feed."""
    if not profile.busy_feed_url:
        return []
    now = now or timezone.now()
    cached = cache.get(_key(profile, "fresh"))
    if cached is not None:
        return _decode(cached)
    try:
        ranges = feed_fetch(profile, now=now)
    except (netguard.FetchError, ValueError) as exc:
        reason = str(getattr(exc, "reason", "") or exc)[:300]
        log.warning("meetings: busy feed of profile %s failed: %s", profile.pk, reason)
        BookingProfile.objects.filter(pk=profile.pk).update(busy_feed_error=reason, busy_feed_checked_at=now)
        stale = cache.get(_key(profile, "stale"))
        # Ask again in a minute, not on every page view.
        cache.set(_key(profile, "fresh"), stale or [], 60)
        return _decode(stale or [])
    encoded = _encode(ranges)
    cache.set(_key(profile, "fresh"), encoded, FRESH_SECONDS)
    cache.set(_key(profile, "stale"), encoded, STALE_SECONDS)
    BookingProfile.objects.filter(pk=profile.pk).update(busy_feed_error="", busy_feed_checked_at=now)
    return ranges


def feed_forget(profile: BookingProfile) -> None:
    cache.delete_many([_key(profile, "fresh"), _key(profile, "stale")])
