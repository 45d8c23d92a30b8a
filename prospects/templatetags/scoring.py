"""`{% scoring_model_summary %}`: the org's outcome-trained scoring model in a few words, for settings pages."""

from __future__ import annotations

from typing import Any

from django import template

from prospects.models import Outcome, ScoringModel
from prospects.scoring import model as scoring_model

register = template.Library()


@register.inclusion_tag("prospects/_scoring_model_summary.html")
def scoring_model_summary() -> dict[str, Any]:
    return {
        "model": ScoringModel.objects.order_by("-created_at", "-pk").first(),
        "outcomes": Outcome.objects.values("prospect_id").distinct().count(),
        "min_outcomes": scoring_model.MIN_OUTCOMES,
    }
