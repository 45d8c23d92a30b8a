"""`Idempotency-Key` on API POSTs: a repeat gets the first response again, never a second side effect."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import IdempotencyRecord
from accounts.tasks import idempotency_purge
from accounts.tests.factories import apikey_for
from conftest import Tenant
from prospects.models import Note, Prospect
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, data: Any, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, data=json.dumps(data), content_type="application/json", **headers)


def test_repeat_returns_the_first_response_without_a_second_effect(tenant: Tenant) -> None:
    api = tenant.api()
    first = post(api, "/api/v1/prospects", {"email": "ada@acme.test"}, key="create-ada")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = post(api, "/api/v1/prospects", {"email": "ada@acme.test"}, key="create-ada")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    with tenant.scope():
        assert Prospect.objects.count() == 1


def test_error_responses_are_replayed_too(tenant: Tenant) -> None:
    existing = ProspectFactory(org=tenant.org, email="ada@acme.test")
    api = tenant.api()
    first = post(api, "/api/v1/prospects", {"email": "ada@acme.test"}, key="k1")
    assert first.status_code == 409
    existing_id = existing.pk
    existing.delete()
    again = post(api, "/api/v1/prospects", {"email": "ada@acme.test"}, key="k1")
    assert again.status_code == 409 and again.json()["existing_id"] == existing_id
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    api = tenant.api()
    url = f"/api/v1/prospects/{prospect.pk}/notes"
    assert post(api, url, {"body": "first"}, key="note-1").status_code == 201
    response = post(api, url, {"body": "something else"}, key="note-1")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    other_path = post(api, "/api/v1/prospects", {"body": "first"}, key="note-1")
    assert other_path.json()["code"] == "idempotency_key_reused"
    with tenant.scope():
        assert list(Note.objects.values_list("body", flat=True)) == ["first"]


def test_repeat_while_the_first_is_in_flight_is_409(tenant: Tenant) -> None:
    api = tenant.api()
    body = {"email": "ada@acme.test"}
    # The first request has claimed the key but not finished (status_code is still NULL).
    first = post(api, "/api/v1/prospects", body, key="busy")
    IdempotencyRecord.objects.unscoped().filter(key="busy").update(status_code=None, body=b"")
    response = post(api, "/api/v1/prospects", body, key="busy")
    assert first.status_code == 201
    assert response.status_code == 409 and response.json()["code"] == "idempotency_in_progress"


def test_keys_are_per_api_key_and_only_for_post(tenant: Tenant) -> None:
    _, second_secret = apikey_for(tenant.org, name="second")
    first = post(tenant.api(), "/api/v1/prospects", {"email": "a@acme.test"}, key="shared")
    second = post(
        Client(HTTP_AUTHORIZATION=f"Bearer {second_secret}"),
        "/api/v1/prospects",
        {"email": "b@acme.test"},
        key="shared",
    )
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert tenant.api().get("/api/v1/prospects", HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    assert IdempotencyRecord.objects.unscoped().count() == 2
    assert post(tenant.api(), "/api/v1/prospects", {"email": "c@acme.test"}).status_code == 201
    assert IdempotencyRecord.objects.unscoped().count() == 2


def test_unauthenticated_requests_store_nothing(tenant: Tenant) -> None:
    response = post(Client(), "/api/v1/prospects", {"email": "a@acme.test"}, key="anon")
    assert response.status_code == 401
    assert not IdempotencyRecord.objects.unscoped().exists()


def test_overlong_key_is_refused(tenant: Tenant) -> None:
    response = post(tenant.api(), "/api/v1/prospects", {"email": "a@acme.test"}, key="x" * 300)
    assert response.status_code == 422 and response.json()["code"] == "invalid_idempotency_key"


def test_records_expire_after_24_hours(tenant: Tenant) -> None:
    api = tenant.api()
    post(api, "/api/v1/prospects", {"email": "a@acme.test"}, key="old")
    post(api, "/api/v1/prospects", {"email": "b@acme.test"}, key="fresh")
    IdempotencyRecord.objects.unscoped().filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    # An expired key is a new request again (here: a duplicate, so 409 instead of the stored 201).
    assert post(api, "/api/v1/prospects", {"email": "a@acme.test"}, key="old").status_code == 409
    IdempotencyRecord.objects.unscoped().filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.unscoped().values_list("key", flat=True)) == ["fresh"]


def test_multipart_upload_is_deduplicated_by_its_content(tenant: Tenant) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from prospects.models import Import

    def upload(content: bytes) -> Any:
        return tenant.api().post(
            "/api/v1/imports",
            {"file": SimpleUploadedFile("p.csv", content), "start": "false"},
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first = upload(b"email\na@acme.test\n")
    again = upload(b"email\na@acme.test\n")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert upload(b"email\nb@acme.test\n").json()["code"] == "idempotency_key_reused"
    with tenant.scope():
        assert Import.objects.count() == 1
