"""Celery tasks of the prospects app: thin wrappers that scope the organisation and call a service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from leadgen.tenancy import org_scope, org_task

from .adapters import GraphUnavailable


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
    from .importing import import_run

    import_run(org_id=org_id, import_id=import_id)


# --- inbound leads (prospects.ingestion) -----------------------------------------------------------------


class _MetaLeadFetchTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries exhausted (or a bug): record it on the delivery so it shows as failed, not pending."""
        from .ingestion import delivery_fail
        from .models import WebhookDelivery

        org_id, delivery_id = args[0], args[1]
        with org_scope(org_id):
            delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
            if delivery is not None:
                delivery_fail(delivery=delivery, error=f"gave up fetching the lead: {exc}")


@shared_task(
    base=_MetaLeadFetchTask,
    ignore_result=True,
    autoretry_for=(GraphUnavailable,),
    retry_backoff=settings.META_FETCH_RETRY_BACKOFF,
    retry_backoff_max=1800,  # below the broker's visibility timeout (3600 s)
    retry_jitter=True,
    max_retries=12,
    time_limit=60,
    soft_time_limit=45,
)
@org_task
def meta_lead_fetch(org_id: int, delivery_id: int) -> None:
    """Fetch a stored Meta lead through the Graph API and upsert the prospect; a Graph outage retries."""
    from .ingestion import meta_lead_process

    meta_lead_process(delivery_id=delivery_id)
