"""GDPR export and erasure, the suppression list, and the lead-form / lead-source settings pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog
from conftest import Tenant
from prospects import services
from prospects.compliance import services as compliance_services
from prospects.models import (
    Activity,
    LeadForm,
    LeadSourceSettings,
    Note,
    Outcome,
    Prospect,
    Suppression,
    WebhookDelivery,
)
from prospects.tests.factories import CompanyFactory, LeadFormFactory, WebhookDeliveryFactory

pytestmark = pytest.mark.django_db

EMAIL = "Erin.Erased@Privacy.example"


def _person(tenant: Tenant) -> Prospect:
    """A prospect with everything a person accumulates: company, note, outcome, form delivery, stray payload."""
    lead_form = LeadFormFactory(org=tenant.org, name="Contact us")
    response = Client().post(
        reverse("lead_form_submit", kwargs={"form_key": lead_form.key}),
        data=f"email={EMAIL.replace('@', '%40')}&name=Erin+Erased&message=call+me+on+0123",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    with tenant.scope():
        prospect = Prospect.objects.get(email_normalized=EMAIL.lower())
        company = CompanyFactory(org=tenant.org, name="Privacy Ltd", domain="privacy-ltd.example")
        prospect.company = company
        prospect.save()
        services.note_create(prospect=prospect, body="Met at the conference", author=tenant.member)
        services.outcome_record(prospect=prospect, result="lost", reason="no budget", actor=tenant.member)
        # A delivery that never became this prospect but mentions them (e.g. a failed Google lead).
        WebhookDeliveryFactory(
            org=tenant.org,
            source="google",
            dedupe_key="stray-1",
            body=json.dumps({"user_column_data": [{"column_id": "EMAIL", "string_value": EMAIL}]}),
            status="failed",
        )
        WebhookDeliveryFactory(org=tenant.org, source="google", dedupe_key="other")
        compliance_services.suppression_add(org=tenant.org, value=EMAIL, actor=tenant.admin, reason="asked")
    return prospect


def test_export_contains_everything_held(tenant: Tenant) -> None:
    prospect = _person(tenant)
    response = tenant.member_client.get(reverse("prospect_gdpr_export", args=[prospect.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert document["prospect"]["email"] == EMAIL
    assert document["prospect"]["answers"] == {"message": "call me on 0123"}
    assert document["company"]["name"] == "Privacy Ltd"
    assert [n["body"] for n in document["notes"]] == ["Met at the conference"]
    assert {a["kind"] for a in document["activities"]} >= {"created", "note", "outcome"}
    assert [o["reason"] for o in document["outcomes"]] == ["no budget"]
    assert {d["dedupe_key"] for d in document["webhook_deliveries"]} == {
        d.dedupe_key for d in _deliveries_mentioning(tenant)
    }
    assert len(document["webhook_deliveries"]) == 2
    assert document["suppressions"][0]["value"] == EMAIL.lower()
    with tenant.scope():
        assert AuditLog.objects.filter(action="prospect.exported").count() == 1


def _deliveries_mentioning(tenant: Tenant) -> list[WebhookDelivery]:
    with tenant.scope():
        return [d for d in WebhookDelivery.objects.all() if d.dedupe_key != "other"]


def test_export_of_another_orgs_prospect_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    prospect = _person(tenant)
    assert (
        other_tenant.owner_client.get(reverse("prospect_gdpr_export", args=[prospect.pk])).status_code == 404
    )


def test_erase_needs_an_admin_and_a_confirmation(tenant: Tenant) -> None:
    prospect = _person(tenant)
    url = reverse("prospect_gdpr_erase", args=[prospect.pk])
    assert tenant.member_client.post(url, {"confirm": "erase"}).status_code == 404
    page = tenant.admin_client.get(url)
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    assert tenant.admin_client.post(url, {}).status_code == 400
    with tenant.scope():
        assert Prospect.objects.filter(pk=prospect.pk).exists()


def test_erasure_leaves_only_a_hash_and_the_person_stays_out(tenant: Tenant) -> None:
    prospect = _person(tenant)
    pk = prospect.pk
    response = tenant.admin_client.post(reverse("prospect_gdpr_erase", args=[pk]), {"confirm": "erase"})
    assert response.status_code == 302
    email = EMAIL.lower()
    with tenant.scope():
        assert not Prospect.objects.filter(pk=pk).exists()
        assert not Note.objects.filter(prospect_id=pk).exists()
        assert not Activity.objects.filter(prospect_id=pk).exists()
        assert not Outcome.objects.filter(prospect_id=pk).exists()
        assert list(WebhookDelivery.objects.values_list("dedupe_key", flat=True)) == ["other"]
        entries = list(Suppression.objects.values_list("kind", "value"))
        assert entries == [("email_hash", Suppression.hash_email(email))]
        erased = AuditLog.objects.get(action="prospect.erased")
        assert erased.data["email_sha256"] == Suppression.hash_email(email)
    # Nothing in the organisation's tables still holds the address in clear.
    with connection.cursor() as cursor:
        for table in (
            "prospects_prospect",
            "prospects_webhookdelivery",
            "prospects_suppression",
            "prospects_activity",
            "accounts_auditlog",
        ):
            cursor.execute(f"SELECT count(*) FROM {table} t WHERE lower(t::text) LIKE %s", [f"%{email}%"])
            assert cursor.fetchone()[0] == 0, table
            cursor.execute(f"SELECT count(*) FROM {table} t WHERE t::text LIKE %s", ["%Erin%"])
            assert cursor.fetchone()[0] == 0, table

    # A re-import and a new webhook of the same person are skipped.
    with tenant.scope():
        result = services.prospect_upsert(org=tenant.org, data={"email": EMAIL}, source="csv")
    assert result.status == "suppressed"
    lead_form = LeadForm.objects.unscoped().filter(org=tenant.org).first()
    assert lead_form is not None
    again = Client().post(
        reverse("lead_form_submit", kwargs={"form_key": lead_form.key}),
        {"email": EMAIL, "message": "hi again"},
    )
    assert again.status_code == 200
    with tenant.scope():
        assert not Prospect.objects.filter(email_normalized=email).exists()
        # The hash entry cannot be removed from the settings page either.
        entry = Suppression.objects.get()
    tenant.admin_client.post(reverse("suppression_remove", args=[entry.pk]))
    with tenant.scope():
        assert Suppression.objects.filter(pk=entry.pk).exists()


# --- suppression list page -------------------------------------------------------------------------------


def test_suppression_add_import_remove_with_audit(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    client = tenant.admin_client
    url = reverse("suppression_list")
    assert client.post(url, {"value": "Someone@Example.test", "reason": "asked"}).status_code == 302
    assert client.post(url, {"value": "@competitor.example"}).status_code == 302
    bad = client.post(url, {"value": "not a thing"})
    assert bad.status_code == 200 and "neither an email address nor a domain" in bad.content.decode()

    upload = SimpleUploadedFile("list.csv", b"email\r\nfile1@example.test\r\nfile2@example.test,Extra\r\n")
    response = client.post(
        reverse("suppression_import"),
        {"values": "pasted@example.test\nsomeone@example.test\nbogus\nblocked.example", "file": upload},
        follow=True,
    )
    body = response.content.decode()
    assert "Added 4; 1 were already on the list." in body and "bogus" in body, re.findall(r"flash[^<]*", body)
    with tenant.scope():
        values = set(Suppression.objects.values_list("value", flat=True))
        assert values == {
            "someone@example.test",
            "competitor.example",
            "pasted@example.test",
            "blocked.example",
            "file1@example.test",
            "file2@example.test",
        }
        assert AuditLog.objects.filter(action="suppression.imported").get().data["added"] == 4

    with django_assert_max_num_queries(12):
        page = client.get(url, {"q": "example.test"})
    assert "pasted@example.test" in page.content.decode()
    partial = client.get(url, {"q": "competitor"}, HTTP_HX_REQUEST="true").content.decode()
    assert "competitor.example" in partial and "<html" not in partial and "pasted@" not in partial

    with tenant.scope():
        entry = Suppression.objects.get(value="competitor.example")
    assert client.post(reverse("suppression_remove", args=[entry.pk])).status_code == 302
    with tenant.scope():
        assert not Suppression.objects.filter(pk=entry.pk).exists()
        assert AuditLog.objects.filter(action="suppression.removed").exists()


def test_member_cannot_reach_settings_pages(tenant: Tenant) -> None:
    for name in ("suppression_list", "lead_form_list", "lead_sources"):
        assert tenant.member_client.get(reverse(name)).status_code == 404
        assert tenant.admin_client.get(reverse(name)).status_code == 200


# --- lead forms and lead sources settings ----------------------------------------------------------------


def test_lead_form_settings_show_an_escaped_snippet(tenant: Tenant) -> None:
    client = tenant.admin_client
    response = client.post(
        reverse("lead_form_list"),
        {
            "name": "<script>alert(1)</script> Demo",
            "redirect_url": "https://www.customer.example/thanks?a=1&b=2",
            "allowed_origins": "https://www.customer.example/\nhttps://LANDING.customer.example",
            "tags": "inbound, demo",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    with tenant.scope():
        lead_form = LeadForm.objects.get()
        assert lead_form.allowed_origins == [
            "https://www.customer.example",
            "https://landing.customer.example",
        ]
        assert lead_form.tags == ["inbound", "demo"]
        assert AuditLog.objects.filter(action="lead_form.created").exists()
    page = client.get(response["Location"]).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Demo" in page
    # The snippet is shown as text: its tags are escaped once, the URL's & escaped inside the attribute.
    assert f"&lt;form action=&quot;http://127.0.0.1:8000/hooks/forms/{lead_form.key}&quot;" in page
    assert "thanks?a=1&amp;amp;b=2" in page
    assert 'name="website_url"' not in page.split("<textarea")[0]

    bad = client.post(
        reverse("lead_form_edit", args=[lead_form.pk]), {"name": "x", "allowed_origins": "ftp://x"}
    )
    assert bad.status_code == 200 and "is not a website origin" in bad.content.decode()
    assert client.post(reverse("lead_form_delete", args=[lead_form.pk])).status_code == 302
    with tenant.scope():
        assert not LeadForm.objects.exists()


def test_lead_source_secrets_are_write_only(tenant: Tenant) -> None:
    client = tenant.admin_client
    page = client.get(reverse("lead_sources")).content.decode()
    with tenant.scope():
        sources = LeadSourceSettings.objects.get()
    assert f"/hooks/meta/{sources.public_id}" in page and f"/hooks/google/{sources.public_id}" in page
    assert sources.meta_verify_token and sources.meta_verify_token in page

    response = client.post(
        reverse("lead_sources"),
        {
            "meta_verify_token": "my-verify",
            "meta_app_secret": "super-secret-app",
            "meta_page_access_token": "EAAB-page-token",
        },
    )
    assert response.status_code == 302
    page = client.get(reverse("lead_sources")).content.decode()
    assert "super-secret-app" not in page and "EAAB-page-token" not in page
    assert "App secret: <strong>set</strong>" in page
    # An empty box keeps the stored secret; generating a Google key shows it once.
    shown = client.post(
        reverse("lead_sources"), {"meta_verify_token": "my-verify", "generate_google_key": "on"}
    )
    assert shown.status_code == 200
    sources.refresh_from_db()
    assert sources.meta_app_secret == "super-secret-app" and sources.google_key
    assert sources.google_key in shown.content.decode()
    assert sources.google_key not in client.get(reverse("lead_sources")).content.decode()
    client.post(reverse("lead_sources"), {"meta_verify_token": "my-verify", "clear": ["meta_app_secret"]})
    sources.refresh_from_db()
    assert sources.meta_app_secret == "" and sources.meta_page_access_token == "EAAB-page-token"
    with tenant.scope():
        entries = list(AuditLog.objects.filter(action="lead_sources.updated").values_list("data", flat=True))
    assert entries and all("super-secret-app" not in json.dumps(e) for e in entries)
