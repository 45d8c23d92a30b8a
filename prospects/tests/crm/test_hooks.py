"""The public hooks: HubSpot webhooks (v3 signature) and the generic Standard Webhooks outcome hook."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from leadgen.signing import webhook_headers
from leadgen.tenancy import org_scope
from prospects.crm import outcomes
from prospects.crm.models import CrmConnection, CrmRecord, CrmSyncLog
from prospects.models import Outcome
from prospects.tests import fake_crm as fc
from prospects.tests.factories import ProspectFactory
from prospects.tests.fake_crm import FakeCrm

from .helpers import hubspot_connection

pytest_plugins = ["prospects.tests.fake_crm"]


def _hubspot_post(
    connection: CrmConnection,
    body: bytes,
    *,
    secret: str = fc.HUBSPOT_CLIENT_SECRET,
    timestamp_ms: int | None = None,
) -> Any:
    path = reverse("crm_hubspot_webhook", args=[connection.webhook_key])
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signature = outcomes.hubspot_signature(
        client_secret=secret, method="POST", uri=settings.SITE_URL + path, body=body, timestamp=stamp
    )
    return Client().post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_V3=signature,
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=stamp,
    )


def _unqualified_event(contact_id: int) -> bytes:
    return json.dumps(
        [
            {
                "eventId": 1,
                "subscriptionId": 2,
                "portalId": fc.HUBSPOT_PORTAL,
                "appId": 3,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": contact_id,
                "propertyName": "hs_lead_status",
                "propertyValue": "UNQUALIFIED",
                "changeSource": "CRM",
            }
        ]
    ).encode()


@pytest.mark.django_db
def test_hubspot_signature_matches_hubspots_documented_recipe() -> None:
    # base64(HMAC-SHA256(secret, method + uri + body + timestamp)), computed independently here.
    import base64
    import hashlib
    import hmac

    body = b'[{"objectId":1}]'
    expected = base64.b64encode(
        hmac.new(
            b"s3cret", b"POSThttps://x.example/hooks/hubspot/k?a=b" + body + b"1700000000000", hashlib.sha256
        ).digest()
    ).decode()
    assert (
        outcomes.hubspot_signature(
            client_secret="s3cret",
            method="POST",
            uri="https://x.example/hooks/hubspot/k?a=b",
            body=body,
            timestamp="1700000000000",
        )
        == expected
    )


@pytest.mark.django_db
def test_a_signed_hubspot_webhook_records_a_disqualified_contact(tenant: Tenant, fake_crm: FakeCrm) -> None:
    connection = hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org)
    CrmRecord.objects.unscoped().create(
        org=tenant.org, connection=connection, prospect=prospect, contact_id="77"
    )
    response = _hubspot_post(connection, _unqualified_event(77))
    assert response.status_code == 200 and response.json()["recorded"] == 1
    # HubSpot retries deliveries: the same change is recorded once.
    assert _hubspot_post(connection, _unqualified_event(77)).json()["recorded"] == 0
    with tenant.scope():
        outcome = Outcome.objects.get()
    assert (outcome.prospect_id, outcome.result, outcome.source) == (prospect.pk, "disqualified", "hubspot")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("bad secret", 401),
        ("old timestamp", 401),
        ("no signature", 401),
        ("not json", 400),
        ("not a list", 400),
    ],
)
def test_refused_hubspot_webhooks_write_nothing(
    tenant: Tenant, fake_crm: FakeCrm, how: str, status: int, caplog: Any
) -> None:
    connection = hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org)
    CrmRecord.objects.unscoped().create(
        org=tenant.org, connection=connection, prospect=prospect, contact_id="77"
    )
    body = _unqualified_event(77)
    if how == "bad secret":
        response = _hubspot_post(connection, body, secret="guess")
    elif how == "old timestamp":
        response = _hubspot_post(connection, body, timestamp_ms=int((time.time() - 600) * 1000))
    elif how == "no signature":
        response = Client().post(
            reverse("crm_hubspot_webhook", args=[connection.webhook_key]),
            data=body,
            content_type="application/json",
        )
    elif how == "not json":
        response = _hubspot_post(connection, b"{not json")
    else:
        response = _hubspot_post(connection, b'{"objectId": 77}')
    assert response.status_code == status
    assert "refused" in caplog.text
    with tenant.scope():
        assert not Outcome.objects.exists() and not CrmSyncLog.objects.exists()


@pytest.mark.django_db
def test_an_unknown_hubspot_key_is_404(db: None) -> None:
    response = Client().post(
        reverse("crm_hubspot_webhook", args=[uuid.uuid4()]), data=b"[]", content_type="application/json"
    )
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_deal_webhook_reads_the_deal_and_records_it(
    tenant: Tenant, fake_crm: FakeCrm, celery_worker: Any
) -> None:
    connection = hubspot_connection(tenant.org)
    prospect = ProspectFactory(org=tenant.org)
    CrmRecord.objects.unscoped().create(
        org=tenant.org, connection=connection, prospect=prospect, contact_id="88"
    )
    deal_id = fake_crm.hs_deal(contact_id="88", won=False, reason="Chose a cheaper tool")
    body = json.dumps(
        [
            {
                "eventId": 9,
                "subscriptionType": "deal.propertyChange",
                "objectId": int(deal_id),
                "propertyName": "dealstage",
                "propertyValue": "closedlost",
                "occurredAt": int(time.time() * 1000),
            }
        ]
    ).encode()
    assert _hubspot_post(connection, body).json()["deals"] == 1
    deadline = time.monotonic() + 30
    outcome = None
    while time.monotonic() < deadline and outcome is None:
        with org_scope(tenant.org):
            outcome = Outcome.objects.filter(prospect=prospect).first()
        time.sleep(0.1)
    assert outcome is not None
    assert (outcome.result, outcome.reason, outcome.source) == ("lost", "Chose a cheaper tool", "hubspot")
    assert fake_crm.calls("/crm/v3/objects/deals/batch/read")


# --- the generic outcome hook ---------------------------------------------------------------------------------


def _hook(tenant: Tenant) -> tuple[str, str]:
    with tenant.scope():
        hook, secret = outcomes.outcome_hook_get_or_create()
    assert secret is not None
    return reverse("crm_outcome_hook", args=[hook.key]), secret


def _signed_post(
    path: str, secret: str, payload: Any, *, message_id: str | None = None, **overrides: str
) -> Any:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    headers = webhook_headers(secret=secret, message_id=message_id or f"msg_{uuid.uuid4().hex}", body=body)
    headers.update(overrides)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "content-type"}
    return Client().post(path, data=body.encode(), content_type="application/json", **extra)


@pytest.mark.django_db
def test_the_outcome_hook_records_by_email_once_per_message(tenant: Tenant) -> None:
    path, secret = _hook(tenant)
    prospect = ProspectFactory(org=tenant.org, email="Buyer@Acme.test", email_normalized="buyer@acme.test")
    payload = {"email": "buyer@acme.test", "result": "Closed Won", "reason": "Annual plan"}
    first = _signed_post(path, secret, payload, message_id="msg_1")
    assert first.status_code == 201 and first.json()["result"] == "won"
    replay = _signed_post(path, secret, payload, message_id="msg_1")
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    with tenant.scope():
        outcome = Outcome.objects.get()
        log = CrmSyncLog.objects.get()
    assert (outcome.prospect_id, outcome.result, outcome.reason, outcome.source) == (
        prospect.pk,
        "won",
        "Annual plan",
        "crm",
    )
    assert log.crm == "webhook" and log.direction == "pull"


@pytest.mark.django_db
def test_the_outcome_hook_by_prospect_id_stays_in_its_org(tenant: Tenant, other_tenant: Tenant) -> None:
    path, secret = _hook(tenant)
    mine = ProspectFactory(org=tenant.org)
    theirs = ProspectFactory(org=other_tenant.org)
    assert _signed_post(path, secret, {"prospect_id": mine.pk, "result": "lost"}).status_code == 201
    assert _signed_post(path, secret, {"prospect_id": theirs.pk, "result": "lost"}).status_code == 404
    with other_tenant.scope():
        assert not Outcome.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad signature", 401),
        ("old timestamp", 401),
        ("no headers", 401),
        ("not json", 400),
        ("not an object", 400),
        ("bad result", 422),
        ("no one", 422),
        ("unknown email", 404),
    ],
)
def test_refused_outcome_hook_deliveries_write_nothing(
    tenant: Tenant, case: str, status: int, caplog: Any
) -> None:
    path, secret = _hook(tenant)
    ProspectFactory(org=tenant.org, email="buyer@acme.test", email_normalized="buyer@acme.test")
    good = {"email": "buyer@acme.test", "result": "won"}
    if case == "bad signature":
        response = _signed_post(path, "whsec_" + "A" * 32, good)
    elif case == "old timestamp":
        body = json.dumps(good)
        old = int(time.time()) - 3600
        headers = webhook_headers(secret=secret, message_id="msg_old", body=body, timestamp=old)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "content-type"}
        response = Client().post(path, data=body.encode(), content_type="application/json", **extra)
    elif case == "no headers":
        response = Client().post(path, data=json.dumps(good), content_type="application/json")
    elif case == "not json":
        response = _signed_post(path, secret, "{oops")
    elif case == "not an object":
        response = _signed_post(path, secret, [good])
    elif case == "bad result":
        response = _signed_post(path, secret, {**good, "result": "maybe"})
    elif case == "no one":
        response = _signed_post(path, secret, {"result": "won"})
    else:
        response = _signed_post(path, secret, {**good, "email": "stranger@else.test"})
    assert response.status_code == status
    assert response.json()["code"]
    assert "refused" in caplog.text
    with tenant.scope():
        assert not Outcome.objects.exists() and not CrmSyncLog.objects.exists()
