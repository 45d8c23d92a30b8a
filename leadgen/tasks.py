from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "worker-heartbeat"


@shared_task(ignore_result=True, time_limit=10, soft_time_limit=5)
def heartbeat() -> None:
    """Scheduled by beat every 15 s; /healthz reads the timestamp to tell whether a worker is consuming."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=3600)
