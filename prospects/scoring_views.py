"""Admin page for the outcome-trained scoring model: its held-out AUC, training size and weights."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render

from leadgen.access import OrgRequest, admin_required

from . import qualification
from .models import Outcome, ScoringModel


@admin_required
def scoring_settings(request: OrgRequest) -> HttpResponse:
    if request.method == "POST":
        from .tasks import scoring_model_train_task

        org_id = request.org.pk
        transaction.on_commit(lambda: scoring_model_train_task.delay(org_id))
        messages.success(request, "Training queued; the model appears here when it is done.")
        return redirect("scoring_settings")
    models = list(ScoringModel.objects.order_by("-created_at", "-pk")[:10])
    active = next((model for model in models if model.is_active), None)
    context = {
        "nav": "settings",
        "section": "scoring",
        "active_model": active,
        "models": models,
        "outcomes": Outcome.objects.values("prospect_id").distinct().count(),
        "min_outcomes": qualification.MIN_OUTCOMES,
        "min_auc": qualification.MIN_AUC_TO_ACTIVATE,
        "held_out_percent": round(qualification.HELD_OUT_SHARE * 100),
        "weights": qualification.DEFAULT_WEIGHTS,
    }
    return render(request, "prospects/settings_scoring.html", context)
