"""Celery tasks of CSV imports."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from leadgen.tenancy import org_task
from prospects.imports.services import import_run
from prospects.sort_indexes import sort_indexes_maintain


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    # A million-row file takes tens of seconds here; leave room for slower databases.
    time_limit=3 * 3600,
    soft_time_limit=3 * 3600 - 60,
    ignore_result=True,
)
@org_task
def import_run_task(org_id: int, import_id: int) -> None:
    """Run a queued CSV import. Idempotent: the job is claimed with a conditional UPDATE (queued → running)."""
    import_run(org_id=org_id, import_id=import_id)


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def sort_indexes_maintain_task() -> None:
    """Beat, hourly, and after an import that left its organisation big: per-org list indexes
    (prospects.sort_indexes). Here because imports are what make an organisation big at once."""
    sort_indexes_maintain()
