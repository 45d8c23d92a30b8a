"""Reads behind the scoring pages: the outcome-trained models, the pipeline settings' month, a prospect's enrichment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from leadgen.tenancy import get_for_org
from prospects.models import Company, EnrichmentLog, Outcome, Prospect, ScoringModel
from prospects.scoring.enrichment.providers import PROVIDER_LABELS


def scoring_models_recent(*, limit: int = 10) -> list[ScoringModel]:
    """The organisation's newest scoring models, newest first."""
    return list(ScoringModel.objects.order_by("-created_at", "-pk")[:limit])


def scoring_model_latest() -> ScoringModel | None:
    return ScoringModel.objects.order_by("-created_at", "-pk").first()


def outcome_prospect_count() -> int:
    """How many prospects have at least one recorded outcome (what training needs)."""
    return Outcome.objects.values("prospect_id").distinct().count()


def enrichment_logs(*, prospect: Prospect, limit: int = 30) -> list[EnrichmentLog]:
    """The enrichment calls made for the prospect and for its company, newest first."""
    conditions = Q(prospect=prospect)
    if prospect.company_id:
        conditions |= Q(company_id=prospect.company_id, prospect__isnull=True)
    return list(EnrichmentLog.objects.filter(conditions).order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class EnrichmentBlock:
    """The prospect page's enrichment block: the company's facts and the log, each with its provider's label."""

    prospect: Prospect
    company: Company | None
    facts: list[dict[str, Any]]
    logs: list[tuple[EnrichmentLog, str]]


def prospect_enrichment_prospect(*, prospect_id: int) -> Prospect:
    """The organisation's prospect with its company (404 otherwise)."""
    return get_for_org(Prospect.objects.select_related("company"), pk=prospect_id)


def prospect_enrichment_block(*, prospect: Prospect) -> EnrichmentBlock:
    company = prospect.company
    facts = sorted(
        (
            {**fact, "source_label": PROVIDER_LABELS.get(str(fact.get("source")), fact.get("source"))}
            for fact in (company.facts if company else []) or []
        ),
        key=lambda fact: (str(fact.get("field")), str(fact.get("source"))),
    )
    logs = [
        (entry, PROVIDER_LABELS.get(entry.provider, entry.provider.replace("_", " ")))
        for entry in enrichment_logs(prospect=prospect)
    ]
    return EnrichmentBlock(prospect=prospect, company=company, facts=facts, logs=logs)
