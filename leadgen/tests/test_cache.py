"""The Redis cache backend reuses its client, and stays correct across threads."""

from __future__ import annotations

import threading

from django.core.cache import cache


def test_the_cache_reuses_one_client_and_works_from_many_threads() -> None:
    backend = cache._cache  # type: ignore[attr-defined]
    assert backend.get_client(write=True) is backend.get_client(write=True)

    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                cache.set(f"t{n}:{i}", i, 30)
                assert cache.get(f"t{n}:{i}") == i
                if not cache.add("shared-counter", 1, 30):
                    cache.incr("shared-counter")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 8 threads x 50 increments, the first of which created the key.
    assert cache.get("shared-counter") == 400
