"""Django's Redis cache backend, keeping one client per connection pool.

django.core.cache.backends.redis builds a new redis.Redis object for every cache call. Building one copies about
170 response callbacks into a case-insensitive dict: in the enrichment step, with ~10 cache calls per prospect
(rate limits, spend counters, MX cache), that was 1,700 dict writes and over 1 ms of CPU per prospect
(bench/results/pipeline.json, in-process profile). A redis.Redis object is thread-safe (each command checks a
connection out of the pool) and its pool resets itself after a fork, so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Private helpers of Django's client, which django-stubs does not declare.
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
