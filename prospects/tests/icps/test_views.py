"""ICP pages as a user sees them: list, create, edit with live matches, the ICP page, delete, other orgs."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from conftest import Tenant
from prospects.models import ICP
from prospects.scoring.embedding import prospects_embed
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = '<script>alert("x")</script>'


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Platform buyers",
        "description": "Engineering leaders at B2B software companies",
        "industries": "Computer Software, SaaS",
        "employee_min": "50",
        "employee_max": "1000",
        "locations": "",
        "seniorities": "vp, c_suite",
        "title_keywords": "engineering, CTO",
        "technologies": "",
        "funding_stages": "",
        "exclusions": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def _people(tenant: Tenant) -> dict[str, Any]:
    software = CompanyFactory(
        org=tenant.org,
        name="Cloudstack",
        industry="Computer Software",
        employee_count=250,
        technologies=["Python"],
        description="Developer platform for cloud applications.",
    )
    bakery = CompanyFactory(
        org=tenant.org,
        name="Crumbs",
        industry="Food & Beverages",
        employee_count=6,
        description="Family bakery.",
    )
    people = {
        "engineer": ProspectFactory(
            org=tenant.org,
            first_name="Eve",
            last_name="Engineer",
            title="VP of Engineering",
            seniority="vp",
            company=software,
        ),
        "baker": ProspectFactory(
            org=tenant.org,
            first_name="Bob",
            last_name="Baker",
            title="Head Baker",
            company=bakery,
            company_name="Crumbs",
        ),
    }
    with tenant.scope():
        prospects_embed(prospect_ids=[p.pk for p in people.values()])
    return people


@pytest.mark.django_db
def test_nav_link_leads_to_the_icp_list(tenant: Tenant, other_tenant: Tenant) -> None:
    ICPFactory(org=tenant.org, name="Mine", criteria={"industries": ["Software"]})
    ICPFactory(org=other_tenant.org, name="Theirs")
    body = _html(tenant.member_client.get(reverse("prospect_list")))
    assert f'href="{reverse("icp_list")}"' in body
    body = _html(tenant.member_client.get(reverse("icp_list")))
    assert "Mine" in body and "Industries: Software" in body and "Theirs" not in body


@pytest.mark.django_db(transaction=False)
def test_create_then_see_ranked_matches_on_the_icp_page(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    people = _people(tenant)
    with django_capture_on_commit_callbacks() as callbacks:
        response = tenant.member_client.post(
            reverse("icp_new"), _form(example_prospect_ids=[people["engineer"].pk])
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the ICP is re-embedded on the ai queue after commit
    with tenant.scope():
        icp = ICP.objects.get(name="Platform buyers")
    assert icp.criteria["seniorities"] == ["vp", "c_suite"] and icp.criteria["employee_min"] == 50
    assert icp.example_prospect_ids == [people["engineer"].pk]
    body = _html(tenant.member_client.get(response["Location"]))
    assert body.index("Eve Engineer") < body.index("Bob Baker")
    assert "Not judged yet." in body and "Employees: 50–1000" in body


@pytest.mark.django_db
def test_invalid_form_shows_errors_and_keeps_input(tenant: Tenant) -> None:
    response = tenant.member_client.post(
        reverse("icp_new"), _form(name="", employee_min="500", employee_max="10")
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "This field is required." in body
    ICPFactory(org=tenant.org, name="Taken")
    response = tenant.member_client.post(reverse("icp_new"), _form(name="Taken"))
    assert response.status_code == 422 and "already exists" in response.content.decode()
    response = tenant.member_client.post(reverse("icp_new"), _form(employee_min="500", employee_max="10"))
    assert response.status_code == 422 and "must be at least the minimum" in response.content.decode()


@pytest.mark.django_db
def test_live_matches_follow_the_criteria_as_they_change(tenant: Tenant) -> None:
    people = _people(tenant)
    url = reverse("icp_preview")
    body = _html(tenant.member_client.post(url, _form(), **HTMX))
    assert "<html" not in body and 'id="live-matches-table"' in body
    assert body.index("Eve Engineer") < body.index("Bob Baker")
    # Rewrite the persona and criteria: the bakery owner comes first, and an exclusion drops the engineer.
    bakers = _form(
        description="Owners of small family bakeries",
        industries="Food & Beverages",
        title_keywords="baker",
        seniorities="",
        employee_min="",
        employee_max="20",
        exclusions="Cloudstack",
    )
    body = _html(tenant.member_client.post(url, bakers, **HTMX))
    assert "Bob Baker" in body and "Eve Engineer" not in body
    assert people["baker"].pk
    body = _html(tenant.member_client.post(url, _form(employee_min="x"), **HTMX))
    assert "Fix the highlighted fields" in body


@pytest.mark.django_db
def test_edit_form_and_example_picker(tenant: Tenant, other_tenant: Tenant) -> None:
    people = _people(tenant)
    stranger = ProspectFactory(org=other_tenant.org, first_name="Stranger", last_name="Baker")
    icp = ICPFactory(org=tenant.org, name="Bakers", criteria={"industries": ["Food"]})
    body = _html(tenant.member_client.get(reverse("icp_edit", args=[icp.pk])))
    assert 'value="Food"' in body and 'hx-post="/icps/preview/"' in body
    body = _html(tenant.member_client.get(reverse("icp_examples"), {"example_q": "baker"}, **HTMX))
    assert "Bob Baker" in body and "Stranger" not in body and "<html" not in body
    # Checked examples stay checked while searching again.
    body = _html(
        tenant.member_client.get(
            reverse("icp_examples"),
            {"example_q": "crumbs", "example_prospect_ids": [people["baker"].pk]},
            **HTMX,
        )
    )
    assert f'value="{people["baker"].pk}" checked' in body and "company #" in body
    response = tenant.member_client.post(
        reverse("icp_edit", args=[icp.pk]), _form(name="Bakers", example_prospect_ids=[stranger.pk])
    )
    assert response.status_code == 422 and "unknown ids" in response.content.decode()
    response = tenant.member_client.post(
        reverse("icp_edit", args=[icp.pk]), _form(name="Bakers", description=XSS)
    )
    assert response.status_code == 302
    body = _html(tenant.member_client.get(reverse("icp_detail", args=[icp.pk])))
    assert XSS not in body and "&lt;script&gt;" in body


@pytest.mark.django_db
def test_other_org_gets_404_and_delete_works(tenant: Tenant, other_tenant: Tenant) -> None:
    icp = ICPFactory(org=tenant.org, name="Private")
    for name in ("icp_detail", "icp_edit"):
        assert other_tenant.owner_client.get(reverse(name, args=[icp.pk])).status_code == 404
    assert other_tenant.owner_client.post(reverse("icp_delete", args=[icp.pk])).status_code == 404
    assert other_tenant.owner_client.post(reverse("icp_edit", args=[icp.pk]), _form()).status_code == 404
    response = tenant.member_client.post(reverse("icp_delete", args=[icp.pk]))
    assert response.status_code == 302
    with tenant.scope():
        assert not ICP.objects.exists()


@pytest.mark.django_db
def test_icp_page_query_count(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    _people(tenant)
    for i in range(30):
        ProspectFactory(org=tenant.org, title=f"Engineer {i}")
    icp = ICPFactory(org=tenant.org, name="Eng", description="Engineers")
    tenant.member_client.get(reverse("icp_detail", args=[icp.pk]))  # computes the vector once
    with django_assert_max_num_queries(14):
        _html(tenant.member_client.get(reverse("icp_detail", args=[icp.pk])))
    with django_assert_max_num_queries(10):
        _html(tenant.member_client.get(reverse("icp_list")))
