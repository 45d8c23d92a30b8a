"""Entry rules: active auto-enrolling campaigns pull prospects scored since their last look that match their ICP,
tiers, minimum score, stages and tags. Each pull enrolls through `enrollment_create_many` (so skips, exclusivity
and the daily cap apply) and moves the campaign's high-water mark."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from leadgen.tenancy import org_scope
from prospects.models import Prospect

from ..enrollment import enrollment_create_many
from ..models import Campaign, CampaignStatus


def entry_candidates(*, campaign: Campaign) -> QuerySet[Prospect]:
    """Prospects of the campaign's org (in scope) matching its entry rules, scored after the high-water mark."""
    prospects = Prospect.objects.filter(scored_at__isnull=False).exclude(enrollments__campaign=campaign)
    if campaign.entry_checked_at:
        prospects = prospects.filter(scored_at__gt=campaign.entry_checked_at)
    if campaign.icp_id:
        prospects = prospects.filter(icp_id=campaign.icp_id)
    if campaign.entry_tiers:
        prospects = prospects.filter(tier__in=campaign.entry_tiers)
    if campaign.entry_min_score is not None:
        prospects = prospects.filter(score__gte=campaign.entry_min_score)
    if campaign.entry_stages:
        prospects = prospects.filter(stage__in=campaign.entry_stages)
    if campaign.entry_tags:
        prospects = prospects.filter(tags__overlap=campaign.entry_tags)
    return prospects.order_by("scored_at", "id")


def campaign_pull_entries(*, campaign: Campaign, now: dt.datetime, batch: int = 500) -> int:
    rows = list(entry_candidates(campaign=campaign).values_list("pk", "scored_at")[:batch])
    if rows:
        enrollment_create_many(
            campaign=campaign, prospect_ids=[pk for pk, _ in rows], source="rules", now=now
        )
    mark = rows[-1][1] if len(rows) == batch else now
    Campaign.objects.filter(pk=campaign.pk).update(entry_checked_at=mark)
    return len(rows)


def entry_run(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    pulled = 0
    campaigns = (
        Campaign.objects.unscoped().filter(status=CampaignStatus.ACTIVE, auto_enroll=True).order_by("id")
    )
    for campaign in campaigns:
        with org_scope(campaign.org_id):
            pulled += campaign_pull_entries(campaign=campaign, now=now)
    return pulled
