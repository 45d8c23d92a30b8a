"""Celery tasks of analytics: thin wrappers around the rollup writers (queue `events`)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .rollups import rollups_advance, rollups_rebuild_recent


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=120,
    soft_time_limit=100,
    ignore_result=True,
)
def rollups_advance_task() -> dict[str, int]:
    """Beat, every few seconds, across every org. Overlapping runs queue on the advisory lock; the cursor moves
    in the same transaction as the counts, so a run that dies counts nothing twice."""
    return rollups_advance()


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=600,
    soft_time_limit=540,
    ignore_result=True,
)
def rollups_rebuild_task() -> int:
    """Beat, hourly: today and yesterday counted again from events, correcting any drift; then auto-promotion."""
    from .services import auto_promote_due

    rebuilt = rollups_rebuild_recent()
    auto_promote_due()
    return rebuilt
