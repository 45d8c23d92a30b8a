"""Celery tasks of CRM sync: one push per sync log (retried with backoff), the periodic pull, HubSpot deal reads."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from leadgen.tenancy import org_scope, org_task
from prospects.crm.adapters.base import CrmError, CrmTransientError
from prospects.crm.models import CrmConnection
from prospects.crm.outcomes import crm_pull, hubspot_deals_apply
from prospects.crm.services import crm_push_give_up, crm_push_one, crm_pushes_requeue_stale

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600


def push_countdown(*, retries: int, retry_after: float | None) -> int:
    """Exponential backoff from CRM_PUSH_RETRY_BACKOFF, never sooner than the CRM's Retry-After, capped at an hour."""
    backoff = int(getattr(settings, "CRM_PUSH_RETRY_BACKOFF", 30)) * (2**retries)
    return int(min(MAX_BACKOFF, max(backoff, retry_after or 0)))


class _PushTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent (or an unexpected error): the log row shows failed instead of waiting forever."""
        with org_scope(args[0]):
            crm_push_give_up(log_id=args[1], error=str(exc))


@shared_task(
    base=_PushTask, bind=True, ignore_result=True, max_retries=8, time_limit=120, soft_time_limit=100
)
@org_task
def crm_push_task(self: Task, org_id: int, log_id: int) -> None:
    """Push one prospect to one CRM; a rate limit, 5xx or network error retries with exponential backoff."""
    try:
        crm_push_one(log_id=log_id)
    except CrmTransientError as exc:
        raise self.retry(
            exc=exc, countdown=push_countdown(retries=self.request.retries, retry_after=exc.retry_after)
        ) from exc


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=570)
@org_task
def crm_pull_task(org_id: int, connection_id: int) -> None:
    """Poll one connection; a failure is recorded on the connection and the next poll tries again."""
    # A failure is recorded on the connection (shown on Settings → Integrations) by crm_pull.
    with contextlib.suppress(CrmError):
        crm_pull(connection_id=connection_id)


@shared_task(bind=True, ignore_result=True, max_retries=6, time_limit=300, soft_time_limit=270)
@org_task
def crm_hubspot_deals_task(self: Task, org_id: int, connection_id: int, deal_ids: list[str]) -> None:
    """Read the deals a HubSpot webhook named and record the closed ones."""
    try:
        hubspot_deals_apply(connection_id=connection_id, deal_ids=deal_ids)
    except CrmTransientError as exc:
        raise self.retry(
            exc=exc, countdown=push_countdown(retries=self.request.retries, retry_after=exc.retry_after)
        ) from exc


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def crm_pull_due() -> int:
    """Beat: queue a pull of every active connection, and queue again pushes whose task was lost."""
    crm_pushes_requeue_stale()
    connections = list(CrmConnection.objects.unscoped().filter(is_active=True).values_list("org_id", "pk"))
    for org_id, pk in connections:
        crm_pull_task.delay(org_id, pk)
    return len(connections)
