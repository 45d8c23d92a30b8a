"""The request boundary on the real stack: bodies over the limit answer 413, and NUL characters and lone surrogates
are stripped (NUL) or replaced (surrogate → U+FFFD) before any view, form, API handler or webhook sees them."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from leadgen.text import data_clean, has_bad_text, text_clean
from prospects.models import Note, Prospect, WebhookDelivery
from prospects.tests.factories import LeadFormFactory, ProspectFactory

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


# --- bodies over the limit --------------------------------------------------------------------------------


def test_12_mb_api_body_is_413_with_the_error_shape(tenant: Tenant) -> None:
    body = json.dumps({"email": "big@example.test", "notes": "x" * (12 * MB)})
    response = tenant.api().post("/api/v1/prospects", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the limit of 5 MB.",
        "code": "too_large",
    }
    with tenant.scope():
        assert not Prospect.objects.exists()


def test_12_mb_page_post_is_a_plain_413(tenant: Tenant) -> None:
    response = Client().post(
        reverse("account_login"),
        data="login=" + "x" * (12 * MB),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"larger than the limit of 5 MB" in response.content


def test_csv_upload_has_its_own_larger_limit(tenant: Tenant, settings) -> None:  # type: ignore[no-untyped-def]
    # A 6 MB CSV is over the 5 MB body limit, not over the upload limit.
    row = b"someone@example.test,Some,One,Engineer\n"
    csv = b"email,first_name,last_name,title\n" + row * (6 * MB // len(row))
    upload = SimpleUploadedFile("big.csv", csv, content_type="text/csv")
    response = tenant.api().post("/api/v1/imports", data={"file": upload, "start": "false"})
    assert response.status_code == 201, response.content
    settings.UPLOAD_MAX_BYTES = 4 * MB
    upload = SimpleUploadedFile("big.csv", csv, content_type="text/csv")
    response = tenant.api().post("/api/v1/imports", data={"file": upload, "start": "false"})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


# --- NUL characters and lone surrogates -------------------------------------------------------------------


def test_text_clean() -> None:
    assert text_clean("Ada\x00 Lovelace") == "Ada Lovelace"
    assert text_clean("bad \ud800 half") == "bad \ufffd half"
    assert text_clean("emoji 😀 stays") == "emoji 😀 stays"
    clean = "nothing to do"
    assert text_clean(clean) is clean
    assert has_bad_text("\x00") and has_bad_text("\udfff") and not has_bad_text("é😀")
    assert data_clean({"k\x00": ["v\x00", 1, {"x": "\ud83d"}]}) == {"k": ["v", 1, {"x": "\ufffd"}]}


def test_api_json_strips_nul_and_replaces_lone_surrogates(tenant: Tenant) -> None:
    payload = {
        "email": "ada\x00@example.test",
        "first_name": "Ada\x00",
        "last_name": "Love\ud800lace",
        "title": "Head of 😀 Engineering",
        "custom_fields": {"plan\x00": "pro\x00"},
        "tags": ["vip\x00"],
    }
    body = json.dumps(payload)  # ensure_ascii: the NUL and the surrogate travel as \u0000 and \ud800
    assert "\\u0000" in body and "\\ud800" in body
    response = tenant.api().post("/api/v1/prospects", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    with tenant.scope():
        prospect = Prospect.objects.get()
    assert prospect.email == "ada@example.test"
    assert (prospect.first_name, prospect.last_name) == ("Ada", "Love\ufffdlace")
    assert prospect.title == "Head of 😀 Engineering"
    assert prospect.custom_fields == {"plan": "pro"}
    assert prospect.tags == ["vip"]
    # Query strings too.
    listed = tenant.api().get("/api/v1/prospects?q=Ada%00")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [prospect.pk]


def test_nul_in_a_path_is_404() -> None:
    assert Client().get("/hooks/forms/abc%00def").status_code == 404


def test_web_form_strips_nul(tenant: Tenant) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org)
    url = reverse("prospect_note", kwargs={"prospect_id": prospect.pk})
    response = tenant.member_client.post(
        url,
        data=urlencode({"body": "call back\x00 on Monday"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in {200, 302}, response.content
    with tenant.scope():
        assert Note.objects.get(prospect=prospect).body == "call back on Monday"


@pytest.mark.parametrize("encoding", ["urlencoded", "json", "multipart"])
def test_form_webhook_strips_nul(tenant: Tenant, encoding: str) -> None:
    lead_form = LeadFormFactory(org=tenant.org, name="Demo request")
    url = reverse("lead_form_submit", kwargs={"form_key": lead_form.key})
    fields = {"email": "grace@navy.example", "name": "Grace\x00 Hopper", "message": "hello\x00 there\x00"}
    if encoding == "urlencoded":
        response = Client().post(
            url, data=urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
    elif encoding == "json":
        response = Client().post(url, data=json.dumps(fields), content_type="application/json")
    else:
        response = Client().post(url, data=fields)  # the test client's multipart: raw NUL bytes in the parts
    assert response.status_code == 200, response.content
    with tenant.scope():
        prospect = Prospect.objects.get()
        delivery = WebhookDelivery.objects.get()
    assert (prospect.first_name, prospect.last_name) == ("Grace", "Hopper")
    assert prospect.answers == {"message": "hello there"}
    assert "\x00" not in delivery.body
