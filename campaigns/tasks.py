"""Celery tasks of campaigns: thin wrappers around the scheduler."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=240,
    soft_time_limit=200,
    ignore_result=True,
)
def scheduler_tick() -> dict[str, Any]:
    """Beat, every 30 s, across every org. Safe to overlap: every row is claimed with a conditional UPDATE."""
    from .scheduler import tick

    return tick()


from .meetings.tasks import meeting_invitations_task  # noqa: E402, F401  (gathered for autodiscovery)
