"""The prospects and companies JSON API, exercised over HTTP with a real API key against the real database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import Tenant
from prospects.models import Activity, Company, Note, Outcome, Prospect, Suppression
from prospects.tests.factories import CompanyFactory, ProspectFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"


def post(client: Client, url: str, data: Any, **extra: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type=JSON, **extra)


def patch(client: Client, url: str, data: Any) -> Any:
    return client.patch(url, data=json.dumps(data), content_type=JSON)


# --- create / get / patch / delete ------------------------------------------------------------------------


def test_create_returns_201_with_csv_named_fields(tenant: Tenant) -> None:
    response = post(
        tenant.api(),
        "/api/v1/prospects",
        {
            "email": " Ada@Example.COM ",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "CTO",
            "company_name": "Analytical Engines",
            "company_domain": "https://www.engines.test/about",
            "tags": "vip; london",
            "custom_fields": {"source_list": "conf"},
            "stage": "qualified",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "Ada@Example.COM"
    assert body["company_domain"] == "engines.test"
    assert body["tags"] == ["vip", "london"]
    assert body["stage"] == "qualified" and body["source"] == "api"
    assert body["company_id"] == Company.objects.unscoped().get(domain="engines.test").pk
    for read_only in ("id", "score", "tier", "owner_id", "created_at", "updated_at", "do_not_contact"):
        assert read_only in body


def test_create_duplicate_answers_409_with_the_existing_id(tenant: Tenant) -> None:
    api = tenant.api()
    first = post(api, "/api/v1/prospects", {"email": "grace@navy.test", "first_name": "Grace"}).json()
    response = post(api, "/api/v1/prospects", {"email": "GRACE@navy.test", "title": "Rear Admiral"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A prospect with this identity already exists.",
        "code": "duplicate",
        "existing_id": first["id"],
    }
    with tenant.scope():
        assert Prospect.objects.count() == 1


def test_create_with_upsert_updates_the_existing_row(tenant: Tenant) -> None:
    api = tenant.api()
    first = post(api, "/api/v1/prospects", {"email": "grace@navy.test", "first_name": "Grace"}).json()
    response = post(
        api, "/api/v1/prospects?upsert=true", {"email": "grace@navy.test", "title": "Rear Admiral"}
    )
    assert response.status_code == 200
    assert response.json()["id"] == first["id"] and response.json()["title"] == "Rear Admiral"
    created = post(api, "/api/v1/prospects?upsert=true", {"email": "new@navy.test"})
    assert created.status_code == 201


def test_create_refuses_suppressed_people_and_bad_input(tenant: Tenant) -> None:
    with tenant.scope():
        Suppression.objects.create(org=tenant.org, kind="domain", value="blocked.test")
    api = tenant.api()
    response = post(api, "/api/v1/prospects", {"email": "x@blocked.test"})
    assert response.status_code == 422 and response.json()["code"] == "suppressed"
    bad = post(api, "/api/v1/prospects", {"email": "not-an-email"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "email"
    unknown = post(api, "/api/v1/prospects", {"email": "a@b.test", "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "validation_error"
    with tenant.scope():
        assert Prospect.objects.count() == 0


def test_get_patch_delete(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, title="Engineer")
    other = ProspectFactory(org=tenant.org)
    api = tenant.api()
    url = f"/api/v1/prospects/{prospect.pk}"
    assert api.get(url).json()["title"] == "Engineer"

    response = patch(
        api, url, {"title": "VP Engineering", "stage": "contacted", "owner_id": tenant.member.pk}
    )
    assert response.status_code == 200
    assert response.json()["title"] == "VP Engineering"
    assert response.json()["stage"] == "contacted" and response.json()["owner_id"] == tenant.member.pk
    with tenant.scope():
        kinds = set(Activity.objects.filter(prospect=prospect).values_list("kind", flat=True))
    assert {"updated", "stage_changed"} <= kinds

    clash = patch(api, url, {"email": other.email.upper()})
    assert clash.status_code == 409 and clash.json()["existing_id"] == other.pk

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    with tenant.scope():
        assert not Activity.objects.filter(prospect_id=prospect.pk).exists()


def test_other_orgs_ids_answer_404(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = ProspectFactory(org=other_tenant.org)
    their_company = CompanyFactory(org=other_tenant.org)
    mine = ProspectFactory(org=tenant.org)
    api = tenant.api()
    base = f"/api/v1/prospects/{theirs.pk}"
    assert api.get(base).status_code == 404
    assert patch(api, base, {"title": "x"}).status_code == 404
    assert api.delete(base).status_code == 404
    assert api.get(f"{base}/notes").status_code == 404
    assert post(api, f"{base}/notes", {"body": "hi"}).status_code == 404
    assert post(api, f"{base}/outcome", {"result": "won"}).status_code == 404
    merge = post(api, "/api/v1/prospects/merge", {"primary_id": mine.pk, "duplicate_ids": [theirs.pk]})
    assert merge.status_code == 404
    merge = post(api, "/api/v1/prospects/merge", {"primary_id": theirs.pk, "duplicate_ids": [mine.pk]})
    assert merge.status_code == 404
    assert api.get(f"/api/v1/companies/{their_company.pk}").status_code == 404
    assert api.delete(f"/api/v1/companies/{their_company.pk}").status_code == 404
    assert Prospect.objects.unscoped().filter(pk__in=[theirs.pk, mine.pk]).count() == 2
    assert theirs.pk not in [p["id"] for p in api.get("/api/v1/prospects").json()["items"]]


# --- list: cursor pagination, filters, query counts -------------------------------------------------------


def _walk(api: Client, query: str, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = ""
    for _ in range(100):
        body = api.get(f"/api/v1/prospects?limit={limit}&cursor={cursor}&{query}").json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids
    raise AssertionError("pagination never ended")


def test_cursor_pagination_visits_every_row_once_in_order(tenant: Tenant) -> None:
    start = timezone.now() - dt.timedelta(days=30)
    prospects = [
        # Pairs share a created_at so the id tie-breaker is exercised.
        ProspectFactory(org=tenant.org, created_at=start + dt.timedelta(hours=i // 2), last_name=f"N{i % 7}")
        for i in range(23)
    ]
    ProspectFactory(org=tenant.org, created_at=start, email="x@elsewhere.test")  # noise in the same org
    api = tenant.api()
    expected = [
        p.pk
        for p in sorted(
            Prospect.objects.unscoped().filter(org=tenant.org),
            key=lambda p: (p.created_at, p.pk),
            reverse=True,
        )
    ]
    assert _walk(api, "", 5) == expected
    by_name = sorted(Prospect.objects.unscoped().filter(org=tenant.org), key=lambda p: (p.last_name, p.pk))
    assert _walk(api, "sort=last_name", 4) == [p.pk for p in by_name]
    assert len(prospects) == 23


def test_list_limit_is_capped_bad_cursor_is_400_and_bad_filter_422(tenant: Tenant) -> None:
    for _ in range(3):
        ProspectFactory(org=tenant.org)
    api = tenant.api()
    body = api.get("/api/v1/prospects?limit=5000").json()
    assert len(body["items"]) == 3 and body["next_cursor"] is None
    first = api.get("/api/v1/prospects?limit=1").json()
    other_sort = api.get(f"/api/v1/prospects?sort=last_name&cursor={first['next_cursor']}")
    assert other_sort.status_code == 400 and other_sort.json()["code"] == "invalid_cursor"
    assert api.get("/api/v1/prospects?cursor=garbage!").json()["code"] == "invalid_cursor"
    bad = api.get("/api/v1/prospects?score_min=lots&sort=shoe_size")
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"score_min", "sort"}


def test_list_filters(tenant: Tenant) -> None:
    old = timezone.now() - dt.timedelta(days=40)
    ada = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        last_name="Lovelace",
        stage="qualified",
        tier="A",
        score=91,
        tags=["vip"],
        source="csv",
        owner=tenant.member,
        created_at=old,
    )
    bob = ProspectFactory(
        org=tenant.org, first_name="Bob", last_name="Builder", stage="new", score=20, source="api"
    )
    ProspectFactory(org=tenant.org, first_name="Cy", last_name="Twombly", stage="won", score=None)
    api = tenant.api()

    def ids(query: str) -> set[int]:
        response = api.get(f"/api/v1/prospects?{query}")
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    assert ids("q=lovel") == {ada.pk}
    assert ids("stage=qualified&stage=new") == {ada.pk, bob.pk}
    assert ids("tier=A") == {ada.pk}
    assert ids("score_min=50") == {ada.pk}
    assert ids("score_max=50") == {bob.pk}
    assert ids("source=api") == {bob.pk}
    assert ids(f"owner={tenant.member.pk}") == {ada.pk}
    assert ada.pk not in ids("owner=none")
    assert ids("tag=vip") == {ada.pk}
    assert ids(f"created_before={(old + dt.timedelta(days=1)).date()}") == {ada.pk}
    assert ada.pk not in ids(f"created_after={(old + dt.timedelta(days=2)).date()}")
    scores = [item["score"] for item in api.get("/api/v1/prospects?sort=-score").json()["items"]]
    assert scores == [91, 20, None]


def test_list_endpoints_stay_within_8_queries(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    company = CompanyFactory(org=tenant.org)
    for i in range(30):
        prospect = ProspectFactory(org=tenant.org, company=company, owner=tenant.member, tags=["t"])
        if i < 3:
            with tenant.scope():
                Note.objects.create(org=tenant.org, prospect=prospect, body=f"note {i}")
    api = tenant.api()
    api.get("/api/v1/me")  # last_used_at is touched at most once a minute; measure the steady state too
    for url in (
        "/api/v1/prospects?limit=20",
        "/api/v1/prospects?q=person&sort=-score&stage=new&tag=t",
        "/api/v1/companies?q=a",
        f"/api/v1/prospects/{prospect.pk}/notes",
    ):
        with django_assert_max_num_queries(8):
            response = api.get(url)
        assert response.status_code == 200, response.content
    first_page = api.get("/api/v1/prospects?limit=10").json()
    with django_assert_max_num_queries(8):
        assert api.get(f"/api/v1/prospects?limit=10&cursor={first_page['next_cursor']}").status_code == 200


# --- bulk -------------------------------------------------------------------------------------------------


def test_bulk_reports_a_result_per_item(tenant: Tenant) -> None:
    existing = ProspectFactory(org=tenant.org, email="old@acme.test", title="")
    same = ProspectFactory(org=tenant.org, email="same@acme.test", title="CEO")
    with tenant.scope():
        Suppression.objects.create(org=tenant.org, kind="email", value="gone@acme.test")
    items = [
        {"email": "new@acme.test", "first_name": "New"},
        {"email": "old@acme.test", "title": "CFO"},
        {"email": "same@acme.test"},
        {"email": "gone@acme.test"},
        {"email": "broken"},
        {"email": "x@acme.test", "favourite_colour": "red"},
        {"first_name": "Only", "last_name": "Name"},
    ]
    response = post(tenant.api(), "/api/v1/prospects/bulk", {"items": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "created",
        "updated",
        "unchanged",
        "suppressed",
        "error",
        "error",
        "created",
    ]
    assert [r["index"] for r in results] == list(range(7))
    assert results[1]["id"] == existing.pk and results[2]["id"] == same.pk
    assert results[3]["id"] is None
    assert results[4]["errors"][0]["field"] == "email"
    assert results[5]["errors"][0]["field"] == "favourite_colour"
    with tenant.scope():
        assert Prospect.objects.count() == 4
        assert Prospect.objects.get(pk=existing.pk).title == "CFO"


def test_bulk_over_1000_items_is_refused(tenant: Tenant) -> None:
    items = [{"email": f"p{i}@acme.test"} for i in range(1001)]
    response = post(tenant.api(), "/api/v1/prospects/bulk", {"items": items})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "1,000" in response.json()["detail"]
    with tenant.scope():
        assert Prospect.objects.count() == 0


def test_bulk_takes_a_bare_array_too_and_documents_both(tenant: Tenant, client: Any) -> None:
    ProspectFactory(org=tenant.org, email="old@acme.test", title="")
    items = [{"email": "new@acme.test"}, {"email": "old@acme.test", "title": "CFO"}, {"email": "broken"}]
    response = post(tenant.api(), "/api/v1/prospects/bulk", items)
    assert response.status_code == 200, response.content
    assert [r["status"] for r in response.json()["results"]] == ["created", "updated", "error"]
    over = post(tenant.api(), "/api/v1/prospects/bulk", [{"email": f"p{i}@acme.test"} for i in range(1001)])
    assert over.status_code == 413 and over.json()["code"] == "too_large"
    for body in ({"nothing": []}, "a string", [1, 2]):
        refused = post(tenant.api(), "/api/v1/prospects/bulk", body)
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error", body
    # Neither shape: what each would need, without pydantic's names for the shapes.
    assert {e["field"] for e in refused.json()["errors"]} == {"items", "0", "1"}

    schema = client.get("/api/v1/openapi.json").json()
    request_schema = schema["paths"]["/api/v1/prospects/bulk"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    shapes = request_schema["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/BulkIn"} in shapes
    assert {"type": "array", "title": "BulkArray"}.items() <= next(s for s in shapes if "type" in s).items()


# --- notes, outcome, merge --------------------------------------------------------------------------------


def test_notes_list_and_create(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    api = tenant.api()
    url = f"/api/v1/prospects/{prospect.pk}/notes"
    for text in ("first", "second", "third"):
        response = post(api, url, {"body": text})
        assert response.status_code == 201 and response.json()["body"] == text
    assert post(api, url, {"body": "   "}).status_code == 400
    page = api.get(f"{url}?limit=2").json()
    assert [n["body"] for n in page["items"]] == ["third", "second"]
    rest = api.get(f"{url}?limit=2&cursor={page['next_cursor']}").json()
    assert [n["body"] for n in rest["items"]] == ["first"] and rest["next_cursor"] is None


def test_outcome_records_result_and_moves_stage(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, stage="meeting")
    api = tenant.api()
    url = f"/api/v1/prospects/{prospect.pk}/outcome"
    response = post(api, url, {"result": "won", "reason": "Signed the annual plan"})
    assert response.status_code == 201
    assert response.json()["result"] == "won" and response.json()["source"] == "api"
    assert api.get(f"/api/v1/prospects/{prospect.pk}").json()["stage"] == "won"
    assert post(api, url, {"result": "maybe"}).status_code == 422
    with tenant.scope():
        assert Outcome.objects.filter(prospect=prospect).count() == 1


def test_merge_endpoint(tenant: Tenant) -> None:
    primary = ProspectFactory(org=tenant.org, email="ada@acme.test", phone="")
    duplicate = ProspectFactory(org=tenant.org, email="ada.l@acme.test", phone="+44 20 1234")
    with tenant.scope():
        Note.objects.create(org=tenant.org, prospect=duplicate, body="met at the conference")
    api = tenant.api()
    response = post(
        api, "/api/v1/prospects/merge", {"primary_id": primary.pk, "duplicate_ids": [duplicate.pk]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == primary.pk and response.json()["phone"] == "+44 20 1234"
    assert api.get(f"/api/v1/prospects/{duplicate.pk}").status_code == 404
    notes = api.get(f"/api/v1/prospects/{primary.pk}/notes").json()["items"]
    assert [n["body"] for n in notes] == ["met at the conference"]
    same = post(api, "/api/v1/prospects/merge", {"primary_id": primary.pk, "duplicate_ids": [primary.pk]})
    assert same.status_code == 422


# --- companies --------------------------------------------------------------------------------------------


def test_company_crud(tenant: Tenant) -> None:
    api = tenant.api()
    response = post(api, "/api/v1/companies", {"name": "Acme", "domain": "https://WWW.Acme.test/about"})
    assert response.status_code == 201, response.content
    company = response.json()
    assert company["domain"] == "acme.test"
    dup = post(api, "/api/v1/companies", {"name": "Acme again", "domain": "acme.test"})
    assert dup.status_code == 409 and dup.json()["existing_id"] == company["id"]
    assert post(api, "/api/v1/companies", {"domain": "not a domain"}).status_code == 400

    url = f"/api/v1/companies/{company['id']}"
    assert patch(api, url, {"industry": "Anvils", "employee_count": 40}).json()["industry"] == "Anvils"
    assert api.get(url).json()["employee_count"] == 40
    other = post(api, "/api/v1/companies", {"name": "Other", "domain": "other.test"}).json()
    assert patch(api, url, {"domain": "other.test"}).json()["existing_id"] == other["id"]

    prospect = ProspectFactory(org=tenant.org, company_id=company["id"])
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    prospect.refresh_from_db()
    assert prospect.company_id is None


def test_company_list_search_and_cursor(tenant: Tenant) -> None:
    for i in range(7):
        CompanyFactory(org=tenant.org, name=f"Widget {i}")
    CompanyFactory(org=tenant.org, name="Gadget")
    api = tenant.api()
    page = api.get("/api/v1/companies?q=widget&limit=4").json()
    assert [c["name"] for c in page["items"]] == [f"Widget {i}" for i in range(4)]
    rest = api.get(f"/api/v1/companies?q=widget&limit=4&cursor={page['next_cursor']}").json()
    assert [c["name"] for c in rest["items"]] == [f"Widget {i}" for i in range(4, 7)]
    assert rest["next_cursor"] is None


# --- imports ----------------------------------------------------------------------------------------------


def _wait_for_import(api: Client, import_id: int) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/imports/{import_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} did not finish: {body}")


@pytest.mark.django_db(transaction=True)
def test_import_upload_with_mapping_runs_and_reports_errors(celery_worker: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conftest import make_tenant

    tenant = make_tenant("Importers")
    api = tenant.api()
    csv_bytes = (
        b"E-mail address,Given,Surname,Role\n"
        b"ada@acme.test,Ada,Lovelace,CTO\n"
        b"not-an-email,Bad,Row,Intern\n"
        b"grace@navy.test,Grace,Hopper,Admiral\n"
    )
    response = api.post(
        "/api/v1/imports",
        {
            "file": SimpleUploadedFile("people.csv", csv_bytes, content_type="text/csv"),
            "mapping": json.dumps(
                {"E-mail address": "email", "Given": "first_name", "Surname": "last_name", "Role": "title"}
            ),
            "tags": "api-import",
        },
    )
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == "queued" and job["mapping"]["Given"] == "first_name"

    done = _wait_for_import(api, job["id"])
    assert done["status"] == "done"
    assert (done["created_count"], done["failed_count"]) == (2, 1)
    errors = api.get(f"/api/v1/imports/{job['id']}/errors").json()
    assert [e["line"] for e in errors["items"]] == [3] and "not-an-email" in errors["items"][0]["raw"]
    listed = api.get("/api/v1/imports").json()["items"]
    assert [i["id"] for i in listed] == [job["id"]]
    ada = api.get("/api/v1/prospects?q=lovelace").json()["items"][0]
    assert ada["title"] == "CTO" and ada["tags"] == ["api-import"]


def test_import_bad_file_and_bad_mapping(tenant: Tenant, other_tenant: Tenant) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = tenant.api()
    empty = api.post("/api/v1/imports", {"file": SimpleUploadedFile("empty.csv", b"")})
    assert empty.status_code == 400 and empty.json()["code"] == "invalid_file"

    csv_file = SimpleUploadedFile("p.csv", b"Phone,Who\n1,Ada\n")
    unmapped = api.post("/api/v1/imports", {"file": csv_file})
    assert unmapped.status_code == 400 and unmapped.json()["code"] == "invalid_mapping"
    import_id = unmapped.json()["import_id"]
    assert api.get(f"/api/v1/imports/{import_id}").json()["status"] == "uploaded"
    started = post(api, f"/api/v1/imports/{import_id}/start", {"mapping": {"Who": "full_name"}})
    assert started.status_code == 201 and started.json()["status"] == "queued"
    again = post(api, f"/api/v1/imports/{import_id}/start", {"mapping": {"Who": "full_name"}})
    assert again.status_code == 400

    assert other_tenant.api().get(f"/api/v1/imports/{import_id}").status_code == 404
    assert other_tenant.api().get(f"/api/v1/imports/{import_id}/errors").status_code == 404
