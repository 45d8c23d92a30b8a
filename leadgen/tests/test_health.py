from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from leadgen.tasks import HEARTBEAT_KEY, heartbeat


@pytest.mark.django_db
def test_healthz_is_503_without_a_worker(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "redis": "ok",
        "worker": "error: no heartbeat",
    }


@pytest.mark.django_db
def test_healthz_reports_stale_heartbeat(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    cache.set(HEARTBEAT_KEY, time.time() - settings.WORKER_HEARTBEAT_MAX_AGE - 5)
    assert client.get("/healthz").json()["worker"].startswith("error: last seen")


def test_healthz_is_200_when_a_real_worker_consumes(client: Client, celery_worker) -> None:  # type: ignore[no-untyped-def]
    cache.delete(HEARTBEAT_KEY)
    heartbeat.delay()
    deadline = time.monotonic() + 20
    while cache.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"
