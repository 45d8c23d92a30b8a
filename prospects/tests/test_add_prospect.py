"""A rep adds one prospect from the UI; LinkedIn and website links only ever hold http(s) addresses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from conftest import Tenant
from prospects.models import Company, Prospect, SuppressionKind
from prospects.tests.factories import CompanyFactory, ProspectFactory, SuppressionFactory
from prospects.tests.imports.support import errors, media_root, run, upload  # noqa: F401

pytestmark = pytest.mark.django_db


def _add(tenant: Tenant, **data: Any):  # type: ignore[no-untyped-def]
    return tenant.member_client.post(reverse("prospect_new"), data)


def test_the_list_offers_add_prospect_and_the_form_speaks_plain_seniority(tenant: Tenant) -> None:
    body = tenant.member_client.get(reverse("prospect_list")).content.decode()
    assert f'href="{reverse("prospect_new")}"' in body and "Add prospect" in body
    form = tenant.member_client.get(reverse("prospect_new")).content.decode()
    assert '<option value="c_suite">C-level</option>' in form and "Company website or domain" in form


def test_adding_a_person_with_a_company_website_links_the_company(tenant: Tenant) -> None:
    response = _add(
        tenant,
        first_name="Ada",
        last_name="Lovelace",
        email="Ada@Engines.io",
        title="CTO",
        seniority="c_suite",
        company_name="Analytical Engines",
        company_domain="https://www.engines.io/about",
        tags="vip, london",
        owner=str(tenant.member.pk),
    )
    with tenant.scope():
        ada = Prospect.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse(
            "prospect_detail", args=[ada.pk]
        )
        assert (ada.email_normalized, ada.source, ada.seniority) == ("ada@engines.io", "manual", "c_suite")
        assert ada.company is not None and ada.company.domain == "engines.io"
        assert ada.company.name == "Analytical Engines" and ada.owner_id == tenant.member.pk
        assert ada.tags == ["vip", "london"]
    page = tenant.member_client.get(response["Location"]).content.decode()
    assert "Added Ada Lovelace." in page and "C-level" in page


def test_a_company_by_name_alone_is_reused_or_created(tenant: Tenant) -> None:
    existing = CompanyFactory(org=tenant.org, name="Globex Corporation", domain="globex.test")
    _add(tenant, first_name="Hank", last_name="Scorpio", company_name="globex corporation")
    _add(tenant, first_name="Homer", last_name="Simpson", company_name="Springfield Nuclear")
    with tenant.scope():
        hank, homer = Prospect.objects.order_by("pk")
        assert hank.company_id == existing.pk
        assert homer.company is not None and homer.company.name == "Springfield Nuclear"
        assert Company.objects.count() == 2


def test_a_duplicate_links_to_the_person_already_on_file(tenant: Tenant) -> None:
    ada = ProspectFactory(org=tenant.org, first_name="Ada", last_name="Lovelace", email="ada@engines.io")
    response = _add(tenant, first_name="A.", last_name="Lovelace", email=" ADA@engines.io ")
    body = response.content.decode()
    assert response.status_code == 400
    assert "Ada Lovelace is already in your prospects" in body
    assert f'href="{reverse("prospect_detail", args=[ada.pk])}"' in body
    with tenant.scope():
        assert Prospect.objects.count() == 1


def test_a_suppressed_person_is_not_added(tenant: Tenant) -> None:
    SuppressionFactory(org=tenant.org, kind=SuppressionKind.DOMAIN, value="blocked.test")
    response = _add(tenant, first_name="Eve", email="eve@blocked.test")
    assert response.status_code == 400 and "on the suppression list" in response.content.decode()
    with tenant.scope():
        assert not Prospect.objects.exists()


def test_a_form_needs_someone_to_identify(tenant: Tenant) -> None:
    response = _add(tenant, title="CTO")
    assert (
        response.status_code == 400
        and "needs an email, a LinkedIn URL or a name" in response.content.decode()
    )


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", " JaVa\tScRiPt:alert(1)", "data:text/html,<b>x</b>", "//evil.test"],
)
def test_a_javascript_linkedin_url_is_refused_by_the_form(tenant: Tenant, url: str) -> None:
    response = _add(tenant, first_name="Mallory", linkedin_url=url)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Must be a web address starting with http:// or https://" in body
    with tenant.scope():
        assert not Prospect.objects.exists()


def test_editing_a_prospect_refuses_a_javascript_url(tenant: Tenant) -> None:
    ada = ProspectFactory(org=tenant.org, first_name="Ada", linkedin_url="")
    response = tenant.member_client.post(
        reverse("prospect_edit", args=[ada.pk]),
        {"first_name": "Ada", "email": ada.email, "linkedin_url": "javascript:alert(1)", "seniority": ""},
    )
    assert "must be a web address" in response.content.decode()
    ada.refresh_from_db()
    assert ada.linkedin_url == ""


def test_the_api_refuses_a_javascript_url(tenant: Tenant) -> None:
    api = tenant.api()
    response = api.post(
        "/api/v1/prospects",
        json.dumps({"email": "m@evil.test", "linkedin_url": "javascript:alert(1)"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "linkedin_url",
        "message": "must be a web address starting with http:// or https://",
    }
    company = api.post(
        "/api/v1/companies",
        json.dumps({"name": "Evil", "website": "javascript:alert(1)"}),
        content_type="application/json",
    )
    assert company.status_code == 400 and company.json()["errors"][0]["field"] == "website"
    with tenant.scope():
        assert not Prospect.objects.exists() and not Company.objects.exists()


def test_an_import_row_with_a_javascript_url_is_refused_with_its_reason(
    tenant: Tenant,
    media_root: None,  # noqa: F811 (the fixture imported above)
) -> None:
    job = upload(
        tenant,
        "email,linkedin\nada@engines.io,https://www.linkedin.com/in/ada\nm@evil.test,javascript:alert(1)\n",
    )
    done = run(job, {"email": "email", "linkedin": "linkedin_url"})
    assert done.created_count == 1
    assert errors(done) == [(3, "LinkedIn URL must be a web address starting with http:// or https://")]


def test_linkedin_and_website_show_as_links_and_a_stored_javascript_url_as_text(tenant: Tenant) -> None:
    ada = ProspectFactory(org=tenant.org, linkedin_url="linkedin.com/in/ada", company_domain="engines.io")
    old = ProspectFactory(org=tenant.org, linkedin_url="javascript:alert(1)")
    body = tenant.member_client.get(reverse("prospect_detail", args=[ada.pk])).content.decode()
    assert 'href="https://linkedin.com/in/ada"' in body and 'href="https://engines.io"' in body
    legacy = tenant.member_client.get(reverse("prospect_detail", args=[old.pk])).content.decode()
    assert 'href="javascript' not in legacy and "javascript:alert(1)" in legacy
