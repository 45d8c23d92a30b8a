"""Reads behind the scoring pages: the outcome-trained models, a prospect's enrichment, and the headline score.

The headline score is one ICP's judgement (Qualification.score), always shown with that ICP's name: the ICP the
list is filtered by, else the organisation's primary ICP. The prospect's own score (Prospect.score: the best ICP's
fit blended with intent) is what the qualification threshold compares and the score breakdown explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Subquery

from leadgen.tenancy import get_for_org
from prospects.models import ICP, Company, EnrichmentLog, Outcome, Prospect, Qualification, ScoringModel
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


# --- the headline score -----------------------------------------------------------------------------------------


def _primary_icps() -> QuerySet[ICP]:
    return ICP.objects.filter(is_active=True).order_by("-is_primary", "pk")


def primary_icp_subquery() -> Subquery:
    """The primary ICP's id as a subquery, for queries that must not pay a lookup first."""
    return Subquery(_primary_icps().values("pk")[:1])


def primary_icp() -> ICP | None:
    """The organisation's primary ICP: the one flagged, else the first active one (by creation)."""
    return _primary_icps().first()


def headline_attach(prospects: list[Prospect], *, icp_id: int | None = None) -> None:
    """Give each prospect `headline_score`, `headline_tier`, `headline_confidence` and `headline_icp_name` from its
    judgement against the ICP `icp_id` (None: the primary ICP), in one query for the whole page."""
    judgements: dict[int, tuple[int, str, float | None, str]] = {}
    if prospects:
        icp: Any = icp_id if icp_id is not None else primary_icp_subquery()
        judgements = {
            pk: (score, tier, confidence, name)
            for pk, score, tier, confidence, name in Qualification.objects.filter(
                icp_id=icp, prospect_id__in=[p.pk for p in prospects]
            ).values_list("prospect_id", "score", "tier", "confidence", "icp__name")
        }
    for prospect in prospects:
        score, tier, confidence, name = judgements.get(prospect.pk, (None, "", None, ""))
        prospect.headline_score = score  # type: ignore[attr-defined]
        prospect.headline_tier = tier  # type: ignore[attr-defined]
        prospect.headline_confidence = confidence  # type: ignore[attr-defined]
        prospect.headline_icp_name = name  # type: ignore[attr-defined]


def prospect_headline(*, prospect: Prospect) -> Qualification | None:
    """The prospect page's headline: the primary ICP's judgement, else its best active one."""
    icp = primary_icp()
    rows = Qualification.objects.filter(prospect=prospect, icp__is_active=True).select_related("icp")
    if icp is not None and (row := rows.filter(icp=icp).first()) is not None:
        return row
    return rows.order_by("-score", "icp_id").first()
