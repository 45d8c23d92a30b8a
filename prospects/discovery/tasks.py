"""Celery tasks of discovery runs."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from leadgen.tenancy import org_task
from prospects.discovery.services import discovery_run_execute, discovery_run_fail
from prospects.scoring.enrichment.providers import ProviderTransientError


class _DiscoveryRunTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent (the source stayed down): the run shows as failed with the reason."""
        discovery_run_fail(org_id=args[0], discovery_run_id=args[1], error=str(exc))


@shared_task(
    base=_DiscoveryRunTask,
    autoretry_for=(OperationalError, InterfaceError, ProviderTransientError),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=6,
    ignore_result=True,
    time_limit=1800,
    soft_time_limit=1740,
)
@org_task
def discovery_run_task(org_id: int, discovery_run_id: int) -> None:
    """Search the run's sources and push what they find through the pipeline (claimed once: queued → running)."""
    discovery_run_execute(discovery_run_id=discovery_run_id)
