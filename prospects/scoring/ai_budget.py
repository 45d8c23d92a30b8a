"""The organisation's monthly AI budget (Settings → Pipeline): at it, the rules provider scores and the admins are
told once a month. The spend is counted by leadgen.ai.budget from every LLM call; outreach's drafts ask here too."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from accounts.models import User
from leadgen.ai.budget import ai_budget_reached, ai_month_spend, month_start
from prospects.models import PipelineSettings
from prospects.routing.notifications import admin_user_ids, notifications_create

# What a judgement made instead of the LLM's says it was made by (the prospect page shows it).
RULES_BUDGET_PROVIDER = "rules (AI budget reached)"


def ai_budget_spent(*, org_id: int, pipeline_settings: PipelineSettings | None) -> bool:
    """Whether the org's LLM calls have reached its monthly AI budget; the first time in a month, tell its admins."""
    budget = pipeline_settings.monthly_ai_budget_usd if pipeline_settings is not None else None
    if not ai_budget_reached(org_id=org_id, monthly_budget_usd=budget):
        return False
    assert pipeline_settings is not None and budget is not None
    ai_budget_alert(pipeline_settings=pipeline_settings, budget=budget)
    return True


def ai_budget_alert(*, pipeline_settings: PipelineSettings, budget: Decimal) -> bool:
    """A notification and an email to each owner and admin, at most once per calendar month."""
    month = month_start().strftime("%Y-%m")
    claimed = (
        PipelineSettings.objects.filter(pk=pipeline_settings.pk)
        .exclude(ai_budget_alerted_month=month)
        .update(ai_budget_alerted_month=month)
    )
    if not claimed:
        return False
    spent = ai_month_spend(org_id=pipeline_settings.org_id)
    title = f"AI budget reached: ${spent:.2f} of ${budget:.2f} this month"
    body = (
        "Prospects are still scored, by the built-in rules instead of the AI model, until next month. "
        "Raise the monthly AI budget in Settings → Pipeline to use the AI model again now."
    )
    url = reverse("pipeline_settings")
    admins = admin_user_ids()
    notifications_create(
        org_id=pipeline_settings.org_id,
        user_ids=admins,
        kind="ai_budget_reached",
        title=title,
        body=body,
        url=url,
    )
    recipients = [
        email for email in User.objects.filter(pk__in=admins).values_list("email", flat=True) if email
    ]
    if recipients:
        message = f"{body}\n\n{settings.SITE_URL}{url}\n"
        transaction.on_commit(lambda: send_mail(title, message, None, recipients, fail_silently=True))
    return True
