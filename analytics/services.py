"""Writes of analytics: A/B settings and promoting a winner (the other variants stop receiving new enrollments)."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Step, Variant
from leadgen.tenancy import org_scope

from .models import CampaignTest
from .selectors import campaign_report

logger = logging.getLogger(__name__)


def campaign_test_update(*, campaign: Campaign, min_sends: int, auto_promote: bool) -> CampaignTest:
    if not 10 <= min_sends <= 1_000_000:
        raise ValidationError({"min_sends": "The minimum sample must be between 10 and 1,000,000 sends."})
    test, _ = CampaignTest.objects.update_or_create(
        campaign=campaign,
        defaults={"org": campaign.org, "min_sends": min_sends, "auto_promote": auto_promote},
    )
    return test


def variant_promote(*, campaign: Campaign, step: int, variant: str, by: str = "you") -> CampaignTest:
    """Give every new enrollment the winner's slot. Enrollment draws one slot from the first step's weights and
    every step sends its variant at that slot (campaigns.enrollment, scheduler.dispatch), so the first step's
    other variants get weight 0. People already enrolled keep the version they drew."""
    names = list(
        Variant.objects.filter(step__campaign=campaign, step__order=step - 1).values_list("name", flat=True)
    )
    if variant not in names:
        raise ValidationError(f"Step {step} has no version {variant}.")
    slot = names.index(variant)
    first = Step.objects.filter(campaign=campaign).order_by("order", "id").first()
    first_variants = list(first.variants.all()) if first else []
    if slot >= len(first_variants):
        raise ValidationError(
            f"Version {variant} of step {step} cannot be promoted: step 1 has fewer versions."
        )
    with transaction.atomic():
        for index, option in enumerate(first_variants):
            weight = max(option.weight, 1) if index == slot else 0
            if option.weight != weight:
                Variant.objects.filter(pk=option.pk).update(weight=weight)
        test, _ = CampaignTest.objects.get_or_create(campaign=campaign, defaults={"org": campaign.org})
        test.promoted_step, test.promoted_variant = step, variant
        test.promoted_at, test.promoted_by = timezone.now(), by
        test.save(update_fields=["promoted_step", "promoted_variant", "promoted_at", "promoted_by"])
    return test


def auto_promote_due(*, now: dt.datetime | None = None) -> int:
    """Beat (with the hourly rebuild): for campaigns asking for it, promote a step's winner once every variant has
    the minimum sample and the winner's reply rate beats each other at p < 0.05. The first winning step counts."""
    promoted = 0
    due = (
        CampaignTest.objects.unscoped()
        .filter(auto_promote=True, promoted_at=None)
        .values_list("org_id", "campaign_id")
    )
    for org_id, campaign_id in list(due):
        with org_scope(org_id):
            campaign = Campaign.objects.filter(pk=campaign_id).first()
            if campaign is None:
                continue
            report = campaign_report(campaign)
            winner = next((s for s in report.steps if s.winner), None)
            if winner is None or winner.winner is None:
                continue
            try:
                variant_promote(campaign=campaign, step=winner.step, variant=winner.winner, by="auto")
            except ValidationError as exc:
                logger.info("campaign %s: winner not promotable: %s", campaign_id, exc)
                continue
            promoted += 1
    return promoted
