"""Celery tasks of the meetings wing."""

from __future__ import annotations

from celery import Task, shared_task

from leadgen.tenancy import org_task

from .invitations import invitations_deliver


@shared_task(bind=True, ignore_result=True, max_retries=8, time_limit=60, soft_time_limit=45)
@org_task
def meeting_invitations_task(self: Task, org_id: int, meeting_id: int, kind: str) -> int:
    """Send an invitation that failed right after booking; backs off 1, 2, 4 … minutes between tries."""
    try:
        return invitations_deliver(meeting_id=meeting_id, kind=kind)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(60 * (2**self.request.retries), 6 * 3600)) from exc
