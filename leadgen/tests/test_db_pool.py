"""Bounded database connections: concurrent API clients on a threaded server share the process's pool."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from leadgen import embedded
from leadgen.settings import _env

CLIENTS = 32


def _server_connections(dsn_params: dict[str, Any]) -> int:
    """Client connections to the test database, counted from a connection outside Django's pool."""
    with psycopg.connect(**dsn_params, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_32_concurrent_api_clients_get_no_5xx_and_stay_within_the_pool(
    live_server: Any, tenant: Any, celery_worker: Any
) -> None:
    # The created prospects queue pipeline tasks; with the worker fixture they are drained before the tables are
    # truncated (a worker still enriching them once held a lock the TRUNCATE deadlocked on, seen in CI).
    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    # The test's own connection is pooled too; the live server's threads share what is left.
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _server_connections(params))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    headers = {"Authorization": f"Bearer {tenant.api_secret}"}
    try:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as client:

            def call(i: int) -> int:
                if i % 2:
                    return client.get("/api/v1/prospects?limit=5").status_code
                body = {"email": f"p{i}@concurrent.example", "first_name": f"P{i}"}
                return client.post("/api/v1/prospects", json=body).status_code

            with ThreadPoolExecutor(max_workers=CLIENTS) as executor:
                statuses = list(executor.map(call, range(CLIENTS * 2)))
    finally:
        stop.set()
        watcher.join()
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(201) == CLIENTS
    assert peak <= pool["max_size"], f"{peak} connections for a pool of {pool['max_size']}"


def test_embedded_postgres_is_sized_for_make_run(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        (current,) = cursor.fetchone()
    assert int(current) >= embedded.max_connections_needed()
    # Bigger pools ask for more: web, beat and the worker's three processes, each with a full pool, plus spares.
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "30")
    assert embedded.max_connections_needed() == 5 * 30 + embedded.SPARE_CONNECTIONS
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "31")
    with pytest.raises(
        Exception, match="DATABASE_POOL_MIN_SIZE must be between 0 and DATABASE_POOL_MAX_SIZE"
    ):
        _env.pool_sizes()
