"""The suppression list and GDPR export/erasure through the API: what the settings and prospect pages do."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import apikey_for
from conftest import Tenant
from prospects.models import Note, Prospect, Suppression, SuppressionKind
from prospects.tests.factories import ProspectFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


def _key_of(tenant: Tenant, user: Any) -> Client:
    _, secret = apikey_for(tenant.org, created_by=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _actions(tenant: Tenant) -> list[str]:
    return list(
        AuditLog.objects.unscoped().filter(org=tenant.org).order_by("id").values_list("action", flat=True)
    )


def test_list_filters_by_kind_and_searches(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    with tenant.scope():
        SuppressionFactory(org=tenant.org, value="jan@acme.example")
        SuppressionFactory(org=tenant.org, kind=SuppressionKind.DOMAIN, value="acme.example")
        SuppressionFactory(org=tenant.org, kind=SuppressionKind.DOMAIN, value="beta.example")
    api = tenant.api()

    everything = api.get("/api/v1/suppressions").json()
    assert [e["value"] for e in everything["items"]] == ["beta.example", "acme.example", "jan@acme.example"]
    assert everything["next_cursor"] is None
    domains = api.get("/api/v1/suppressions?kind=domain").json()["items"]
    assert {e["value"] for e in domains} == {"acme.example", "beta.example"}
    acme = api.get("/api/v1/suppressions?q=ACME").json()["items"]
    assert {e["value"] for e in acme} == {"acme.example", "jan@acme.example"}
    assert api.get("/api/v1/suppressions?kind=phone").status_code == 422

    # auth (key + its org + rate limit) and the page: a fixed number of queries whatever the page holds.
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/suppressions?limit=200").status_code == 200


def test_bulk_add_gives_a_result_per_value_with_one_audit_entry(tenant: Tenant) -> None:
    with tenant.scope():
        SuppressionFactory(org=tenant.org, value="old@known.example")
    response = tenant.api().post(
        "/api/v1/suppressions",
        {
            "values": [
                "Jan@Acme.example",
                "@acme.example",
                "www.Beta.example",
                "not an address",
                "jan@acme.example",
                "old@known.example",
            ],
            "reason": "asked by the client",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["added"], body["already"], body["invalid"]) == (3, 2, 1)
    statuses = [(r["value"], r["status"], r["kind"], r["normalized"]) for r in body["results"]]
    assert statuses == [
        ("Jan@Acme.example", "added", "email", "jan@acme.example"),
        ("@acme.example", "added", "domain", "acme.example"),
        ("www.Beta.example", "added", "domain", "beta.example"),
        ("not an address", "invalid", "", ""),
        ("jan@acme.example", "already", "email", "jan@acme.example"),
        ("old@known.example", "already", "email", "old@known.example"),
    ]
    with tenant.scope():
        ids = dict(Suppression.objects.values_list("value", "pk"))
        entry = Suppression.objects.get(value="beta.example")
    assert [r["id"] for r in body["results"]] == [
        ids["jan@acme.example"],
        ids["acme.example"],
        ids["beta.example"],
        None,
        ids["jan@acme.example"],
        ids["old@known.example"],
    ]
    assert entry.reason == "asked by the client" and entry.created_by == tenant.owner
    audit = AuditLog.objects.unscoped().get(org=tenant.org, action="suppression.imported")
    assert audit.actor == tenant.owner and audit.data["added"] == 3 and audit.data["invalid"] == 1

    too_many = tenant.api().post(
        "/api/v1/suppressions", {"values": ["a.example"] * 1001}, content_type="application/json"
    )
    assert too_many.status_code == 422 and too_many.json()["code"] == "validation_error"


def test_remove_one_is_audited_and_an_erasure_hash_stays(tenant: Tenant) -> None:
    with tenant.scope():
        entry = SuppressionFactory(org=tenant.org, kind=SuppressionKind.DOMAIN, value="gone.example")
        erased = SuppressionFactory(org=tenant.org, kind=SuppressionKind.EMAIL_HASH, value="ab" * 32)
    api = tenant.api()

    assert api.delete(f"/api/v1/suppressions/{entry.pk}").status_code == 204
    refused = api.delete(f"/api/v1/suppressions/{erased.pk}")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("Entries left by an erasure cannot be removed")
    assert api.delete(f"/api/v1/suppressions/{entry.pk}").status_code == 404
    with tenant.scope():
        assert list(Suppression.objects.values_list("value", flat=True)) == ["ab" * 32]
    removed = AuditLog.objects.unscoped().get(org=tenant.org, action="suppression.removed")
    assert removed.actor == tenant.owner and removed.target_label == "domain: gone.example"


def test_export_is_the_pages_document_and_is_audited(tenant: Tenant) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org, email="Erin@Privacy.example", first_name="Erin")
        Note.objects.create(org=tenant.org, prospect=prospect, body="Met at the conference")
    api_document = tenant.api().get(f"/api/v1/prospects/{prospect.pk}/export").json()
    page_document = tenant.member_client.get(reverse("prospect_gdpr_export", args=[prospect.pk])).json()

    assert api_document["prospect"]["email"] == "Erin@Privacy.example"
    assert [n["body"] for n in api_document["notes"]] == ["Met at the conference"]
    api_document.pop("exported_at"), page_document.pop("exported_at")
    assert api_document == page_document
    assert _actions(tenant).count("prospect.exported") == 2


def test_erase_needs_a_confirmation_and_leaves_only_the_hash(tenant: Tenant) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org, email="Erin@Privacy.example")
        Note.objects.create(org=tenant.org, prospect=prospect, body="Met at the conference")
        SuppressionFactory(org=tenant.org, value="erin@privacy.example")
    api = tenant.api()
    url = f"/api/v1/prospects/{prospect.pk}/erase"

    unconfirmed = api.post(url, {}, content_type="application/json")
    assert unconfirmed.status_code == 400 and unconfirmed.json()["code"] == "confirm_required"
    assert api.get(url).status_code == 405

    response = api.post(url, {"confirm": "erase"}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    email_hash = Suppression.hash_email("erin@privacy.example")
    assert body == {
        "prospect_id": prospect.pk,
        "email_sha256": email_hash,
        "deleted": {**body["deleted"], "notes": 1, "prospects": 1},
    }
    with tenant.scope():
        assert not Prospect.objects.filter(pk=prospect.pk).exists()
        assert list(Suppression.objects.values_list("kind", "value")) == [
            (SuppressionKind.EMAIL_HASH, email_hash)
        ]
    erased = AuditLog.objects.unscoped().get(org=tenant.org, action="prospect.erased")
    assert erased.actor == tenant.owner and "erin" not in str(erased.data).lower()
    assert api.post(url, {"confirm": "erase"}, content_type="application/json").status_code == 404


def test_only_a_key_of_a_current_admin_may_erase(tenant: Tenant) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org)
    url = f"/api/v1/prospects/{prospect.pk}/erase"
    confirm = {"confirm": "erase"}
    demoted = _key_of(tenant, tenant.admin)
    membership = tenant.membership(tenant.admin)
    membership.role = Role.MEMBER
    membership.save()

    for client in (demoted, _key_of(tenant, None)):
        response = client.post(url, confirm, content_type="application/json")
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "forbidden"
        # What the key could do before still works: reading the list and exporting.
        assert client.get(f"/api/v1/prospects/{prospect.pk}/export").status_code == 200
    with tenant.scope():
        assert Prospect.objects.filter(pk=prospect.pk).exists()
    assert (
        _key_of(tenant, tenant.owner).post(url, confirm, content_type="application/json").status_code == 200
    )
