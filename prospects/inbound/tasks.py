"""Celery tasks of inbound leads (prospects.inbound.services)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from leadgen.tenancy import org_scope, org_task
from prospects.inbound.meta_graph import GraphUnavailable
from prospects.inbound.services import delivery_fail, meta_lead_process
from prospects.models import WebhookDelivery


class _MetaLeadFetchTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries exhausted (or a bug): record it on the delivery so it shows as failed, not pending."""
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
    meta_lead_process(delivery_id=delivery_id)
