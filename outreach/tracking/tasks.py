"""Celery tasks of tracking (queue `events`, routed in settings)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    ignore_result=True,
    # A database outage leaves the batch in the buffer (trimmed only after its commit): retrying loses nothing.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
    time_limit=50,
    soft_time_limit=40,
)
def events_flush_task() -> dict[str, int]:
    """Beat every few seconds, and the request path when the buffer grows: hits become Events."""
    from .writer import events_flush

    return events_flush()
