"""The public lead webhooks on the real stack: web forms, Meta Lead Ads (challenge + signed deliveries), Google."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from prospects.inbound.tasks import meta_lead_fetch
from prospects.models import LeadForm, LeadSourceSettings, Prospect, Source, WebhookDelivery
from prospects.tests.factories import LeadFormFactory, LeadSourceSettingsFactory, SuppressionFactory
from prospects.tests.fake_graph import FakeGraph, fake_graph  # noqa: F401

pytestmark = pytest.mark.django_db

APP_SECRET = "meta-app-secret-xyz"
PAGE_TOKEN = "page-token-123"
GOOGLE_KEY = "google-shared-key-abc"


@pytest.fixture
def lead_form(tenant: Tenant) -> LeadForm:
    return LeadFormFactory(org=tenant.org, name="Demo request", tags=["inbound"])


@pytest.fixture
def sources(tenant: Tenant) -> LeadSourceSettings:
    return LeadSourceSettingsFactory(
        org=tenant.org,
        meta_verify_token="verify-me",
        meta_app_secret=APP_SECRET,
        meta_page_access_token=PAGE_TOKEN,
        google_key=GOOGLE_KEY,
    )


def _prospects(tenant: Tenant) -> list[Prospect]:
    with tenant.scope():
        return list(Prospect.objects.order_by("id"))


def _deliveries(tenant: Tenant) -> list[WebhookDelivery]:
    with tenant.scope():
        return list(WebhookDelivery.objects.order_by("id"))


def _form_url(lead_form: LeadForm) -> str:
    return reverse("lead_form_submit", kwargs={"form_key": lead_form.key})


# --- web forms -------------------------------------------------------------------------------------------


def test_urlencoded_form_creates_prospect_with_answers_and_utm(tenant: Tenant, lead_form: LeadForm) -> None:
    body = urlencode(
        {
            "email": "Ada@Analytical.example",
            "name": "Ada King Lovelace",
            "company": "Analytical Engines",
            "website": "https://www.analytical.example/about",
            "title": "Head of Engineering",
            "utm_source": "newsletter",
            "utm_campaign": "spring",
            "message": "We need a demo for 40 seats this quarter",
            "interests": ["pricing", "security"],
            "website_url": "",
        },
        doseq=True,
    )
    response = Client().post(
        _form_url(lead_form),
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_COOKIE="sessionid=should-not-be-stored",
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [prospect] = _prospects(tenant)
    assert prospect.email_normalized == "ada@analytical.example"
    assert (prospect.first_name, prospect.last_name) == ("Ada", "King Lovelace")
    assert prospect.company_name == "Analytical Engines"
    assert prospect.company_domain == "analytical.example"
    assert prospect.title == "Head of Engineering"
    assert prospect.source == Source.FORM
    assert prospect.source_detail == "Form: Demo request"
    assert prospect.tags == ["inbound"]
    assert prospect.utm == {"utm_source": "newsletter", "utm_campaign": "spring"}
    assert prospect.answers == {
        "message": "We need a demo for 40 seats this quarter",
        "interests": "pricing, security",
    }
    [delivery] = _deliveries(tenant)
    assert delivery.status == "processed" and delivery.prospect_id == prospect.pk
    assert "Ada%40Analytical.example" in delivery.body
    assert "Cookie" not in delivery.headers and "should-not-be-stored" not in json.dumps(delivery.headers)


def test_json_form_post(tenant: Tenant, lead_form: LeadForm) -> None:
    response = Client().post(
        _form_url(lead_form),
        data=json.dumps({"email": "grace@navy.example", "full_name": "Grace Hopper", "budget": 5000}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    [prospect] = _prospects(tenant)
    assert (prospect.first_name, prospect.last_name) == ("Grace", "Hopper")
    assert prospect.answers == {"budget": "5000"}


def test_replayed_submission_creates_one_prospect(tenant: Tenant, lead_form: LeadForm) -> None:
    data = {"email": "twice@example.test", "message": "hello"}
    for _ in range(3):
        assert Client().post(_form_url(lead_form), data).status_code == 200
    assert len(_prospects(tenant)) == 1
    assert len(_deliveries(tenant)) == 1


def test_malformed_json_is_400_and_stores_nothing(tenant: Tenant, lead_form: LeadForm) -> None:
    for body in ("{not json", "[1, 2]"):
        response = Client().post(_form_url(lead_form), data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["code"] == "malformed"
    assert _deliveries(tenant) == [] and _prospects(tenant) == []


def test_invalid_submission_is_400_with_the_reason(tenant: Tenant, lead_form: LeadForm) -> None:
    response = Client().post(_form_url(lead_form), {"email": "not-an-email", "message": "hi"})
    assert response.status_code == 400
    assert "not a valid email" in response.json()["errors"]
    assert _prospects(tenant) == []
    assert _deliveries(tenant)[0].status == "failed"


def test_cors_preflight_and_allowed_origins(tenant: Tenant, lead_form: LeadForm) -> None:
    url = _form_url(lead_form)
    response = Client().options(url, HTTP_ORIGIN="https://anywhere.example")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]

    lead_form.allowed_origins = ["https://www.customer.example"]
    lead_form.save()
    allowed = Client().options(url, HTTP_ORIGIN="https://www.customer.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://www.customer.example"
    assert "Origin" in allowed["Vary"]
    other = Client().options(url, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other

    refused = Client().post(url, {"email": "x@evil.example"}, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    accepted = Client().post(
        url, {"email": "ok@customer.example"}, HTTP_ORIGIN="https://www.customer.example"
    )
    assert accepted.status_code == 200
    assert accepted["Access-Control-Allow-Origin"] == "https://www.customer.example"
    assert [p.email for p in _prospects(tenant)] == ["ok@customer.example"]


def test_honeypot_answers_success_but_creates_nothing(
    tenant: Tenant, lead_form: LeadForm, caplog: pytest.LogCaptureFixture
) -> None:
    response = Client().post(
        _form_url(lead_form), {"email": "bot@spam.example", "website_url": "http://spam.example"}
    )
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert _prospects(tenant) == [] and _deliveries(tenant) == []
    assert "honeypot" in caplog.text


def test_rate_limit_per_ip(tenant: Tenant, lead_form: LeadForm, settings: Any) -> None:
    settings.LEAD_FORM_RATE_LIMIT_PER_MINUTE = 3
    client = Client()
    statuses = [
        client.post(_form_url(lead_form), {"email": f"p{i}@example.test"}).status_code for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = client.post(_form_url(lead_form), {"email": "late@example.test"})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    # Another visitor (IP) is not affected.
    assert (
        Client(REMOTE_ADDR="10.9.8.7").post(_form_url(lead_form), {"email": "x@example.test"}).status_code
        == 200
    )
    assert len(_prospects(tenant)) == 4


def test_redirects_to_thank_you_page_only_on_known_origins(tenant: Tenant, lead_form: LeadForm) -> None:
    lead_form.redirect_url = "https://www.customer.example/thanks"
    lead_form.allowed_origins = ["https://landing.customer.example"]
    lead_form.save()
    url = _form_url(lead_form)
    plain = Client().post(url, {"email": "a@example.test"})
    assert plain.status_code == 303 and plain["Location"] == "https://www.customer.example/thanks"
    chosen = Client().post(
        url, {"email": "b@example.test", "_redirect": "https://landing.customer.example/ok"}
    )
    assert chosen["Location"] == "https://landing.customer.example/ok"
    evil = Client().post(url, {"email": "c@example.test", "_redirect": "https://evil.example/phish"})
    assert evil["Location"] == "https://www.customer.example/thanks"
    assert all("_redirect" not in p.answers for p in _prospects(tenant))


def test_suppressed_person_is_not_created(tenant: Tenant, lead_form: LeadForm) -> None:
    SuppressionFactory(org=tenant.org, kind="domain", value="blocked.example")
    response = Client().post(_form_url(lead_form), {"email": "someone@blocked.example"})
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert _prospects(tenant) == []
    assert _deliveries(tenant)[0].status == "suppressed"


def test_unknown_or_paused_form_is_404(tenant: Tenant, lead_form: LeadForm) -> None:
    assert Client().post("/hooks/forms/nope", {"email": "a@example.test"}).status_code == 404
    lead_form.is_active = False
    lead_form.save()
    assert Client().post(_form_url(lead_form), {"email": "a@example.test"}).status_code == 404
    assert _deliveries(tenant) == []


def test_form_key_only_reaches_its_own_org(tenant: Tenant, other_tenant: Tenant, lead_form: LeadForm) -> None:
    Client().post(_form_url(lead_form), {"email": "mine@example.test"})
    assert len(_prospects(tenant)) == 1
    assert _prospects(other_tenant) == []


# --- Meta Lead Ads ---------------------------------------------------------------------------------------


def _meta_url(sources: LeadSourceSettings) -> str:
    return reverse("meta_webhook", kwargs={"source_key": sources.public_id})


def _meta_body(*leadgen_ids: str) -> bytes:
    changes = [
        {
            "field": "leadgen",
            "value": {"leadgen_id": lid, "form_id": "5550001", "page_id": "777", "created_time": 1760000000},
        }
        for lid in leadgen_ids
    ]
    return json.dumps(
        {"object": "page", "entry": [{"id": "777", "time": 1760000000, "changes": changes}]}
    ).encode()


def _sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post_meta(sources: LeadSourceSettings, body: bytes, signature: str | None) -> Any:
    extra = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
    return Client().post(_meta_url(sources), data=body, content_type="application/json", **extra)


def test_meta_subscription_challenge(sources: LeadSourceSettings) -> None:
    url = _meta_url(sources)
    ok = Client().get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200
    assert ok.content == b"1158201444" and ok["Content-Type"].startswith("text/plain")
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "x"})
    assert wrong.status_code == 403
    mode = Client().get(
        url, {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "x"}
    )
    assert mode.status_code == 403
    unknown = "/hooks/meta/00000000-0000-0000-0000-000000000000"
    assert (
        Client().get(unknown, {"hub.mode": "subscribe", "hub.verify_token": "verify-me"}).status_code == 404
    )


def test_meta_bad_or_missing_signature_creates_nothing(
    tenant: Tenant, sources: LeadSourceSettings, django_capture_on_commit_callbacks: Any
) -> None:
    body = _meta_body("1000001")
    with django_capture_on_commit_callbacks() as callbacks:
        assert _post_meta(sources, body, None).status_code == 401
        assert _post_meta(sources, body, _sign(body, "wrong-secret")).status_code == 403
        assert _post_meta(sources, body + b" ", _sign(body)).status_code == 403
    assert callbacks == []
    assert _deliveries(tenant) == [] and _prospects(tenant) == []


def test_meta_delivery_is_stored_then_fetched(
    tenant: Tenant,
    sources: LeadSourceSettings,
    fake_graph: FakeGraph,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake_graph.add_lead(
        "1000001",
        email="lead@meta.example",
        extra={"job_title": "CTO", "what_is_your_timeline?": "This month"},
    )
    body = _meta_body("1000001")
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post_meta(sources, body, _sign(body))
    assert response.status_code == 200 and response.json() == {"ok": True, "queued": 1}
    [delivery] = _deliveries(tenant)
    assert delivery.source == Source.META and delivery.dedupe_key == "1000001"
    assert delivery.status == "received" and delivery.body == body.decode()
    assert len(callbacks) == 1

    # The real task, run in-process (the worker path is covered in test_ingestion).
    meta_lead_fetch.apply(args=[tenant.org.pk, delivery.pk])
    [prospect] = _prospects(tenant)
    assert prospect.email == "lead@meta.example" and prospect.title == "CTO"
    assert prospect.source == Source.META and prospect.source_detail == "Meta lead form 5550001"
    assert prospect.answers == {"what_is_your_timeline?": "This month"}
    assert prospect.utm["ad_id"] == "6660001"
    assert fake_graph.requests_for("1000001")[0]["query"]["access_token"] == [PAGE_TOKEN]
    # Running it again (a duplicate task) changes nothing.
    meta_lead_fetch.apply(args=[tenant.org.pk, delivery.pk])
    assert len(fake_graph.requests_for("1000001")) == 1


def test_meta_replayed_delivery_is_queued_once(
    tenant: Tenant, sources: LeadSourceSettings, django_capture_on_commit_callbacks: Any
) -> None:
    body = _meta_body("1000001", "1000002")
    with django_capture_on_commit_callbacks() as callbacks:
        assert _post_meta(sources, body, _sign(body)).json()["queued"] == 2
        assert _post_meta(sources, body, _sign(body)).json()["queued"] == 0
    assert len(callbacks) == 2
    assert sorted(d.dedupe_key for d in _deliveries(tenant)) == ["1000001", "1000002"]


def test_meta_malformed_signed_body_is_400_and_kept_as_rejected(
    tenant: Tenant, sources: LeadSourceSettings
) -> None:
    for body in (b"{oops", json.dumps({"object": "page"}).encode()):
        response = _post_meta(sources, body, _sign(body))
        assert response.status_code == 400
    assert {d.status for d in _deliveries(tenant)} == {"rejected"}
    assert _prospects(tenant) == []


# --- Google Ads lead forms -------------------------------------------------------------------------------


def _google_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "lead_id": "LeAd-123-abc",
        "api_version": "1.0",
        "form_id": 40000000000,
        "campaign_id": 50000000000,
        "google_key": GOOGLE_KEY,
        "is_test": False,
        "gcl_id": "gclid-1",
        "adgroup_id": 20000000000,
        "creative_id": 30000000000,
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Katherine Johnson", "column_id": "FULL_NAME"},
            {"column_name": "User Email", "string_value": "kj@nasa.example", "column_id": "EMAIL"},
            {"column_name": "User Phone", "string_value": "+1-650-555-0123", "column_id": "PHONE_NUMBER"},
            {"column_name": "Company", "string_value": "NASA", "column_id": "COMPANY_NAME"},
            {"column_name": "Job title", "string_value": "Mathematician", "column_id": "JOB_TITLE"},
            {"column_name": "City", "string_value": "Hampton", "column_id": "CITY"},
            {"column_name": "Country", "string_value": "US", "column_id": "COUNTRY"},
            {"column_name": "What is your budget?", "string_value": "$10k-50k", "column_id": "budget_q"},
        ],
    }
    payload.update(overrides)
    return payload


def _post_google(sources: LeadSourceSettings, payload: Any) -> Any:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    url = reverse("google_webhook", kwargs={"source_key": sources.public_id})
    return Client().post(url, data=body, content_type="application/json")


def test_google_lead_is_mapped(tenant: Tenant, sources: LeadSourceSettings) -> None:
    response = _post_google(sources, _google_payload())
    assert response.status_code == 200 and response.json()["status"] == "processed"
    [prospect] = _prospects(tenant)
    assert (prospect.first_name, prospect.last_name) == ("Katherine", "Johnson")
    assert prospect.email == "kj@nasa.example" and prospect.phone == "+1-650-555-0123"
    assert prospect.company_name == "NASA" and prospect.title == "Mathematician"
    assert prospect.location == "Hampton, US"
    assert prospect.answers == {"What is your budget?": "$10k-50k"}
    assert prospect.source == Source.GOOGLE and prospect.utm["campaign_id"] == "50000000000"
    [delivery] = _deliveries(tenant)
    assert delivery.dedupe_key == "LeAd-123-abc"
    assert GOOGLE_KEY not in delivery.body and "[redacted]" in delivery.body


def test_google_replay_and_test_leads(tenant: Tenant, sources: LeadSourceSettings) -> None:
    assert _post_google(sources, _google_payload()).status_code == 200
    assert _post_google(sources, _google_payload()).status_code == 200
    assert len(_prospects(tenant)) == 1
    test_lead = _google_payload(
        lead_id="TeSter-1",
        is_test=True,
        user_column_data=[{"column_id": "EMAIL", "string_value": "test@example.test"}],
    )
    assert _post_google(sources, test_lead).status_code == 200
    marked = next(p for p in _prospects(tenant) if p.email == "test@example.test")
    assert "test-lead" in marked.tags and "(test lead)" in marked.source_detail


def test_google_wrong_key_creates_nothing(tenant: Tenant, sources: LeadSourceSettings) -> None:
    assert _post_google(sources, _google_payload(google_key="guess")).status_code == 403
    assert (
        _post_google(sources, {k: v for k, v in _google_payload().items() if k != "google_key"}).status_code
        == 403
    )
    assert _deliveries(tenant) == [] and _prospects(tenant) == []


def test_google_malformed_is_400(tenant: Tenant, sources: LeadSourceSettings) -> None:
    assert _post_google(sources, "{nope").status_code == 400
    assert _deliveries(tenant) == []  # unauthenticated: nothing kept
    assert _post_google(sources, _google_payload(lead_id=None)).status_code == 400
    assert _post_google(sources, _google_payload(user_column_data="x")).status_code == 400
    assert {d.status for d in _deliveries(tenant)} == {"rejected"}
    assert _prospects(tenant) == []


def test_lead_source_secrets_are_encrypted_at_rest(sources: LeadSourceSettings) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT meta_app_secret, meta_page_access_token, google_key FROM prospects_leadsourcesettings "
            "WHERE id = %s",
            [sources.pk],
        )
        stored = cursor.fetchone()
    assert all(value.startswith("fernet:") for value in stored)
    assert APP_SECRET not in stored[0] and PAGE_TOKEN not in stored[1] and GOOGLE_KEY not in stored[2]
    reloaded = LeadSourceSettings.objects.unscoped().get(pk=sources.pk)
    assert reloaded.meta_app_secret == APP_SECRET and reloaded.google_key == GOOGLE_KEY
