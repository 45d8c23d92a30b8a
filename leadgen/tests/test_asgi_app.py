"""The whole application through the ASGI entry point production runs (leadgen/asgi.py): Django's ASGI handler with
every middleware adapted, sessions, the organisation, htmx partials and the JSON API answer as under WSGI."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from conftest import Tenant
from prospects.tests.factories import ProspectFactory

PAGES = ["/", "/prospects/", "/campaigns/", "/inbox/", "/settings/", "/analytics/", "/analytics/heatmap/"]


@pytest.mark.django_db
def test_pages_and_api_answer_the_same_under_asgi(tenant: Tenant, other_tenant: Tenant) -> None:
    ada = ProspectFactory(org=tenant.org, first_name="Ada", last_name="Lovelace")
    rival = ProspectFactory(org=other_tenant.org, first_name="Rival")
    web = AsyncClient()
    web.force_login(tenant.member)
    api, key = AsyncClient(), {"Authorization": f"Bearer {tenant.api_secret}"}

    async def fetch() -> dict[str, Any]:
        return {
            **{page: await web.get(page) for page in PAGES},
            "partial": await web.get(
                "/prospects/", {"q": "ada"}, headers={"HX-Request": "true", "HX-Target": "results"}
            ),
            "own": await api.get(f"/api/v1/prospects/{ada.pk}", headers=key),
            "other": await api.get(f"/api/v1/prospects/{rival.pk}", headers=key),
            "anonymous": await AsyncClient().get("/prospects/"),
        }

    answers = async_to_sync(fetch)()
    sync = Client()
    sync.force_login(tenant.member)
    for page in PAGES:
        assert answers[page].status_code == sync.get(page).status_code == 200, page
    assert b"Lovelace" in answers["partial"].content and b"<html" not in answers["partial"].content
    assert answers["own"].status_code == 200 and answers["own"].json()["last_name"] == "Lovelace"
    assert answers["other"].status_code == 404  # another tenant's id, as under WSGI
    assert answers["anonymous"].status_code == 302 and "/accounts/login/" in answers["anonymous"]["Location"]
