from __future__ import annotations

from celery import shared_task

from accounts import idempotency


@shared_task(
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    time_limit=300,
    soft_time_limit=240,
)
def idempotency_purge() -> int:
    """Hourly (beat): forget API idempotency records older than 24 hours. Safe to run twice."""
    return idempotency.records_purge()
