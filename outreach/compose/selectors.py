"""Reads over drafts that pages and campaigns show."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import IntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from outreach.models import Message


def campaign_dropped_claims(*, campaign_ids: Iterable[int]) -> dict[int, int]:
    """Ungrounded sentences dropped from the AI drafts of each campaign's messages (`draft_notes.dropped_claims`)."""
    rows = (
        Message.objects.filter(campaign_id__in=list(campaign_ids), draft_notes__has_key="dropped_claims")
        .annotate(dropped=Cast(KT("draft_notes__dropped_claims"), IntegerField()))
        .values("campaign_id")
        .annotate(total=Sum("dropped"))
        .values_list("campaign_id", "total")
    )
    return {campaign_id: total or 0 for campaign_id, total in rows if campaign_id is not None}
