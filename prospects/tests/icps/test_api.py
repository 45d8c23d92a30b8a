"""/api/v1/icps: CRUD, ranked matches, validation, other orgs' ids, query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Tenant
from prospects.scoring.embedding import prospects_embed
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory, QualificationFactory

BODY = {
    "name": "Platform buyers",
    "description": "Engineering leaders at B2B software companies",
    "criteria": {
        "industries": ["Computer Software"],
        "employee_min": 50,
        "employee_max": 1000,
        "locations": ["Germany"],
        "seniorities": ["vp"],
        "title_keywords": ["engineering"],
        "technologies": ["Python"],
        "funding_stages": ["series_b"],
        "exclusions": ["competitor.com"],
    },
}


def _json(client: Any, method: str, url: str, body: Any = None) -> Any:
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(url, **kwargs)


@pytest.mark.django_db
def test_crud(tenant: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    api = tenant.api()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _json(api, "post", "/api/v1/icps", BODY)
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1
    created = response.json()
    assert created["criteria"] == BODY["criteria"] and created["embedded"] is False
    icp_id = created["id"]

    response = _json(
        api,
        "patch",
        f"/api/v1/icps/{icp_id}",
        {"description": "CTOs", "criteria": {"industries": ["Fintech"]}},
    )
    assert response.status_code == 200
    assert response.json()["description"] == "CTOs"
    assert (
        response.json()["criteria"]["industries"] == ["Fintech"]
        and response.json()["criteria"]["locations"] == []
    )
    assert api.get(f"/api/v1/icps/{icp_id}").json()["name"] == "Platform buyers"
    listing = api.get("/api/v1/icps").json()
    assert [i["id"] for i in listing["items"]] == [icp_id] and listing["next_cursor"] is None

    assert _json(api, "post", "/api/v1/icps", BODY).status_code == 400  # the name is taken
    bad = _json(api, "post", "/api/v1/icps", {**BODY, "criteria": {"employee_min": -1, "colour": "red"}})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert api.delete(f"/api/v1/icps/{icp_id}").status_code == 204
    assert api.get(f"/api/v1/icps/{icp_id}").status_code == 404


@pytest.mark.django_db
def test_other_org_gets_404(tenant: Tenant, other_tenant: Tenant) -> None:
    icp = ICPFactory(org=tenant.org, name="Private")
    theirs = other_tenant.api()
    assert theirs.get(f"/api/v1/icps/{icp.pk}").status_code == 404
    assert theirs.get(f"/api/v1/icps/{icp.pk}/matches").status_code == 404
    assert _json(theirs, "patch", f"/api/v1/icps/{icp.pk}", {"name": "Mine now"}).status_code == 404
    assert theirs.delete(f"/api/v1/icps/{icp.pk}").status_code == 404
    assert theirs.get("/api/v1/icps").json()["items"] == []
    # Example ids of another org are refused like unknown ids.
    stranger = ProspectFactory(org=tenant.org)
    response = _json(theirs, "post", "/api/v1/icps", {"name": "X", "example_prospect_ids": [stranger.pk]})
    assert response.status_code == 400 and "unknown ids" in response.json()["detail"]


@pytest.mark.django_db
def test_matches_rank_judged_first_then_by_similarity(
    tenant: Tenant, other_tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    software = CompanyFactory(
        org=tenant.org, name="Cloudstack", industry="Computer Software", employee_count=200
    )
    engineers = [
        ProspectFactory(org=tenant.org, title=f"VP of Engineering {i}", company=software) for i in range(20)
    ]
    baker = ProspectFactory(org=tenant.org, title="Head Baker", company_name="Crumbs")
    ProspectFactory(org=other_tenant.org, title="VP of Engineering")
    with tenant.scope():
        prospects_embed(prospect_ids=[p.pk for p in [*engineers, baker]])
    icp = ICPFactory(org=tenant.org, name="Eng", description="Engineering leaders at software companies")
    QualificationFactory(
        org=tenant.org,
        prospect=baker,
        icp=icp,
        score=77,
        tier="B",
        similarity=0.1,
        reasoning="Judged by hand.",
    )
    api = tenant.api()
    api.get(f"/api/v1/icps/{icp.pk}/matches?limit=10")  # the first call computes the ICP vector
    with django_assert_max_num_queries(8):
        response = api.get(f"/api/v1/icps/{icp.pk}/matches?limit=10")
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 10
    assert items[0] == {
        "prospect_id": baker.pk,
        "first_name": baker.first_name,
        "last_name": baker.last_name,
        "email": baker.email,
        "title": "Head Baker",
        "company_name": "Crumbs",
        "stage": "new",
        "score": 77,
        "tier": "B",
        "similarity": 0.1,
        "reasoning": "Judged by hand.",
    }
    rest = items[1:]
    assert all(i["score"] is None and i["tier"] is None and i["reasoning"] is None for i in rest)
    assert [i["similarity"] for i in rest] == sorted((i["similarity"] for i in rest), reverse=True)
    assert {i["prospect_id"] for i in rest} <= {p.pk for p in engineers}

    only = api.get(f"/api/v1/icps/{icp.pk}/matches?min_score=70").json()["items"]
    assert [i["prospect_id"] for i in only] == [baker.pk]
    assert api.get(f"/api/v1/icps/{icp.pk}/matches?min_score=80").json()["items"] == []
    assert api.get(f"/api/v1/icps/{icp.pk}/matches?limit=0").status_code == 422


@pytest.mark.django_db
def test_list_query_count(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    ICPFactory.create_batch(30, org=tenant.org)
    with django_assert_max_num_queries(8):
        body = tenant.api().get("/api/v1/icps?limit=20").json()
    assert len(body["items"]) == 20 and body["next_cursor"]
    second = tenant.api().get(f"/api/v1/icps?limit=20&cursor={body['next_cursor']}").json()
    assert len(second["items"]) == 10 and second["next_cursor"] is None


@pytest.mark.django_db
def test_primary_is_set_through_the_api_and_only_for_active_icps(tenant: Tenant) -> None:
    first = ICPFactory(org=tenant.org, name="First")
    second = ICPFactory(org=tenant.org, name="Second")
    dormant = ICPFactory(org=tenant.org, name="Dormant", is_active=False)
    api = tenant.api()
    response = api.post(f"/api/v1/icps/{second.pk}/primary")
    assert response.status_code == 200 and response.json()["is_primary"] is True
    assert api.get(f"/api/v1/icps/{first.pk}").json()["is_primary"] is False
    refused = api.post(f"/api/v1/icps/{dormant.pk}/primary")
    assert refused.status_code == 400
    assert "Only an active ICP" in refused.content.decode()
    assert api.get(f"/api/v1/icps/{second.pk}").json()["is_primary"] is True
