"""Reads of campaigns shared by pages and the API: lists with their counts, enrollments, the review queue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from outreach.models import Message, MessageStatus

from .models import Campaign, CampaignStatus, Enrollment, Step

PAGE_SIZE = 50


def _message_count(status: Iterable[str] | None = None) -> Coalesce:
    messages = Message.objects.filter(campaign_id=OuterRef("pk"))
    if status is not None:
        messages = messages.filter(status__in=list(status))
    return Coalesce(
        Subquery(messages.order_by().values("campaign_id").annotate(n=Count("id")).values("n")[:1]), 0
    )


def campaigns_with_stats(*, include_archived: bool = False) -> QuerySet[Campaign]:
    """Campaigns with enrolled / sent / replied / bounced counts in one query (replied and bounced are 0 until
    the engagement issue records those events)."""
    campaigns = Campaign.objects.all()
    if not include_archived:
        campaigns = campaigns.exclude(status=CampaignStatus.ARCHIVED)
    return campaigns.annotate(
        enrolled=Count("enrollments", distinct=True),
        active_count=Count("enrollments", filter=Q(enrollments__state="active"), distinct=True),
        sent=_message_count([MessageStatus.SENT]),
        to_review=_message_count([MessageStatus.DRAFT]),
    ).order_by("-created_at", "-id")


def campaign_steps(*, campaign: Campaign) -> list[Step]:
    return list(campaign.steps.prefetch_related("variants").order_by("order", "id"))


def _with_variant_names(rows: list[Enrollment]) -> list[Enrollment]:
    for enrollment in rows:
        step = enrollment.current_step
        variants = list(step.variants.all()) if step else []
        enrollment.variant_name = (  # type: ignore[attr-defined]
            variants[enrollment.variant_slot % len(variants)].name if variants else None
        )
    return rows


def enrollment_page(
    *, campaign: Campaign, state: str = "", cursor: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Enrollment], int | None]:
    """Newest first, keyset on id; each row carries `variant_name` (current step's variant) without N+1."""
    rows = (
        Enrollment.objects.filter(campaign=campaign)
        .select_related("prospect", "current_step", "mailbox", "current_message")
        .prefetch_related(Prefetch("current_step__variants"))
        .order_by("-id")
    )
    if state:
        rows = rows.filter(state=state)
    if cursor:
        rows = rows.filter(id__lt=cursor)
    page = list(rows[: limit + 1])
    next_cursor = page[limit - 1].pk if len(page) > limit else None
    return _with_variant_names(page[:limit]), next_cursor


def enrollment_counts(*, campaign: Campaign) -> dict[str, int]:
    rows = Enrollment.objects.filter(campaign=campaign).values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def review_queue(*, campaign: Campaign | None = None, limit: int = 100) -> list[Message]:
    """Drafts waiting for a person, oldest due first (campaign messages only)."""
    drafts = Message.objects.filter(status=MessageStatus.DRAFT, campaign_id__isnull=False)
    if campaign is not None:
        drafts = drafts.filter(campaign_id=campaign.pk)
    return list(drafts.select_related("prospect", "mailbox").order_by("scheduled_at", "id")[:limit])


def campaign_names(ids: Iterable[int]) -> dict[int, str]:
    return dict(Campaign.objects.filter(pk__in=set(ids)).values_list("pk", "name"))


def campaign_messages(*, campaign: Campaign, limit: int = 200) -> list[Message]:
    return list(
        Message.objects.filter(campaign_id=campaign.pk)
        .select_related("prospect")
        .order_by("-created_at", "-id")[:limit]
    )


def prospect_campaigns(*, prospect: Any) -> list[Enrollment]:
    """Every enrollment of one prospect, newest first, each with `step_total` (its campaign's step count)."""
    step_total = Subquery(
        Step.objects.filter(campaign_id=OuterRef("campaign_id"))
        .order_by()
        .values("campaign_id")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )
    return list(
        Enrollment.objects.filter(prospect=prospect)
        .select_related("campaign", "current_step", "current_message")
        .annotate(step_total=Coalesce(step_total, 0))
        .order_by("-enrolled_at", "-id")
    )
