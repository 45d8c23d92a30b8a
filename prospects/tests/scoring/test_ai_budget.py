"""The monthly AI budget: LLM judgements are charged to it; at it the rules score, the admins hear once a month."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import AuditLog
from conftest import Tenant
from leadgen.ai.budget import ai_month_spend
from leadgen.models import AiSpend
from leadgen.tests.fake_openai import API_KEY, FakeOpenAI
from prospects.models import ICP, Notification, PipelineSettings, Prospect, Qualification
from prospects.scoring.qualification import prospect_qualify
from prospects.tests.factories import CompanyFactory, ICPFactory, PipelineSettingsFactory, ProspectFactory

pytestmark = pytest.mark.django_db

REPLY = {
    "score": 82,
    "tier": "A",
    "reasoning": "Software company in Germany with a VP of Engineering.",
    "red_flags": [],
    "hooks": [],
}
# Dear enough that one judgement of the fake server (a few hundred tokens) costs more than a cent.
PRICES = {"gpt-4o-mini": (100.0, 100.0)}


@pytest.fixture
def fake_openai(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.AI_MAX_RETRIES = 0
        settings.AI_MODEL_PRICES = PRICES
        fake.chat_content = json.dumps(REPLY)
        yield fake


@pytest.fixture
def icp(tenant: Tenant) -> ICP:
    return ICPFactory(
        org=tenant.org,
        name="Platform teams",
        description="VPs of engineering at German software companies.",
        criteria={"industries": ["Computer Software"], "seniorities": ["vp"]},
    )


def _prospect(tenant: Tenant, email: str) -> Prospect:
    company = CompanyFactory(org=tenant.org, name="Cloudstack", industry="Computer Software")
    return ProspectFactory(
        org=tenant.org, email=email, title="VP of Engineering", seniority="vp", company=company
    )


def _budget(tenant: Tenant, amount: str | None) -> PipelineSettings:
    value = Decimal(amount) if amount is not None else None
    return PipelineSettingsFactory(org=tenant.org, openai_api_key=API_KEY, monthly_ai_budget_usd=value)


def test_judgements_are_charged_until_the_budget_then_the_rules_score(
    tenant: Tenant, icp: ICP, fake_openai: FakeOpenAI, django_capture_on_commit_callbacks: Any
) -> None:
    _budget(tenant, "0.01")
    first, second, third = (_prospect(tenant, f"p{i}@cloudstack.test") for i in range(3))
    with tenant.scope(), django_capture_on_commit_callbacks(execute=True):
        prospect_qualify(prospect_id=first.pk)
        judged = Qualification.objects.get(prospect=first)
        spent = ai_month_spend(org_id=tenant.org.pk)
        prospect_qualify(prospect_id=second.pk)
        prospect_qualify(prospect_id=third.pk)
        fallback = Qualification.objects.get(prospect=second)
        second.refresh_from_db()
        # The first prospect's AI judgement, inputs unchanged, is kept at the budget (not redone by the rules).
        assert prospect_qualify(prospect_id=first.pk).cached == 1
        ledger = list(AiSpend.objects.values_list("purpose", "input_tokens", "output_tokens", "cost_usd"))

    assert len(fake_openai.requests_to("/v1/chat/completions")) == 1
    assert judged.provider == "openai:gpt-4o-mini" and judged.cost_usd > Decimal("0.01")
    assert ledger == [("qualify", judged.input_tokens, judged.output_tokens, judged.cost_usd)]
    assert spent == judged.cost_usd
    # Still scored, by the rules, and the page says why.
    assert fallback.provider == "rules (AI budget reached)" and fallback.input_tokens == 0
    assert second.score is not None and second.score_breakdown["provider"] == "rules (AI budget reached)"
    html = tenant.member_client.get(reverse("prospect_detail", args=[second.pk])).content.decode()
    assert "Scored by the built-in rules (AI budget reached)" in html

    # The owner and the admin are told once (two prospects fell back), in the app and by email.
    with tenant.scope():
        told = list(Notification.objects.filter(kind="ai_budget_reached").values_list("user_id", "title"))
    assert sorted(user for user, _ in told) == sorted([tenant.owner.pk, tenant.admin.pk])
    assert told[0][1] == f"AI budget reached: ${judged.cost_usd:.2f} of $0.01 this month"
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([tenant.owner.email, tenant.admin.email])
    assert "Settings → Pipeline" in mail.outbox[0].body and "/settings/pipeline/" in mail.outbox[0].body


def test_a_blank_budget_is_unlimited(tenant: Tenant, icp: ICP, fake_openai: FakeOpenAI) -> None:
    _budget(tenant, None)
    people = [_prospect(tenant, f"p{i}@cloudstack.test") for i in range(2)]
    with tenant.scope():
        for prospect in people:
            prospect_qualify(prospect_id=prospect.pk)
        providers = set(Qualification.objects.values_list("provider", flat=True))
        assert not Notification.objects.exists()
    assert providers == {"openai:gpt-4o-mini"}
    assert len(fake_openai.requests_to("/v1/chat/completions")) == 2


def test_raising_the_budget_brings_the_model_back(tenant: Tenant, icp: ICP, fake_openai: FakeOpenAI) -> None:
    row = _budget(tenant, "0")
    prospect = _prospect(tenant, "p@cloudstack.test")
    with tenant.scope():
        prospect_qualify(prospect_id=prospect.pk)
        assert Qualification.objects.get().provider == "rules (AI budget reached)"
        PipelineSettings.objects.filter(pk=row.pk).update(monthly_ai_budget_usd=Decimal("50"))
        assert prospect_qualify(prospect_id=prospect.pk).judged == 1
        assert Qualification.objects.get().provider == "openai:gpt-4o-mini"


def test_settings_page_sets_the_budget_and_shows_the_spend(tenant: Tenant) -> None:
    row = PipelineSettingsFactory(org=tenant.org)
    with tenant.scope():
        AiSpend.objects.create(purpose="qualify", cost_usd=Decimal("3.25"))
    url = reverse("pipeline_settings")
    page = tenant.admin_client.get(url).content.decode()
    assert "Monthly AI budget (USD)" in page and "$3.25</strong> of\n    <strong>no limit</strong>" in page

    form = {"monthly_budget_usd": "0", "freshness_days": "30", "qualification_threshold": "70"}
    tenant.admin_client.post(url, {**form, "monthly_ai_budget_usd": "3.00"})
    row.refresh_from_db()
    assert row.monthly_ai_budget_usd == Decimal("3.00")
    page = tenant.admin_client.get(url).content.decode()
    assert "AI budget reached: prospects are scored by the built-in rules until next month." in page
    audit = AuditLog.objects.unscoped().filter(org=tenant.org, action="pipeline_settings.updated").last()
    assert audit is not None and audit.data == {"fields": ["monthly_ai_budget_usd"]}

    tenant.admin_client.post(url, {**form, "monthly_ai_budget_usd": ""})
    row.refresh_from_db()
    assert row.monthly_ai_budget_usd is None
