"""The campaigns API: the issue's fields, lifecycle, enrollments with a result per id, errors in the usual shape."""

from __future__ import annotations

import json

import pytest

from campaigns.models import Campaign, Enrollment
from conftest import Tenant
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ProspectFactory

BODY = {
    "name": "Q3 outbound",
    "timezone": "Europe/Berlin",
    "schedule": {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"},
    "review_required": True,
    "stop_on": ["reply", "unsubscribe"],
    "steps": [
        {
            "delay_hours": 0,
            "thread": "new",
            "ai_personalise": False,
            "variants": [
                {
                    "name": "A",
                    "subject": "Hi {{ first_name }}",
                    "body": "Hello {{ first_name }}",
                    "weight": 1,
                },
                {
                    "name": "B",
                    "subject": "Quick one, {{ first_name }}",
                    "body": "Hey {{ first_name }}",
                    "weight": 2,
                },
            ],
        },
        {"delay_hours": 72, "thread": "reply", "variants": [{"name": "A", "body": "Bumping this."}]},
    ],
}


def _post(client, path: str, body: dict | None = None, **headers):  # type: ignore[no-untyped-def]
    return client.post(path, data=json.dumps(body or {}), content_type="application/json", **headers)


@pytest.mark.django_db
def test_create_get_patch_and_the_lifecycle(tenant: Tenant) -> None:
    api = tenant.api()
    mailbox = MailboxFactory(org=tenant.org)
    created = _post(api, "/api/v1/campaigns", {**BODY, "mailbox_ids": [mailbox.pk]})
    assert created.status_code == 201, created.content
    data = created.json()
    assert set(data) == {
        "id",
        "name",
        "status",
        "icp_id",
        "mailbox_ids",
        "timezone",
        "schedule",
        "review_required",
        "track_opens",
        "track_clicks",
        "first_email_plain",
        "stop_on",
        "ooo_pause_days",
        "steps",
        "created_at",
        "launched_at",
    }
    assert data["status"] == "draft" and data["mailbox_ids"] == [mailbox.pk]
    assert data["schedule"] == {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}
    assert [s["delay_hours"] for s in data["steps"]] == [0, 72]
    assert [v["name"] for v in data["steps"][0]["variants"]] == ["A", "B"]
    assert set(data["steps"][0]["variants"][0]) == {"id", "name", "subject", "body", "weight"}
    cid = data["id"]

    patched = api.patch(
        f"/api/v1/campaigns/{cid}", data=json.dumps({"name": "Q3, renamed"}), content_type="application/json"
    )
    assert patched.json()["name"] == "Q3, renamed" and len(patched.json()["steps"]) == 2

    assert _post(api, f"/api/v1/campaigns/{cid}/launch").json()["status"] == "active"
    assert _post(api, f"/api/v1/campaigns/{cid}/pause").json()["status"] == "paused"
    again = _post(api, f"/api/v1/campaigns/{cid}/pause")
    assert again.status_code == 400 and again.json()["code"] == "invalid"
    assert _post(api, f"/api/v1/campaigns/{cid}/resume").json()["status"] == "active"
    assert _post(api, f"/api/v1/campaigns/{cid}/archive").json()["status"] == "archived"
    listed = api.get("/api/v1/campaigns").json()
    assert [c["id"] for c in listed["items"]] == [cid] and listed["next_cursor"] is None


@pytest.mark.django_db
def test_invalid_bodies_answer_in_the_usual_error_shape(tenant: Tenant) -> None:
    api = tenant.api()
    bad_zone = _post(api, "/api/v1/campaigns", {**BODY, "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400 and bad_zone.json()["errors"][0]["field"] == "timezone"
    bad_time = _post(
        api, "/api/v1/campaigns", {**BODY, "schedule": {"days": [1], "start": "9am", "end": "17:00"}}
    )
    assert bad_time.status_code == 422 and bad_time.json()["code"] == "validation_error"
    broken = {**BODY, "steps": [{"variants": [{"subject": "x", "body": "{% load evil %}"}]}]}
    response = _post(api, "/api/v1/campaigns", broken)
    assert response.status_code == 400 and "not available in email templates" in response.json()["detail"]
    foreign_box = MailboxFactory()
    assert _post(api, "/api/v1/campaigns", {**BODY, "mailbox_ids": [foreign_box.pk]}).status_code == 400


@pytest.mark.django_db
def test_enroll_list_and_stop_through_the_api(tenant: Tenant) -> None:
    api = tenant.api()
    mailbox = MailboxFactory(org=tenant.org)
    cid = _post(api, "/api/v1/campaigns", {**BODY, "mailbox_ids": [mailbox.pk]}).json()["id"]
    ok, dnc = ProspectFactory(org=tenant.org), ProspectFactory(org=tenant.org, do_not_contact=True)
    result = _post(
        api,
        f"/api/v1/campaigns/{cid}/enrollments",
        {"prospect_ids": [ok.pk, dnc.pk, 999999]},
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert result.status_code == 200
    results = result.json()["results"]
    assert [(r["prospect_id"], r["status"], r["reason"]) for r in results] == [
        (ok.pk, "enrolled", None),
        (dnc.pk, "skipped", "do_not_contact"),
        (999999, "skipped", "not_found"),
    ]
    replay = _post(
        api,
        f"/api/v1/campaigns/{cid}/enrollments",
        {"prospect_ids": [ok.pk, dnc.pk, 999999]},
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == result.json()

    items = api.get(f"/api/v1/campaigns/{cid}/enrollments").json()["items"]
    assert len(items) == 1
    item = items[0]
    assert set(item) == {
        "id",
        "prospect_id",
        "email",
        "state",
        "stop_reason",
        "current_step",
        "next_send_at",
        "variant",
        "mailbox_id",
    }
    assert item["email"] == ok.email and item["state"] == "active" and item["current_step"] == 1
    assert item["variant"] in {"A", "B"} and item["mailbox_id"] == mailbox.pk

    stopped = api.delete(f"/api/v1/campaigns/{cid}/enrollments/{item['id']}")
    assert stopped.status_code == 204
    with tenant.scope():
        enrollment = Enrollment.objects.get(pk=item["id"])
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "removed")
    assert api.delete(f"/api/v1/campaigns/{cid}/enrollments/{item['id']}").status_code == 409


@pytest.mark.django_db
def test_another_orgs_campaign_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    cid = _post(tenant.api(), "/api/v1/campaigns", BODY).json()["id"]
    outsider = other_tenant.api()
    assert outsider.get(f"/api/v1/campaigns/{cid}").status_code == 404
    assert _post(outsider, f"/api/v1/campaigns/{cid}/launch").status_code == 404
    assert _post(outsider, f"/api/v1/campaigns/{cid}/enrollments", {"prospect_ids": [1]}).status_code == 404
    assert outsider.get("/api/v1/campaigns").json()["items"] == []
    with tenant.scope():
        assert Campaign.objects.get(pk=cid).status == "draft"
