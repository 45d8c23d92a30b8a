"""Settings → Integrations, the prospect page's CRM block, the list's "Send to CRM", and the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection as db
from django.urls import reverse

from conftest import Tenant
from prospects.crm.models import CrmConnection, CrmSyncLog, PushTrigger, SyncStatus
from prospects.tests import fake_crm as fc
from prospects.tests.factories import ProspectFactory
from prospects.tests.fake_crm import FakeCrm

from .helpers import hubspot_connection, salesforce_connection

pytest_plugins = ["prospects.tests.fake_crm"]
URL = "/settings/integrations/"


def _save_hubspot(tenant: Tenant, **extra: str) -> Any:
    data = {
        "crm": "hubspot",
        "action": "save",
        "hubspot-token": fc.HUBSPOT_TOKEN,
        "hubspot-client_secret": "",
        "hubspot-push_trigger": PushTrigger.ON_QUALIFY,
        "hubspot-map_score": "ai_fit_score",
        "hubspot-map_phone": "",
        **extra,
    }
    return tenant.admin_client.post(URL, data)


@pytest.mark.django_db
def test_connecting_hubspot_stores_the_token_encrypted_and_never_shows_it(tenant: Tenant) -> None:
    response = _save_hubspot(tenant)
    assert response.status_code == 302
    with tenant.scope():
        connection = CrmConnection.objects.get(kind="hubspot")
    assert connection.field_mapping["score"] == "ai_fit_score" and connection.field_mapping["phone"] == ""
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM prospects_crmconnection WHERE id = %s", [connection.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("fernet:") and fc.HUBSPOT_TOKEN not in raw
    page = tenant.admin_client.get(URL).content.decode()
    assert fc.HUBSPOT_TOKEN not in page
    assert "Saved. Leave blank to keep the one saved." in page
    assert 'value="ai_fit_score"' in page
    # Saving again with the token box empty keeps the token.
    _save_hubspot(tenant, **{"hubspot-token": "", "hubspot-push_trigger": PushTrigger.MANUAL})
    with tenant.scope():
        connection.refresh_from_db()
    assert json.loads(connection.credentials)["token"] == fc.HUBSPOT_TOKEN
    assert connection.push_trigger == PushTrigger.MANUAL


@pytest.mark.django_db
def test_a_bad_property_name_is_refused_and_nothing_is_saved(tenant: Tenant) -> None:
    response = _save_hubspot(tenant, **{"hubspot-map_score": "score; drop"})
    assert response.status_code == 400
    assert "internal property name" in response.content.decode()
    with tenant.scope():
        assert not CrmConnection.objects.exists()


@pytest.mark.django_db
def test_test_connection_says_what_the_crm_said(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    salesforce_connection(tenant.org, password="wrong")
    ok = tenant.admin_client.post(URL, {"crm": "hubspot", "action": "test"}, follow=True).content.decode()
    assert "Connected: HubSpot account 4242" in ok
    bad = tenant.admin_client.post(URL, {"crm": "salesforce", "action": "test"}, follow=True).content.decode()
    assert "Failed: Salesforce: authentication failure (invalid_grant)" in bad
    assert 'class="crm-last-error"' in bad


@pytest.mark.django_db
def test_the_page_shows_both_crms_problems_and_the_hook_in_few_queries(
    tenant: Tenant, fake_crm: FakeCrm, django_assert_max_num_queries: Any
) -> None:
    connection = hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org, first_name="Failing", last_name="Person")
    for n in range(5):
        CrmSyncLog.objects.unscoped().create(
            org=tenant.org,
            connection=connection,
            crm="hubspot",
            prospect=prospect,
            direction="push",
            status=SyncStatus.FAILED,
            error=f"HubSpot: Property values were not valid {n}",
        )
    tenant.admin_client.post(URL, {"action": "hook_create"})
    with django_assert_max_num_queries(14):
        response = tenant.admin_client.get(URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Connect Salesforce" in page and "Change the connection and field mapping" in page
    assert "Property values were not valid 4" in page and "Failing Person" in page
    assert "/hooks/hubspot/" in page and "/hooks/outcomes/" in page
    assert "none yet, <strong>5 failed</strong>" in page


@pytest.mark.django_db
def test_the_hook_secret_is_shown_once(tenant: Tenant) -> None:
    created = tenant.admin_client.post(URL, {"action": "hook_create"}).content.decode()
    assert 'id="hook-secret">whsec_' in created
    assert "whsec_" not in tenant.admin_client.get(URL).content.decode()
    rotated = tenant.admin_client.post(URL, {"action": "hook_rotate"}).content.decode()
    assert 'id="hook-secret">whsec_' in rotated


@pytest.mark.django_db
def test_members_cannot_open_integrations(tenant: Tenant) -> None:
    assert tenant.member_client.get(URL).status_code == 404
    assert tenant.member_client.post(URL, {"crm": "hubspot", "action": "disconnect"}).status_code == 404


@pytest.mark.django_db
def test_disconnect_deletes_the_connection(tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    tenant.admin_client.post(URL, {"crm": "hubspot", "action": "disconnect"})
    with tenant.scope():
        assert not CrmConnection.objects.exists()


# --- the prospect page and the list -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_prospect_page_block_shows_the_sync_log_and_sends_by_hand(
    tenant: Tenant, fake_crm: FakeCrm, django_assert_max_num_queries: Any
) -> None:
    connection = hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org)
    CrmSyncLog.objects.unscoped().create(
        org=tenant.org,
        connection=connection,
        crm="hubspot",
        prospect=prospect,
        direction="push",
        status=SyncStatus.OK,
        crm_id="5150",
        detail="qualified: created",
    )
    CrmSyncLog.objects.unscoped().create(
        org=tenant.org,
        connection=connection,
        crm="hubspot",
        prospect=prospect,
        direction="pull",
        status=SyncStatus.OK,
        detail="Won: Signed after the pilot",
    )
    url = reverse("prospect_crm", args=[prospect.pk])
    with django_assert_max_num_queries(8):
        block = tenant.member_client.get(url).content.decode()
    assert "Send to HubSpot" in block and "CRM id 5150" in block and "Won: Signed after the pilot" in block
    assert "Came from the CRM" in block and "Sent to the CRM" in block
    sent = tenant.member_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Queued: it appears below" in sent and "Waiting" in sent
    again = tenant.member_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Already waiting to be sent." in again
    page = tenant.member_client.get(reverse("prospect_detail", args=[prospect.pk])).content.decode()
    assert f'hx-get="{url}"' in page


@pytest.mark.django_db
def test_prospect_block_without_a_crm_points_admins_to_settings(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    url = reverse("prospect_crm", args=[prospect.pk])
    assert "Connect HubSpot or Salesforce" in tenant.admin_client.get(url).content.decode()
    answer = tenant.member_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "No CRM is connected" in answer


@pytest.mark.django_db
def test_bulk_send_from_the_list(tenant: Tenant, other_tenant: Tenant, fake_crm: FakeCrm) -> None:
    hubspot_connection(tenant.org)
    mine = [ProspectFactory(org=tenant.org) for _ in range(3)]
    theirs = ProspectFactory(org=other_tenant.org)
    list_page = tenant.member_client.get(reverse("prospect_list")).content.decode()
    assert "Send to CRM" in list_page
    response = tenant.member_client.post(
        reverse("crm_bulk_push"), {"ids": [p.pk for p in mine] + [theirs.pk]}
    )
    assert "Queued 3 sends to HubSpot for the 4 selected prospects." in " ".join(
        response.content.decode().split()
    )
    with tenant.scope():
        assert CrmSyncLog.objects.filter(detail="sent in bulk").count() == 3
    assert tenant.member_client.post(reverse("crm_bulk_push"), {}).status_code == 400


# --- API ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_push_queues_and_names_unknown_ids(
    tenant: Tenant, other_tenant: Tenant, fake_crm: FakeCrm
) -> None:
    api = tenant.api()
    prospect = ProspectFactory(org=tenant.org)
    theirs = ProspectFactory(org=other_tenant.org)
    refused = api.post("/api/v1/crm/push", {"prospect_ids": [prospect.pk]}, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["code"] == "crm_not_connected"
    hubspot_connection(tenant.org)
    salesforce_connection(tenant.org)
    response = api.post(
        "/api/v1/crm/push",
        {"prospect_ids": [prospect.pk, theirs.pk, prospect.pk]},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json() == {"queued": 2, "crms": ["hubspot", "salesforce"], "unknown_ids": [theirs.pk]}
    assert (
        api.post("/api/v1/crm/push", {"prospect_ids": []}, content_type="application/json").status_code == 422
    )
    logs = api.get(f"/api/v1/prospects/{prospect.pk}/crm-sync").json()["items"]
    assert {(item["crm"], item["status"], item["detail"]) for item in logs} == {
        ("hubspot", "queued", "api"),
        ("salesforce", "queued", "api"),
    }
    assert api.get(f"/api/v1/prospects/{theirs.pk}/crm-sync").status_code == 404
