"""Pushing prospects: what the CRM receives, idempotency, retries through the real worker, the qualify trigger."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conftest import Tenant
from prospects.crm import services as crm
from prospects.crm.adapters.base import CrmRateLimited
from prospects.crm.models import CrmRecord, CrmSyncLog, PushTrigger, SyncStatus
from prospects.crm.tasks import push_countdown
from prospects.models import Activity
from prospects.routing.services import prospect_route
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory, QualificationFactory
from prospects.tests.fake_crm import FakeCrm

from .helpers import hubspot_connection, salesforce_connection

pytest_plugins = ["prospects.tests.fake_crm"]


def _wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _scored_prospect(tenant: Tenant, email: str = "jane.doe@acme.test") -> Any:
    company = CompanyFactory(
        org=tenant.org, name="Acme Robotics", domain="acme.test", website="https://acme.test"
    )
    icp = ICPFactory(org=tenant.org, name="Warehouse ops")
    prospect = ProspectFactory(
        org=tenant.org,
        email=email,
        first_name="Jane",
        last_name="Doe",
        title="VP Operations",
        company=company,
        company_domain="acme.test",
        score=84,
        tier="A",
        icp_id=icp.pk,
    )
    QualificationFactory(
        org=tenant.org,
        prospect=prospect,
        icp=icp,
        score=84,
        tier="A",
        reasoning="Runs operations at a 120-person robotics maker.",
        hooks=[
            {"text": "Raised a Series B", "evidence": {}},
            {"text": "Uses HubSpot", "evidence": {}},
            {"text": "Hiring pickers", "evidence": {}},
            {"text": "A fourth hook", "evidence": {}},
        ],
    )
    return prospect


def _push_now(tenant: Tenant, prospect_id: int, reason: str = "manual") -> CrmSyncLog:
    with tenant.scope():
        crm.crm_push_request(prospect_ids=[prospect_id], reason=reason)
        entry = CrmSyncLog.objects.filter(prospect_id=prospect_id, status=SyncStatus.QUEUED).latest("pk")
        crm.crm_push_one(log_id=entry.pk)
        entry.refresh_from_db()
    return entry


@pytest.mark.django_db
def test_hubspot_receives_mapped_fields_score_tier_reasoning_hooks_and_link(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    hubspot_connection(tenant.org)
    prospect = _scored_prospect(tenant)
    entry = _push_now(tenant, prospect.pk)
    assert entry.status == SyncStatus.OK and entry.crm_id
    contact = fake_crm.hs_contacts[entry.crm_id]
    assert contact["firstname"] == "Jane" and contact["jobtitle"] == "VP Operations"
    assert contact["leadgen_score"] == 84 and contact["leadgen_tier"] == "A"
    assert contact["leadgen_reasoning"].startswith("Runs operations")
    assert contact["leadgen_hooks"] == "• Raised a Series B\n• Uses HubSpot\n• Hiring pickers"
    assert contact["leadgen_url"].endswith(f"/prospects/{prospect.pk}/")
    company = next(iter(fake_crm.hs_companies.values()))
    assert company == {"domain": "acme.test", "name": "Acme Robotics"}


@pytest.mark.django_db
def test_a_second_push_updates_the_same_records(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    prospect = _scored_prospect(tenant)
    first = _push_now(tenant, prospect.pk)
    prospect.score = 91
    prospect.save()
    second = _push_now(tenant, prospect.pk)
    assert second.crm_id == first.crm_id
    assert (len(fake_crm.hs_contacts), len(fake_crm.hs_companies)) == (1, 1)
    assert fake_crm.hs_contacts[first.crm_id]["leadgen_score"] == 91
    assert "updated" in second.detail and "new record" in first.detail
    with tenant.scope():
        assert CrmRecord.objects.count() == 1
    # The second push passed the stored company id: a PATCH, no second search.
    assert len(fake_crm.calls("/crm/v3/objects/companies/search")) == 1


@pytest.mark.django_db
def test_the_next_person_of_a_company_reuses_its_crm_company(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    fake_crm.search_lag = 60  # HubSpot's search would not find the company just created
    first = _scored_prospect(tenant)
    colleague = ProspectFactory(
        org=tenant.org, email="sam@acme.test", company=first.company, company_domain="acme.test"
    )
    _push_now(tenant, first.pk)
    _push_now(tenant, colleague.pk)
    assert len(fake_crm.hs_companies) == 1
    company_id = next(iter(fake_crm.hs_companies))
    assert {pair[1] for pair in fake_crm.hs_associations} == {company_id}
    assert len(fake_crm.calls("/crm/v3/objects/companies/search")) == 1


@pytest.mark.django_db
def test_salesforce_push_is_idempotent_too(tenant: Tenant, fake_crm: FakeCrm) -> None:
    salesforce_connection(tenant.org)
    prospect = _scored_prospect(tenant)
    first = _push_now(tenant, prospect.pk)
    second = _push_now(tenant, prospect.pk)
    assert first.status == second.status == SyncStatus.OK
    assert first.crm_id == second.crm_id
    contacts = [k for k in fake_crm.sf_records if k[0] == "Contact"]
    assert contacts == [("Contact", "Email__c", "jane.doe@acme.test")]
    record = fake_crm.sf_records[contacts[0]]
    assert (
        record["Leadgen_Score__c"] == 84 and record["Leadgen_Tier__c"] == "A" and record["LastName"] == "Doe"
    )
    account = fake_crm.sf_records[("Account", "Domain__c", "acme.test")]
    assert account["Name"] == "Acme Robotics" and record["AccountId"] == account["Id"]


@pytest.mark.django_db
def test_salesforce_logs_in_once_for_many_pushes_and_again_after_new_credentials(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    salesforce_connection(tenant.org)
    for n in range(3):
        _push_now(tenant, ProspectFactory(org=tenant.org, email=f"p{n}@acme.test").pk)
    assert len(fake_crm.calls("/services/oauth2/token")) == 1
    salesforce_connection(tenant.org)  # saved again (new password, say): the cached session is dropped
    _push_now(tenant, ProspectFactory(org=tenant.org, email="p9@acme.test").pk)
    assert len(fake_crm.calls("/services/oauth2/token")) == 2


@pytest.mark.django_db
def test_a_rate_limited_push_waits_for_retry(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    prospect = _scored_prospect(tenant)
    fake_crm.hubspot_rate_limit("/crm/v3/objects/contacts/batch/upsert", retry_after=40)
    with tenant.scope():
        crm.crm_push_request(prospect_ids=[prospect.pk], reason="manual")
        entry = CrmSyncLog.objects.get(prospect=prospect)
        with pytest.raises(CrmRateLimited) as caught:
            crm.crm_push_one(log_id=entry.pk)
        entry.refresh_from_db()
    assert entry.status == SyncStatus.RETRYING and "ten_secondly_rolling" in entry.error
    # The next try waits at least as long as HubSpot asked, and backs off exponentially otherwise.
    assert push_countdown(retries=0, retry_after=caught.value.retry_after) == 40
    assert push_countdown(retries=3, retry_after=None) == 8  # 1 s in tests, doubled three times


@pytest.mark.django_db
def test_a_refused_push_fails_with_the_crms_words_and_is_not_retried(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    salesforce_connection(tenant.org, contact_external_id="Missing__c")
    prospect = _scored_prospect(tenant)
    entry = _push_now(tenant, prospect.pk)
    assert entry.status == SyncStatus.FAILED
    assert "Provided external ID field does not exist or is not accessible: Missing__c" in entry.error
    with tenant.scope():
        connection = prospect.crm_logs.get().connection
    assert "Missing__c" in connection.last_error


@pytest.mark.django_db
def test_a_prospect_without_email_is_not_sent(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org, email="", email_normalized=None)
    entry = _push_now(tenant, prospect.pk)
    assert entry.status == SyncStatus.FAILED and "no email" in entry.error
    assert fake_crm.requests == []


@pytest.mark.django_db
def test_a_prospect_waiting_is_not_queued_twice_and_other_orgs_ids_are_ignored(
    tenant: Tenant, other_tenant: Tenant, fake_crm: FakeCrm
) -> None:
    hubspot_connection(tenant.org)
    mine = ProspectFactory(org=tenant.org)
    theirs = ProspectFactory(org=other_tenant.org)
    with tenant.scope():
        assert crm.crm_push_request(prospect_ids=[mine.pk, theirs.pk], reason="bulk") == 1
        assert crm.crm_push_request(prospect_ids=[mine.pk], reason="bulk") == 0
        assert CrmSyncLog.objects.count() == 1


@pytest.mark.django_db
def test_no_connection_says_so(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    with tenant.scope(), pytest.raises(crm.NoCrmConnected):
        crm.crm_push_request(prospect_ids=[prospect.pk], reason="manual")


@pytest.mark.django_db
def test_lost_pushes_are_queued_again(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org)
    with tenant.scope():
        crm.crm_push_request(prospect_ids=[prospect.pk], reason="manual")
        CrmSyncLog.objects.update(status=SyncStatus.SENDING, updated_at=timezone.now() - timedelta(hours=3))
    assert crm.crm_pushes_requeue_stale() == 1
    with tenant.scope():
        entry = CrmSyncLog.objects.get()
        assert entry.status == SyncStatus.QUEUED
        crm.crm_push_one(log_id=entry.pk)
        entry.refresh_from_db()
    assert entry.status == SyncStatus.OK


@pytest.mark.django_db
def test_qualifying_pushes_to_crms_set_to_take_qualified_prospects_only(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    hubspot_connection(tenant.org, trigger=PushTrigger.ON_QUALIFY)
    salesforce_connection(tenant.org, trigger=PushTrigger.MANUAL)
    prospect = _scored_prospect(tenant)
    prospect.scored_at = timezone.now()
    prospect.save()
    with tenant.scope():
        assert prospect_route(prospect_id=prospect.pk) is True
        logs = list(CrmSyncLog.objects.values_list("crm", "detail", "status"))
        assert logs == [("hubspot", "qualified", SyncStatus.QUEUED)]
        assert "sent to the CRM" in Activity.objects.get(prospect=prospect, kind="threshold_crossed").summary
        # The same crossing routed again pushes nothing more.
        assert prospect_route(prospect_id=prospect.pk) is False
        assert CrmSyncLog.objects.count() == 1


# --- through the real worker ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_people_of_one_new_company_pushed_at_once_make_one_crm_company(
    tenant: Tenant, fake_crm: FakeCrm, celery_worker: Any
) -> None:
    hubspot_connection(tenant.org)
    fake_crm.search_lag = 60
    fake_crm.latency = 0.05  # long enough for two workers' pushes to overlap
    company = CompanyFactory(org=tenant.org, name="Acme Robotics", domain="acme.test")
    people = [
        ProspectFactory(org=tenant.org, email=f"p{n}@acme.test", company=company, company_domain="acme.test")
        for n in range(6)
    ]
    with tenant.scope():
        assert crm.crm_push_request(prospect_ids=[p.pk for p in people], reason="sent in bulk") == 6

    def all_done() -> bool:
        with tenant.scope():
            return CrmSyncLog.objects.filter(status=SyncStatus.OK).count() == 6

    _wait_for(all_done)
    assert len(fake_crm.hs_companies) == 1 and len(fake_crm.hs_contacts) == 6


@pytest.mark.django_db(transaction=True)
def test_429_then_502_then_success_through_the_worker(
    tenant: Tenant, fake_crm: FakeCrm, celery_worker: Any
) -> None:
    hubspot_connection(tenant.org)
    prospect = _scored_prospect(tenant)
    fake_crm.hubspot_rate_limit("/crm/v3/objects/contacts/batch/upsert", retry_after=1)
    fake_crm.server_error("/crm/v3/objects/contacts/batch/upsert")
    with tenant.scope():
        crm.crm_push_request(prospect_ids=[prospect.pk], reason="manual")

    def done() -> CrmSyncLog | None:
        with tenant.scope():
            return CrmSyncLog.objects.filter(prospect=prospect, status=SyncStatus.OK).first()

    entry = _wait_for(done)
    assert entry.attempts == 3
    assert len(fake_crm.calls("/crm/v3/objects/contacts/batch/upsert")) == 3
    assert len(fake_crm.hs_contacts) == 1
    with tenant.scope():
        assert CrmRecord.objects.get(prospect=prospect).contact_id == entry.crm_id
