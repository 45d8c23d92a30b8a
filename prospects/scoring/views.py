"""Admin page for the outcome-trained scoring model: its held-out AUC, training size and weights."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.ai.budget import ai_month_spend
from prospects.scoring import model as scoring_model
from prospects.scoring import qualification
from prospects.scoring import selectors as scoring_selectors
from prospects.scoring.enrichment import budget as enrichment_budget
from prospects.scoring.enrichment import waterfall as enrichment

SECRET_LABELS = {
    "hunter_api_key": "Hunter API key",
    "apollo_api_key": "Apollo API key",
    "pdl_api_key": "People Data Labs API key",
    "slack_webhook_url": "Slack incoming webhook URL",
}


@admin_required
def scoring_settings(request: OrgRequest) -> HttpResponse:
    if request.method == "POST":
        scoring_model.scoring_model_train_request(org_id=request.org.pk)
        messages.success(request, "Training queued; the model appears here when it is done.")
        return redirect("scoring_settings")
    models = scoring_selectors.scoring_models_recent()
    active = next((model for model in models if model.is_active), None)
    context = {
        "nav": "settings",
        "section": "scoring",
        "active_model": active,
        "models": models,
        "outcomes": scoring_selectors.outcome_prospect_count(),
        "min_outcomes": scoring_model.MIN_OUTCOMES,
        "min_auc": scoring_model.MIN_AUC_TO_ACTIVATE,
        "held_out_percent": round(scoring_model.HELD_OUT_SHARE * 100),
        "weights": qualification.DEFAULT_WEIGHTS,
    }
    return render(request, "prospects/settings_scoring.html", context)


class PipelineSettingsForm(forms.Form):
    hunter_api_key = forms.CharField(
        required=False, max_length=200, widget=forms.PasswordInput, label=SECRET_LABELS["hunter_api_key"]
    )
    apollo_api_key = forms.CharField(
        required=False, max_length=200, widget=forms.PasswordInput, label=SECRET_LABELS["apollo_api_key"]
    )
    pdl_api_key = forms.CharField(
        required=False, max_length=200, widget=forms.PasswordInput, label=SECRET_LABELS["pdl_api_key"]
    )
    slack_webhook_url = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput,
        label=SECRET_LABELS["slack_webhook_url"],
        help_text="https://hooks.slack.com/services/…: qualified prospects are posted to that channel.",
    )
    monthly_budget_usd = forms.DecimalField(
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=2,
        label="Monthly enrichment budget (USD)",
        help_text="Paid providers stop when this month's spend reaches it. 0 turns paid providers off.",
    )
    monthly_ai_budget_usd = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=2,
        label="Monthly AI budget (USD)",
        help_text="At this month's AI spend the built-in rules score instead of the AI model, and admins are told. "
        "Empty: no limit.",
    )
    freshness_days = forms.IntegerField(
        min_value=1,
        max_value=365,
        label="Re-enrich after (days)",
        help_text="Enrichment older than this is refreshed; newer data is reused.",
    )
    qualification_threshold = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Qualification threshold (score)",
        help_text="A prospect scoring at or above this is qualified and announced.",
    )
    clear = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Remove",
        choices=[(name, f"Remove the {label}") for name, label in SECRET_LABELS.items()],
    )

    def clean_slack_webhook_url(self) -> str:
        value = self.cleaned_data["slack_webhook_url"].strip()
        if value and not value.startswith("https://hooks.slack.com/"):
            raise ValidationError("A Slack incoming webhook URL starts with https://hooks.slack.com/")
        return value


@admin_required
def pipeline_settings(request: OrgRequest) -> HttpResponse:
    current = enrichment_budget.pipeline_settings_for(org_id=request.org.pk)
    initial = {name: getattr(current, name) for name in enrichment_budget.PIPELINE_VALUES}
    form = PipelineSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {name: data[name] for name in enrichment_budget.PIPELINE_VALUES}
        # Secrets are write-only: an empty box keeps the stored value.
        for name in enrichment_budget.PIPELINE_SECRETS:
            if data[name]:
                changes[name] = data[name]
        for name in data["clear"]:
            changes[name] = ""
        changed = enrichment_budget.pipeline_settings_update(
            pipeline_settings=current, actor=request.user, changes=changes
        )
        messages.success(request, "Enrichment and scoring settings saved." if changed else "Nothing changed.")
        return redirect("pipeline_settings")
    spent = enrichment_budget.month_spend()
    budget = current.monthly_budget_usd
    ai_spent, ai_budget = ai_month_spend(org_id=request.org.pk), current.monthly_ai_budget_usd
    context = {
        "ai_spent": ai_spent,
        "ai_budget": ai_budget,
        "ai_budget_reached": ai_budget is not None and ai_spent >= ai_budget,
        "form": form,
        "secrets": [
            (SECRET_LABELS[name], bool(getattr(current, name))) for name in enrichment_budget.PIPELINE_SECRETS
        ],
        "spent": spent,
        "budget": budget,
        "budget_reached": budget > 0 and spent >= budget,
        "section": "pipeline",
    }
    return render(request, "prospects/settings_pipeline.html", context)


@member_required
@require_http_methods(["GET", "POST"])
def prospect_enrichment(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """The prospect page's enrichment block (loaded by HTMX); POST queues a fresh enrichment."""
    prospect = scoring_selectors.prospect_enrichment_prospect(prospect_id=prospect_id)
    queued = False
    if request.method == "POST":
        enrichment.prospect_enrich_request(prospect=prospect)
        queued = True
    block = scoring_selectors.prospect_enrichment_block(prospect=prospect)
    context = {
        "prospect": prospect,
        "company": block.company,
        "facts": block.facts,
        "logs": block.logs,
        "enrich_queued": queued,
    }
    if request.method == "POST" and not getattr(request, "htmx", False):
        messages.success(request, "Enrichment queued.")
        return redirect("prospect_detail", prospect_id=prospect.pk)
    return render(request, "prospects/detail.html#enrichment", context)
