"""The operator's Django admin: every prospects model opens (changelist and change page) for a staff superuser,
across organisations and without an org in scope, and offers no way to write around the services."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from conftest import Tenant
from prospects.models import (
    ICP,
    Activity,
    DiscoveryRun,
    EnrichmentLog,
    Import,
    ImportRowError,
    LeadForm,
    LeadSourceSettings,
    Note,
    Notification,
    Outcome,
    PipelineSettings,
    Qualification,
    ScoringModel,
    Source,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from prospects.tests.factories import CompanyFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def _one_of_each(tenant: Tenant) -> dict[type, object]:
    org = tenant.org
    with tenant.scope():
        company = CompanyFactory(org=org, name="Initech", domain="initech.test")
        prospect = ProspectFactory(org=org, company=company, email="ada@initech.test")
        icp = ICP.objects.create(org=org, name="Ops leaders")
        job = Import.objects.create(org=org, original_name="leads.csv", file_path="imports/leads.csv")
        endpoint = WebhookEndpoint.objects.create(
            org=org,
            url="https://hooks.example.test/in",
            secret="whsec_top_secret",
            events=["prospect.qualified"],
        )
        rows: list[object] = [
            company,
            prospect,
            icp,
            job,
            endpoint,
            Note.objects.create(org=org, prospect=prospect, body="Called"),
            Activity.objects.create(org=org, prospect=prospect, kind="note", summary="Called"),
            Outcome.objects.create(org=org, prospect=prospect, result="won"),
            Suppression.objects.create(org=org, kind="email", value="gone@initech.test"),
            ImportRowError.objects.create(org=org, job=job, line=2, reason="invalid email"),
            Qualification.objects.create(
                org=org, prospect=prospect, icp=icp, score=80, tier="A", provider="rules", input_hash="x"
            ),
            EnrichmentLog.objects.create(org=org, prospect=prospect, provider="hunter", operation="email"),
            PipelineSettings.objects.create(org=org, apollo_api_key="apollo_top_secret"),
            ScoringModel.objects.create(org=org, auc=0.8, trained_on=40),
            DiscoveryRun.objects.create(org=org, icp=icp, sources=["apollo"]),
            LeadForm.objects.create(org=org, name="Demo form"),
            LeadSourceSettings.objects.create(org=org, google_key="google_top_secret"),
            WebhookDelivery.objects.create(org=org, source=Source.META, dedupe_key=f"lead-{org.pk}"),
            WebhookMessage.objects.create(
                org=org,
                endpoint=endpoint,
                event_type="prospect.qualified",
                message_id=f"msg_{org.pk}",
                payload={},
            ),
            Notification.objects.create(org=org, kind="qualified", title="Ada is qualified"),
        ]
    return {type(row): row for row in rows}


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_superuser(email="operator@leadgen.test", password="x" * 16)
    client = Client()
    client.force_login(user)
    return client


def _registered() -> list[type]:
    return [model for model in admin.site._registry if model._meta.app_label == "prospects"]


def test_every_operator_model_is_registered() -> None:
    names = {model.__name__ for model in _registered()}
    assert {
        "Prospect",
        "Company",
        "ICP",
        "Import",
        "Qualification",
        "EnrichmentLog",
        "Suppression",
        "WebhookEndpoint",
        "WebhookMessage",
        "DiscoveryRun",
        "LeadForm",
    } <= names


def test_an_operator_opens_every_changelist_and_change_page_read_only(
    tenant: Tenant, other_tenant: Tenant, operator: Client
) -> None:
    rows = _one_of_each(tenant)
    _one_of_each(other_tenant)
    for model in _registered():
        opts = model._meta
        changelist = operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.model_name
        page = changelist.content.decode()
        assert tenant.org.name in page and other_tenant.org.name in page, opts.model_name  # every org, named
        assert reverse(f"admin:{opts.app_label}_{opts.model_name}_add") not in page, opts.model_name
        assert model in rows, f"the test makes no {opts.model_name}"
        obj = rows[model]
        change = operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))  # type: ignore[attr-defined]
        assert change.status_code == 200, opts.model_name
        body = change.content.decode()
        assert 'name="_save"' not in body and "top_secret" not in body, opts.model_name
        assert (
            operator.post(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk]),  # type: ignore[attr-defined]
                {"post": "yes"},
            ).status_code
            == 403
        ), opts.model_name
        assert operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403


def test_members_of_an_organisation_cannot_open_the_admin(tenant: Tenant) -> None:
    response = tenant.owner_client.get(reverse("admin:prospects_prospect_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]
