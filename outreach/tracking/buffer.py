"""The Redis list the tracking handlers append hits to and the batch writer drains.

A hit is one JSON object: `id` (a fresh uuid, the Event's external_id), `k` ("o"/"c"), `org`, `msg`, `link`,
`at` (unix time), `ip` (already truncated), `ua`, `m` (method), `h` (the headers the bot rules read). RPUSH
answers the new length, so the handler that makes the buffer reach a multiple of FLUSH_AT asks for a flush; beat
asks every few seconds anyway.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

BUFFER_KEY = "tracking:hits"
LOCK_KEY = "tracking:flush-lock"
FLUSH_TASK = "outreach.tracking.tasks.events_flush_task"


def redis_client() -> Any:
    """The raw client of the default (Redis) cache: one pool per process, shared with the cache."""
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]


def key(name: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{name}"


def hit_append(hit: dict[str, Any]) -> int:
    """Append a hit; ask for a flush when the buffer reaches a multiple of TRACKING_FLUSH_AT. The new length."""
    length = int(redis_client().rpush(key(BUFFER_KEY), hit_encode(hit)))
    if flush_due(length):
        flush_ask()
    return length


def hit_encode(hit: dict[str, Any]) -> str:
    return json.dumps(hit, separators=(",", ":"))


def flush_due(length: int) -> bool:
    return length % settings.TRACKING_FLUSH_AT == 0


def flush_ask() -> None:
    """Queue a flush of the buffer now (beat asks every few seconds anyway)."""
    from leadgen.tasks import task_send

    try:
        task_send(FLUSH_TASK)
    except Exception:  # the hit is buffered; beat flushes it anyway
        logger.warning("tracking: could not ask for a flush", exc_info=True)


def buffer_length() -> int:
    return int(redis_client().llen(key(BUFFER_KEY)))
