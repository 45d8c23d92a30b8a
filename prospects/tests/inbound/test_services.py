"""Lead parsing, the Graph API adapter against a local fake, Meta fetches through a real Celery worker, crypto."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from leadgen import crypto
from prospects.fields import MESSAGE_LIMIT
from prospects.inbound.meta_graph import GraphError, GraphUnavailable, graph_lead_fetch
from prospects.inbound.services import MAX_ANSWERS, FieldTooLarge, lead_from_pairs, meta_signature_valid
from prospects.models import LeadSourceSettings, Prospect, WebhookDelivery
from prospects.tests.factories import LeadSourceSettingsFactory
from prospects.tests.fake_graph import FakeGraph, fake_graph  # noqa: F401

APP_SECRET = "meta-app-secret-xyz"


# --- mapping ---------------------------------------------------------------------------------------------


def test_known_fields_map_and_the_rest_are_answers() -> None:
    lead = lead_from_pairs(
        [
            ("Email", "a@b.example"),
            ("Full Name", "Mary Jane Watson"),
            ("job-title", "CFO"),
            ("phone_number", "+44 20 7946 0000"),
            ("LinkedIn", "https://www.linkedin.com/in/mjw/"),
            ("company_website", "https://mjw.example"),
            ("city", "London"),
            ("country", "UK"),
            ("utm_medium", "cpc"),
            ("How many seats?", "25"),
            ("topics", "a"),
            ("topics", "b"),
            ("_redirect", "https://x.example"),
            ("csrfmiddlewaretoken", "t"),
            ("empty", "  "),
        ]
    )
    assert lead.fields == {
        "email": "a@b.example",
        "first_name": "Mary",
        "last_name": "Jane Watson",
        "title": "CFO",
        "phone": "+44 20 7946 0000",
        "linkedin_url": "https://www.linkedin.com/in/mjw/",
        "company_domain": "https://mjw.example",
        "location": "London, UK",
    }
    assert lead.utm == {"utm_medium": "cpc"}
    assert lead.answers == {"How many seats?": "25", "topics": "a, b"}


def test_explicit_first_and_last_name_win_over_full_name() -> None:
    lead = lead_from_pairs([("name", "Someone Else"), ("first_name", "Ada"), ("last_name", "Lovelace")])
    assert (lead.fields["first_name"], lead.fields["last_name"]) == ("Ada", "Lovelace")


def test_answers_over_their_limits_are_refused_not_cut() -> None:
    lead = lead_from_pairs([(f"q{i}", "x" * MESSAGE_LIMIT) for i in range(MAX_ANSWERS)])
    assert len(lead.answers) == MAX_ANSWERS
    assert all(len(v) == MESSAGE_LIMIT for v in lead.answers.values())
    with pytest.raises(FieldTooLarge, match="at most 50 answers"):
        lead_from_pairs([(f"q{i}", "yes") for i in range(MAX_ANSWERS + 1)])
    with pytest.raises(FieldTooLarge, match="“message” is 10,001 characters long"):
        lead_from_pairs([("email", "a@b.example"), ("message", "x" * (MESSAGE_LIMIT + 1))])
    # Checkbox answers add up under one name, and the sum is held to the same limit.
    with pytest.raises(FieldTooLarge):
        lead_from_pairs([("interests", "x" * 6000), ("interests", "y" * 6000)])


def test_meta_signature_is_hmac_of_the_raw_body() -> None:
    body = b'{"object":"page"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert meta_signature_valid(app_secret="s3cret", body=body, header=good)
    assert not meta_signature_valid(app_secret="s3cret", body=body + b"\n", header=good)
    assert not meta_signature_valid(app_secret="", body=body, header=good)
    assert not meta_signature_valid(app_secret="s3cret", body=body, header=good.replace("sha256=", "sha1="))


# --- Graph adapter ---------------------------------------------------------------------------------------


def test_graph_adapter_fetches_a_lead(fake_graph: FakeGraph) -> None:  # noqa: F811
    fake_graph.add_lead("42", email="x@y.example", extra={"company_name": "Y"})
    lead = graph_lead_fetch(leadgen_id="42", access_token=fake_graph.access_token)
    assert lead.id == "42" and lead.form_id == "5550001"
    assert {"name": "company_name", "values": ["Y"]} in lead.field_data


def test_graph_adapter_tells_outages_from_refusals(fake_graph: FakeGraph) -> None:  # noqa: F811
    fake_graph.add_lead("42", email="x@y.example")
    with pytest.raises(GraphError) as refused:
        graph_lead_fetch(leadgen_id="42", access_token="expired")
    assert type(refused.value) is GraphError and refused.value.code == 190
    with pytest.raises(GraphError) as missing:
        graph_lead_fetch(leadgen_id="43", access_token=fake_graph.access_token)
    assert type(missing.value) is GraphError and missing.value.code == 100
    fake_graph.fail_next("42", 500)
    with pytest.raises(GraphUnavailable):
        graph_lead_fetch(leadgen_id="42", access_token=fake_graph.access_token)


def test_graph_adapter_unreachable_is_an_outage(settings: Any) -> None:
    settings.META_GRAPH_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(GraphUnavailable):
        graph_lead_fetch(leadgen_id="42", access_token="t")


# --- Meta through the real worker ------------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _deliver(tenant: Tenant, leadgen_id: str) -> LeadSourceSettings:
    sources = LeadSourceSettings.objects.unscoped().filter(org=tenant.org).first()
    if sources is None:
        sources = LeadSourceSettingsFactory(
            org=tenant.org, meta_app_secret=APP_SECRET, meta_page_access_token="page-token-123"
        )
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "777",
                    "time": 1760000000,
                    "changes": [{"field": "leadgen", "value": {"leadgen_id": leadgen_id, "form_id": "1"}}],
                }
            ],
        }
    ).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = Client().post(
        reverse("meta_webhook", kwargs={"source_key": sources.public_id}),
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 200
    return sources


@pytest.mark.django_db(transaction=True)
def test_graph_outage_retries_until_the_lead_arrives(
    tenant: Tenant,
    fake_graph: FakeGraph,  # noqa: F811
    celery_worker: Any,
) -> None:
    fake_graph.add_lead("9000001", email="outage@meta.example", extra={"budget": "big"})
    fake_graph.fail_next("9000001", 500, 503)
    _deliver(tenant, "9000001")

    def processed() -> WebhookDelivery | None:
        with tenant.scope():
            return WebhookDelivery.objects.filter(dedupe_key="9000001", status="processed").first()

    delivery = _wait_for(processed)
    with tenant.scope():
        prospect = Prospect.objects.get(email_normalized="outage@meta.example")
    assert delivery.prospect_id == prospect.pk
    assert prospect.answers == {"budget": "big"} and prospect.source == "meta"
    assert len(fake_graph.requests_for("9000001")) == 3


@pytest.mark.django_db(transaction=True)
def test_a_refused_fetch_fails_the_delivery_without_retrying(
    tenant: Tenant,
    fake_graph: FakeGraph,  # noqa: F811
    celery_worker: Any,
) -> None:
    fake_graph.access_token = "a-different-token"  # ours is now invalid: Graph answers code 190
    fake_graph.add_lead("9000002", email="never@meta.example")
    _deliver(tenant, "9000002")

    def failed() -> WebhookDelivery | None:
        with tenant.scope():
            return WebhookDelivery.objects.filter(dedupe_key="9000002", status="failed").first()

    delivery = _wait_for(failed)
    assert "Invalid OAuth access token" in delivery.error
    time.sleep(1.5)
    assert len(fake_graph.requests_for("9000002")) == 1
    with tenant.scope():
        assert not Prospect.objects.exists()


# --- crypto ----------------------------------------------------------------------------------------------


def test_encrypt_round_trip_and_rotation(settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = crypto.encrypt("page-token")
    assert stored.startswith(crypto.PREFIX) and "page-token" not in stored
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # rotate: new encrypts, old still decrypts
    assert crypto.decrypt(stored) == "page-token"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(stored)
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""


def test_malformed_key_names_the_setting(settings: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        crypto.encrypt("x")
