"""Fixed-window request counters in Redis (through Django's cache)."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(key: str, *, limit: int, window: int = 60) -> int:
    """Count one request against `key`; return 0 when allowed, else the seconds until the window resets."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"rl:{key}:{bucket}"
    # add() is atomic in Redis (SET NX), so the first request of a window sets the expiry exactly once.
    if cache.add(cache_key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.add(cache_key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        return max(1, int((bucket + 1) * window - now) + 1)
    return 0
