"""Celery tasks of routing: outbound webhooks and Slack."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from leadgen.tenancy import org_task
from prospects.routing.slack import SlackAttemptFailed, slack_prospect_notify
from prospects.routing.webhooks import WebhookAttemptFailed, webhook_message_deliver, webhook_message_give_up


class _WebhookDeliverTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent: the message shows as failed (with its last status) instead of pending forever."""
        webhook_message_give_up(org_id=args[0], message_pk=args[1], error=str(exc))


def _webhook_retry_backoff() -> int:
    return int(getattr(settings, "WEBHOOK_RETRY_BACKOFF", 30))


@shared_task(
    base=_WebhookDeliverTask,
    bind=True,
    ignore_result=True,
    max_retries=8,
    time_limit=60,
    soft_time_limit=45,
)
@org_task
def webhook_deliver_task(self: Task, org_id: int, message_pk: int) -> None:
    """Deliver one signed webhook message; a failed attempt retries with exponential backoff."""
    try:
        webhook_message_deliver(message_pk=message_pk)
    except WebhookAttemptFailed as exc:
        countdown = _webhook_retry_backoff() * (2**self.request.retries)
        raise self.retry(exc=exc, countdown=min(countdown, 6 * 3600)) from exc


@shared_task(
    bind=True,
    ignore_result=True,
    max_retries=5,
    time_limit=30,
    soft_time_limit=25,
)
@org_task
def slack_notify_task(self: Task, org_id: int, prospect_id: int) -> None:
    """Post the "prospect qualified" message to the org's Slack incoming webhook."""
    try:
        slack_prospect_notify(prospect_id=prospect_id)
    except SlackAttemptFailed as exc:
        countdown = _webhook_retry_backoff() * (2**self.request.retries)
        raise self.retry(exc=exc, countdown=min(countdown, 3600)) from exc
