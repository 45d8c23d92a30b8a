"""Every LLM call is charged to the organisation in scope, in the AiSpend ledger the monthly budget is summed from."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from conftest import Tenant
from leadgen.ai import AIResponseError, ai_budget_reached, ai_month_spend, complete_json
from leadgen.ai.budget import month_start
from leadgen.models import AiSpend
from leadgen.tests.fake_openai import FakeOpenAI
from leadgen.tests.test_ai_llm import GOOD_REPLY, PROMPT, Judgement, config_for

pytestmark = pytest.mark.django_db


def _call(server: FakeOpenAI) -> Any:
    return complete_json(
        prompt=PROMPT,
        variables={"icp_name": "Mid-market SaaS"},
        schema=Judgement,
        untrusted={"website": "We are hiring SDRs"},
        config=config_for(server),
    )


def test_each_call_is_charged_also_an_unusable_reply(tenant: Tenant, other_tenant: Tenant) -> None:
    with FakeOpenAI() as server, tenant.scope():
        server.chat_contents = [json.dumps(GOOD_REPLY), '{"score": 500}']
        result = _call(server)
        with pytest.raises(AIResponseError) as failed:
            _call(server)
        entries = list(AiSpend.objects.order_by("id"))
        spent = ai_month_spend(org_id=tenant.org.pk)

    assert [(e.purpose, e.model) for e in entries] == [("judge", "gpt-4o-mini"), ("judge", "gpt-4o-mini")]
    assert (entries[0].input_tokens, entries[0].output_tokens) == (result.input_tokens, result.output_tokens)
    assert entries[1].output_tokens == failed.value.output_tokens > 0
    assert entries[0].cost_usd == Decimal(str(round(result.cost_usd, 6))) > 0
    assert spent == sum(e.cost_usd for e in entries)
    assert ai_month_spend(org_id=other_tenant.org.pk) == 0


def test_no_org_in_scope_charges_nobody(tenant: Tenant) -> None:
    with FakeOpenAI() as server:
        server.chat_content = json.dumps(GOOD_REPLY)
        _call(server)
    assert not AiSpend.objects.unscoped().exists()


def test_the_month_counts_this_month_only_and_a_blank_budget_is_unlimited(tenant: Tenant) -> None:
    with tenant.scope():
        AiSpend.objects.create(
            purpose="qualify", cost_usd=Decimal("7"), created_at=month_start() - dt.timedelta(1)
        )
        AiSpend.objects.create(purpose="qualify", cost_usd=Decimal("2.5"))
    org_id = tenant.org.pk
    assert ai_month_spend(org_id=org_id) == Decimal("2.5")
    assert not ai_budget_reached(org_id=org_id, monthly_budget_usd=None)
    assert not ai_budget_reached(org_id=org_id, monthly_budget_usd=Decimal("2.51"))
    assert ai_budget_reached(org_id=org_id, monthly_budget_usd=Decimal("2.50"))
    assert ai_budget_reached(org_id=org_id, monthly_budget_usd=Decimal("0"))
