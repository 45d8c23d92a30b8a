from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaigns.meetings.models import BookingProfile, MeetingType, WeeklyHours
from campaigns.meetings.services import profile_ensure
from conftest import Tenant
from prospects.tests.scoring.test_pipeline import receiver  # noqa: F401  (a local webhook receiver)


def open_all_week(profile: BookingProfile) -> None:
    """Every day 00:00-23:00 in the host's zone, no notice: tests do not depend on the clock."""
    profile.weekly_hours.all().delete()
    WeeklyHours.objects.bulk_create(
        [
            WeeklyHours(org_id=profile.org_id, profile=profile, weekday=d, start=dt.time(0), end=dt.time(23))
            for d in range(1, 8)
        ]
    )
    profile.min_notice_minutes = 0
    profile.horizon_days = 7
    profile.save()


@pytest.fixture
def host_profile(tenant: Tenant) -> Any:
    with tenant.scope():
        tenant.owner.first_name, tenant.owner.last_name = "Hanna", "Host"
        tenant.owner.save()
        profile = profile_ensure(org=tenant.org, user=tenant.owner)
        open_all_week(profile)
        return profile


@pytest.fixture
def intro(tenant: Tenant, host_profile: BookingProfile) -> MeetingType:
    with tenant.scope():
        meeting_type = host_profile.meeting_types.get()
        meeting_type.location = "https://meet.example.test/hanna"
        meeting_type.save()
        return meeting_type
