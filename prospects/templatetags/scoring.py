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
