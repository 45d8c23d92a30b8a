"""The beat tasks on a real Celery worker: new events reach the rollups; the hourly rebuild corrects a drifted day."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics.models import CampaignDaily
from conftest import Tenant
from leadgen.tasks import task_send
from outreach.models import Event
from prospects.tests.factories import ProspectFactory

from .factories import EventFactory, sent_message


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not get there in time")


def _sent() -> int:
    return CampaignDaily.objects.unscoped().aggregate(n=Sum("sent"))["n"] or 0


@pytest.mark.django_db(transaction=True)
def test_beat_tasks_on_a_worker(tenant: Tenant, celery_worker: Any) -> None:
    now = timezone.now()
    for _ in range(3):
        message = sent_message(
            org=tenant.org, prospect=ProspectFactory(org=tenant.org), sent_at=now, campaign_id=5
        )
        EventFactory(message=message, kind="opened", at=now)
    # Past the settle time, as beat would find them a few seconds later.
    Event.objects.unscoped().update(created_at=now - dt.timedelta(minutes=1))
    task_send("analytics.tasks.rollups_advance_task")
    _wait_for(lambda: _sent() == 3)
    CampaignDaily.objects.unscoped().update(sent=40)  # drift
    task_send("analytics.tasks.rollups_rebuild_task")
    _wait_for(lambda: _sent() == 3)
    assert CampaignDaily.objects.unscoped().aggregate(n=Sum("opened"))["n"] == 3
