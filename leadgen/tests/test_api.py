from __future__ import annotations

import pytest
from django.test import Client

from accounts.services import apikey_revoke
from conftest import Tenant

pytestmark = pytest.mark.django_db


def test_me_returns_org_and_key(tenant: Tenant) -> None:
    response = tenant.api().get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == {"id": tenant.org.pk, "name": tenant.org.name, "slug": tenant.org.slug}
    assert body["key_name"] == tenant.api_key.name
    tenant.api_key.refresh_from_db()
    assert tenant.api_key.last_used_at is not None


@pytest.mark.parametrize(
    "header, detail",
    [
        (None, "A valid API key is required."),
        ("Token abc", "Malformed Authorization header"),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer lg_deadbeef_nope", "A valid API key is required."),
    ],
)
def test_bad_credentials_share_one_error_shape(tenant: Tenant, header: str | None, detail: str) -> None:
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized" and body["detail"].startswith(detail)


def test_revoked_key_is_refused(tenant: Tenant) -> None:
    apikey_revoke(key=tenant.api_key, actor=tenant.owner)
    response = tenant.api().get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_unknown_route_and_method_errors_are_json(tenant: Tenant) -> None:
    api = tenant.api()
    response = api.delete("/api/v1/me")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "DELETE is not allowed here; allowed: GET.",
        "code": "method_not_allowed",
        "allowed": ["GET"],
    }
    assert response["Allow"] == "GET"

    for method, path in [
        ("GET", "/api/v1/nothing-here"),
        ("POST", "/api/v1/prospects/1/nothing"),
        ("DELETE", "/api/v1/"),
        ("GET", "/api/v1/prospects/"),  # no slash appended: one answer, no redirect
    ]:
        for client in (api, Client()):  # with or without a key (and no CSRF token for the POST)
            unknown = client.generic(method, path)
            assert unknown.status_code == 404, (method, path, unknown.content)
            assert unknown["Content-Type"] == "application/json"
            assert unknown.json() == {"detail": f"No API route {path}.", "code": "not_found"}
    # Pages outside the API keep Django's own 404.
    assert "json" not in Client().get("/no-such-page/")["Content-Type"]


def test_rate_limit_answers_429_with_retry_after(tenant: Tenant) -> None:
    tenant.org.api_rate_limit_per_minute = 3
    tenant.org.save()
    api = tenant.api()
    assert [api.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/api/v1/me")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 61


def test_rate_limit_is_per_key(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.org.api_rate_limit_per_minute = 1
    tenant.org.save()
    assert tenant.api().get("/api/v1/me").status_code == 200
    assert tenant.api().get("/api/v1/me").status_code == 429
    assert other_tenant.api().get("/api/v1/me").status_code == 200


def test_openapi_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/me" in schema.json()["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_createapikey_command(tenant: Tenant) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("createapikey", org=tenant.org.slug, name="deploy", stdout=out)
    secret = out.getvalue().strip()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/me").json()["key_name"] == "deploy"


def test_createapikey_unknown_org() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No organisation"):
        call_command("createapikey", org="nope", name="x")
