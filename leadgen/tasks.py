from __future__ import annotations

import functools
import time
from typing import Any

from celery import current_app, shared_task
from django.core.cache import cache
from django.db import transaction

HEARTBEAT_KEY = "worker-heartbeat"


@shared_task(ignore_result=True, time_limit=10, soft_time_limit=5)
def heartbeat() -> None:
    """Scheduled by beat every 15 s; /healthz reads the timestamp to tell whether a worker is consuming."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=3600)


def task_send(
    name: str, *args: Any, countdown: float | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """Queue a task by its registered name. Services enqueue this way so they never import a `tasks` module (which
    imports the services): no import cycle, and CELERY_TASK_ROUTES still picks the queue from the name. A test
    checks that every name passed here is a registered task."""
    current_app.send_task(name, args=list(args), kwargs=kwargs or {}, countdown=countdown)


def task_send_on_commit(
    name: str, *args: Any, countdown: float | None = None, kwargs: dict[str, Any] | None = None
) -> None:
    """`task_send` once the surrounding transaction commits, so a worker never looks for rows it cannot see yet."""
    transaction.on_commit(functools.partial(task_send, name, *args, countdown=countdown, kwargs=kwargs))
