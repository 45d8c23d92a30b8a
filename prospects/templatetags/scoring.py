"""`{% scoring_model_summary %}`: the org's outcome-trained scoring model in a few words, for settings pages."""

from __future__ import annotations

from typing import Any

from django import template

from prospects.scoring import model as scoring_model
from prospects.scoring import selectors as scoring_selectors

register = template.Library()


@register.inclusion_tag("prospects/_scoring_model_summary.html")
def scoring_model_summary() -> dict[str, Any]:
    return {
        "model": scoring_selectors.scoring_model_latest(),
        "outcomes": scoring_selectors.outcome_prospect_count(),
        "min_outcomes": scoring_model.MIN_OUTCOMES,
    }


@register.inclusion_tag("prospects/_headline_score.html")
def headline_score(prospect: Any, compact: bool = False) -> dict[str, Any]:
    """ "82 · Revenue leaders": the row's headline score (set by the list and board selectors) with its ICP named.
    A row without a judgement for that ICP shows a dash; `compact` drops the tier for tight places (board cards)."""
    return {
        "score": getattr(prospect, "headline_score", None),
        "tier": getattr(prospect, "headline_tier", ""),
        "confidence": getattr(prospect, "headline_confidence", None),
        "icp_name": getattr(prospect, "headline_icp_name", ""),
        "compact": compact,
    }


@register.inclusion_tag("prospects/_headline_panel.html")
def headline_panel(prospect: Any) -> dict[str, Any]:
    """The prospect page's headline: the primary ICP's judgement (else the best one) and the prospect score."""
    return {"prospect": prospect, "q": scoring_selectors.prospect_headline(prospect=prospect)}


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{round(value * 100)}%"
