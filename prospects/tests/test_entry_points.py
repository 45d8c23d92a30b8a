"""Every way a prospect comes in (the API, the prospect forms, a CSV import, web forms, Meta and Google lead ads)
accepts the company fields, the time zone and do-not-contact, holds the same limits (prospects.fields) with a clear
4xx or row error and nothing half-written, and stores a NUL byte or a lone surrogate as clean text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from prospects import merge
from prospects.inbound.tasks import meta_lead_fetch
from prospects.models import Company, LeadForm, LeadSourceSettings, Note, Prospect, WebhookDelivery
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.tests.fake_graph import FakeGraph, fake_graph  # noqa: F401
from prospects.tests.imports.support import errors, media_root, run, upload  # noqa: F401
from prospects.tests.inbound.test_views import (  # noqa: F401
    _google_payload,
    _meta_body,
    _post_google,
    _post_meta,
    _sign,
    lead_form,
    sources,
)

pytestmark = pytest.mark.django_db

JSON = "application/json"
NUL, SURROGATE = "\x00", "\ud800"
HTMX = {"HTTP_HX_REQUEST": "true"}


def post(client: Client, url: str, data: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type=JSON)


def patch(client: Client, url: str, data: Any) -> Any:
    return client.patch(url, data=json.dumps(data), content_type=JSON)


def company(tenant: Tenant, domain: str) -> Company:
    with tenant.scope():
        return Company.objects.get(domain=domain)


def people(tenant: Tenant) -> list[Prospect]:
    with tenant.scope():
        return list(Prospect.objects.order_by("id"))


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


# --- company fields, time zone, do-not-contact ----------------------------------------------------------------


def test_api_create_update_and_bulk_write_company_fields_without_overwriting_enrichment(
    tenant: Tenant,
) -> None:
    api = tenant.api()
    created = post(
        api,
        "/api/v1/prospects",
        {
            "email": "ada@engines.test",
            "first_name": "Ada",
            "timezone": "europe/london",
            "do_not_contact": True,
            "company_industry": "Computer Software",
            "company_employee_count": "51-200",
            "company_technologies": ["Python", "Postgres"],
            "company_funding_stage": "Series A",
            "company_funding_total": "$12M",
            "company_linkedin_url": "linkedin.com/company/engines",
            "company_location": "London, United Kingdom",
            "company_keywords": "compilers, engines",
        },
    )
    assert created.status_code == 201, created.content
    assert (created.json()["timezone"], created.json()["do_not_contact"]) == ("Europe/London", True)
    engines = company(tenant, "engines.test")
    assert (engines.industry, engines.employee_count, engines.technologies) == (
        "Computer Software",
        126,
        ["Python", "Postgres"],
    )
    assert (engines.funding_stage, engines.funding_total, engines.keywords) == (
        "Series A",
        12_000_000,
        ["compilers", "engines"],
    )
    assert engines.linkedin_url == "linkedin.com/company/engines"
    assert engines.location == "London, United Kingdom"

    # Bulk without "update existing" only fills what the company lacks, and cannot clear do-not-contact.
    Company.objects.unscoped().filter(pk=engines.pk).update(industry="Software (enrichment)", location="")
    bulk = post(
        api,
        "/api/v1/prospects/bulk",
        {
            "update_existing": False,
            "items": [
                {
                    "email": "ada@engines.test",
                    "do_not_contact": False,
                    "company_industry": "Banking",
                    "company_location": "Cambridge",
                },
                {"email": "bo@engines.test", "company_employee_count": "lots"},
            ],
        },
    )
    assert bulk.status_code == 200
    _, second = bulk.json()["results"]
    assert second["status"] == "error"
    assert second["errors"][0]["field"] == "company_employee_count"
    assert "'lots' is not a number of employees" in second["errors"][0]["message"]
    engines.refresh_from_db()
    assert (engines.industry, engines.location) == ("Software (enrichment)", "Cambridge")
    [ada] = people(tenant)
    assert ada.do_not_contact is True

    # An upsert with "update existing" (the API's default) replaces the stored value.
    assert (
        post(
            api, "/api/v1/prospects?upsert=true", {"email": "ada@engines.test", "company_industry": "Banking"}
        ).status_code
        == 200
    )
    engines.refresh_from_db()
    assert engines.industry == "Banking"

    # PATCH edits the prospect's company, a blank clears, and clears do-not-contact.
    edited = patch(
        api,
        f"/api/v1/prospects/{ada.pk}",
        {"company_industry": "", "company_funding_total": 5, "do_not_contact": False},
    )
    assert edited.status_code == 200, edited.content
    engines.refresh_from_db()
    assert (engines.industry, engines.funding_total) == ("", 5)
    assert edited.json()["do_not_contact"] is False


def test_api_refuses_a_time_zone_that_is_not_iana_and_a_javascript_company_link(tenant: Tenant) -> None:
    api = tenant.api()
    bad_zone = post(api, "/api/v1/prospects", {"email": "x@tz.test", "timezone": "Eastern Time"})
    assert bad_zone.status_code == 400
    assert bad_zone.json()["errors"][0]["field"] == "timezone"
    assert "Europe/Berlin" in bad_zone.json()["detail"]
    link = post(
        api, "/api/v1/prospects", {"email": "x@tz.test", "company_linkedin_url": "javascript:alert(1)"}
    )
    assert link.status_code == 400 and link.json()["errors"][0]["field"] == "company_linkedin_url"
    assert people(tenant) == []


def test_company_values_without_a_company_stay_on_the_person(tenant: Tenant) -> None:
    response = post(
        tenant.api(), "/api/v1/prospects", {"email": "kim@gmail.com", "company_industry": "Retail"}
    )
    assert response.status_code == 201
    assert response.json()["custom_fields"] == {"Company industry": "Retail"}
    assert response.json()["company_id"] is None


def test_prospect_form_validates_the_time_zone_and_sets_do_not_contact(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@one.test")
    url = reverse("prospect_edit", args=[prospect.pk])
    data = {"first_name": "Ada", "email": "ada@one.test", "timezone": "Mars/Olympus", "lawful_basis": ""}
    body = tenant.member_client.post(url, data, **HTMX).content.decode()
    assert "is not a time zone name" in body
    prospect.refresh_from_db()
    assert prospect.timezone == ""
    tenant.member_client.post(url, {**data, "timezone": "asia/tokyo", "do_not_contact": "on"}, **HTMX)
    prospect.refresh_from_db()
    assert (prospect.timezone, prospect.do_not_contact) == ("Asia/Tokyo", True)


@pytest.mark.usefixtures("media_root")
def test_csv_import_reads_time_zone_and_unsubscribed_columns(tenant: Tenant) -> None:
    content = csv_text(
        [
            ["Email", "First Name", "Time Zone", "Unsubscribed", "Industry", "Company Size"],
            ["ann@acme.test", "Ann", "America/Los_Angeles", "true", "Software", "11-50"],
            ["bob@acme.test", "Bob", "", "false", "", ""],
            ["cy@acme.test", "Cy", "PST", "", "", ""],
            ["di@acme.test", "Di", "", "maybe", "", ""],
        ]
    )
    job = upload(tenant, content)
    assert job.mapping["Time Zone"] == "timezone" and job.mapping["Unsubscribed"] == "do_not_contact"
    done = run(job)
    assert (done.created_count, done.failed_count) == (2, 2)
    reasons = [reason for _, reason in errors(done)]
    assert "is not a time zone name" in reasons[0] and "'maybe' is not yes or no" in reasons[1]
    ann, bob = people(tenant)
    assert (ann.timezone, ann.do_not_contact, bob.do_not_contact) == ("America/Los_Angeles", True, False)
    assert company(tenant, "acme.test").industry == "Software"


def test_web_form_meta_and_google_leads_fill_company_fields(
    tenant: Tenant,
    lead_form: LeadForm,  # noqa: F811
    sources: LeadSourceSettings,  # noqa: F811
    fake_graph: FakeGraph,  # noqa: F811
) -> None:
    CompanyFactory(org=tenant.org, domain="known.test", name="Known", industry="Logistics")
    form = Client().post(
        reverse("lead_form_submit", kwargs={"form_key": lead_form.key}),
        {"email": "lee@known.test", "name": "Lee Park", "industry": "Shipping", "company_size": "200"},
    )
    assert form.status_code == 200, form.content
    known = company(tenant, "known.test")
    # A form fills what the company lacks and never replaces what is on record.
    assert (known.industry, known.employee_count) == ("Logistics", 200)

    fake_graph.add_lead(
        "1000009", email="meta@meta-lead.test", extra={"industry": "Retail", "employee_count": "42"}
    )
    body = _meta_body("1000009")
    assert _post_meta(sources, body, _sign(body)).status_code == 200
    with tenant.scope():
        delivery = WebhookDelivery.objects.get(dedupe_key="1000009")
    meta_lead_fetch.apply(args=[tenant.org.pk, delivery.pk])
    meta = company(tenant, "meta-lead.test")
    assert (meta.industry, meta.employee_count) == ("Retail", 42)

    payload = _google_payload(
        user_column_data=[
            {"column_name": "Work email", "string_value": "g@google-lead.test", "column_id": "WORK_EMAIL"},
            {"column_name": "Industry", "string_value": "Aerospace", "column_id": "industry_q"},
            {"column_name": "Number of employees", "string_value": "1,000", "column_id": "size_q"},
        ]
    )
    assert _post_google(sources, payload).status_code == 200
    google = company(tenant, "google-lead.test")
    assert (google.industry, google.employee_count) == ("Aerospace", 1000)


# --- limits ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"custom_fields": {"notes": "x" * 2_001}}, "custom_fields", "2,001 characters long (limit 2,000)"),
        ({"custom_fields": {"k" * 65: "v"}}, "custom_fields", "65 characters long (limit 64)"),
        ({"custom_fields": {f"k{i}": "v" for i in range(51)}}, "custom_fields", "at most 50 custom fields"),
        ({"tags": ["t" * 61]}, "tags", "61 characters long (limit 60)"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags", "at most 50 tags"),
        ({"first_name": "A" * 151}, "first_name", "longer than 150 characters"),
    ],
)
def test_api_refuses_what_is_over_a_limit_and_writes_nothing(
    tenant: Tenant, data: dict[str, Any], field: str, message: str
) -> None:
    api = tenant.api()
    response = post(api, "/api/v1/prospects", {"email": "big@limits.test", **data})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert message in response.json()["errors"][0]["message"]
    bulk = post(api, "/api/v1/prospects/bulk", {"items": [{"email": "big@limits.test", **data}]})
    assert bulk.json()["results"][0]["status"] == "error"
    assert people(tenant) == [] and Company.objects.unscoped().filter(org=tenant.org).count() == 0


def test_api_refuses_a_note_over_the_limit_and_tags_that_would_make_too_many(tenant: Tenant) -> None:
    api = tenant.api()
    prospect = ProspectFactory(org=tenant.org, email="ada@one.test", tags=[f"t{i}" for i in range(49)])
    note = post(api, f"/api/v1/prospects/{prospect.pk}/notes", {"body": "x" * 20_001})
    assert note.status_code == 400 and "at most 20,000 characters" in note.json()["detail"]
    assert Note.objects.unscoped().count() == 0
    more = post(api, "/api/v1/prospects?upsert=true", {"email": "ada@one.test", "tags": ["new1", "new2"]})
    assert more.status_code == 400 and "at most 50 tags (this makes 51)" in more.json()["detail"]
    prospect.refresh_from_db()
    assert len(prospect.tags) == 49


def test_prospect_form_refuses_a_long_tag_instead_of_cutting_it(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@one.test", tags=["keep"])
    data = {"first_name": "Ada", "email": "ada@one.test", "tags": "ok, " + "t" * 61, "lawful_basis": ""}
    body = tenant.member_client.post(
        reverse("prospect_edit", args=[prospect.pk]), data, **HTMX
    ).content.decode()
    assert "61 characters long (limit 60)" in body
    prospect.refresh_from_db()
    assert prospect.tags == ["keep"]


@pytest.mark.usefixtures("media_root")
def test_csv_rows_over_a_limit_fail_with_the_reason(tenant: Tenant) -> None:
    ProspectFactory(org=tenant.org, email="full@acme.test", custom_fields={f"k{i}": "v" for i in range(50)})
    header = ["Email", "Tags", "Notes", *[f"Extra {i}" for i in range(50)]]
    blank = [""] * 50
    content = csv_text(
        [
            header,
            ["ok@acme.test", "a, b", "fine", *blank],
            ["tag@acme.test", "t" * 61, "", *blank],
            ["long@acme.test", "", "x" * 2_001, *blank],
            ["many@acme.test", "", "one", *["v"] * 50],
            ["full@acme.test", "", "one more", *blank],
        ]
    )
    done = run(upload(tenant, content))
    assert (done.created_count, done.failed_count) == (1, 4)
    assert [reason for _, reason in errors(done)] == [
        "the tag “tttttttttttttttttttttttttttttttttttttttt…” is 61 characters long (limit 60)",
        "column “Notes” is 2,001 characters long (limit 2,000)",
        "has 51 custom fields (at most 50)",
        "the person would have 51 custom fields (at most 50)",
    ]
    with tenant.scope():
        assert len(Prospect.objects.get(email="full@acme.test").custom_fields) == 50


def test_a_web_form_message_over_the_limit_is_400_and_stores_nothing(
    tenant: Tenant,
    lead_form: LeadForm,  # noqa: F811
) -> None:
    url = reverse("lead_form_submit", kwargs={"form_key": lead_form.key})
    response = Client().post(url, {"email": "a@b.test", "message": "x" * 10_001})
    assert response.status_code == 400
    assert "“message” is 10,001 characters long (limit 10,000)" in response.json()["detail"]
    assert Client().post(url, {"email": "a@b.test", "message": "x" * 10_000}).status_code == 200
    with tenant.scope():
        assert WebhookDelivery.objects.count() == 1
        [prospect] = Prospect.objects.all()
    assert len(prospect.answers["message"]) == 10_000


# --- NUL bytes and lone surrogates --------------------------------------------------------------------------------


def test_api_stores_a_nul_and_a_lone_surrogate_as_clean_text(tenant: Tenant) -> None:
    body = (
        '{"email": "ada@nul.test", "first_name": "A\\u0000da", "last_name": "Love\\ud800lace", '
        '"custom_fields": {"no\\u0000te": "x\\u0000y"}}'
    )
    response = tenant.api().post("/api/v1/prospects", data=body, content_type=JSON)
    assert response.status_code == 201, response.content
    [ada] = people(tenant)
    assert (ada.first_name, ada.last_name, ada.custom_fields) == ("Ada", "Love\ufffdlace", {"note": "xy"})


def test_prospect_forms_store_a_nul_as_clean_text(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@one.test")
    client = tenant.member_client
    body = "first_name=A%00da&email=ada%40one.test&lawful_basis=&tags="
    response = client.post(
        reverse("prospect_edit", args=[prospect.pk]),
        body,
        content_type="application/x-www-form-urlencoded",
        **HTMX,
    )
    assert response.status_code == 200
    custom = "key=no%00te&value=x%00y"
    response = client.post(
        reverse("prospect_custom_fields", args=[prospect.pk]),
        custom,
        content_type="application/x-www-form-urlencoded",
        **HTMX,
    )
    assert response.status_code == 200
    prospect.refresh_from_db()
    assert (prospect.first_name, prospect.custom_fields) == ("Ada", {"note": "xy"})


@pytest.mark.usefixtures("media_root")
def test_csv_import_stores_a_nul_as_clean_text(tenant: Tenant) -> None:
    content = b"Email,First Name,Notes\nada@nul.test,A\x00da,x\x00y\n"
    done = run(upload(tenant, content))
    assert (done.created_count, done.failed_count) == (1, 0)
    [ada] = people(tenant)
    assert (ada.first_name, ada.custom_fields) == ("Ada", {"Notes": "xy"})


def test_webhooks_store_a_nul_and_a_lone_surrogate_as_clean_text(
    tenant: Tenant,
    lead_form: LeadForm,  # noqa: F811
    sources: LeadSourceSettings,  # noqa: F811
    fake_graph: FakeGraph,  # noqa: F811
) -> None:
    url = reverse("lead_form_submit", kwargs={"form_key": lead_form.key})
    body = '{"email": "form@nul.test", "name": "Fo\\u0000rm Lead", "Your question": "why\\u0000\\ud800"}'
    assert Client().post(url, data=body, content_type=JSON).status_code == 200
    fake_graph.add_lead(
        "1000010", email="meta@nul.test", full_name="Me\x00ta Lead", extra={"Budget?": "1\x00k"}
    )
    meta_body = _meta_body("1000010")
    assert _post_meta(sources, meta_body, _sign(meta_body)).status_code == 200
    with tenant.scope():
        delivery = WebhookDelivery.objects.get(dedupe_key="1000010")
    meta_lead_fetch.apply(args=[tenant.org.pk, delivery.pk])
    payload = _google_payload(
        user_column_data=[
            {"column_name": "Email", "string_value": "google@nul.test", "column_id": "EMAIL"},
            {"column_name": "Full Name", "string_value": "Goo\x00gle Lead", "column_id": "FULL_NAME"},
            {"column_name": "Notes", "string_value": "a\x00b", "column_id": "notes_q"},
        ]
    )
    assert _post_google(sources, payload).status_code == 200
    by_email = {p.email: p for p in people(tenant)}
    form, meta, google = by_email["form@nul.test"], by_email["meta@nul.test"], by_email["google@nul.test"]
    assert (form.first_name, form.answers) == ("Form", {"Your question": "why\ufffd"})
    assert (meta.first_name, meta.answers) == ("Meta", {"Budget?": "1k"})
    assert (google.first_name, google.answers) == ("Google", {"Notes": "ab"})


def test_a_merge_that_would_hold_too_many_tags_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    primary = ProspectFactory(org=tenant.org, tags=[f"a{i}" for i in range(30)])
    duplicate = ProspectFactory(org=tenant.org, tags=[f"b{i}" for i in range(30)])
    with tenant.scope(), pytest.raises(ValidationError, match="at most 50 tags") as refused:
        merge.prospect_merge(primary=primary, duplicates=[duplicate], actor=None)
    assert "cannot be merged" in refused.value.messages[0]
    with tenant.scope():
        assert Prospect.objects.filter(pk__in=[primary.pk, duplicate.pk]).count() == 2


def test_a_lead_form_tag_over_the_limit_is_a_form_error(tenant: Tenant) -> None:
    response = tenant.admin_client.post(
        reverse("lead_form_list"),
        {
            "name": "Webinar",
            "tags": "ok, " + "t" * 61,
            "allowed_origins": "",
            "redirect_url": "",
            "is_active": "on",
        },
    )
    assert "61 characters long (limit 60)" in response.content.decode()
    assert not LeadForm.objects.unscoped().filter(org=tenant.org).exists()
