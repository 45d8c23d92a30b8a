"""Human engagement counters: what outreach adds, what the score part reads."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from conftest import Tenant
from prospects.engagement import EngagementDelta, engagement_score, prospects_engagement_add
from prospects.models import Activity, Prospect
from prospects.tests.factories import ProspectFactory


def test_deltas_add_up_and_keep_the_latest_time(tenant: Tenant) -> None:
    first = timezone.now() - dt.timedelta(hours=2)
    later = first + dt.timedelta(hours=1)
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org)
        prospects_engagement_add(
            deltas={
                prospect.pk: EngagementDelta(
                    opens=2, last_at=later, activities=(("email_opened", "Opened", {}),)
                )
            }
        )
        prospects_engagement_add(deltas={prospect.pk: EngagementDelta(opens=1, clicks=1, last_at=first)})
        prospect.refresh_from_db()
        assert (prospect.human_opens, prospect.human_clicks, prospect.replies) == (3, 1, 0)
        assert prospect.last_engaged_at == later
        assert list(Activity.objects.filter(prospect=prospect).values_list("kind", flat=True)) == [
            "email_opened"
        ]
        assert engagement_score(prospect)["score"] == 3 * 10 + 25


def test_another_tenants_prospect_is_not_touched(tenant: Tenant, other_tenant: Tenant) -> None:
    with other_tenant.scope():
        theirs = ProspectFactory(org=other_tenant.org)
    with tenant.scope():
        assert prospects_engagement_add(deltas={theirs.pk: EngagementDelta(replies=1)}) == 0
    assert Prospect.objects.unscoped().get(pk=theirs.pk).replies == 0


def test_score_is_capped_and_says_when_there_is_nothing(tenant: Tenant) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org)
        assert engagement_score(prospect)["note"] == "no engagement yet"
        prospect.replies = 3
        assert engagement_score(prospect)["score"] == 100
