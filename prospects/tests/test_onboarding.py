"""A new organisation sees its first steps on the dashboard and on the empty prospect list, each ticked when done."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import Tenant
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ICPFactory, LeadFormFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def _page(tenant: Tenant, name: str) -> str:
    response = tenant.member_client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def _step(body: str, key: str) -> str:
    return body.split(f'id="step-{key}"', 1)[1].split("</li>", 1)[0]


def test_a_new_org_sees_the_checklist_instead_of_no_prospects_match(tenant: Tenant) -> None:
    for name in ("dashboard", "prospect_list"):
        body = _page(tenant, name)
        assert "Get started" in body and "No prospects match" not in body
        assert "Define your ideal customer profile" in _step(body, "icp")
        assert f'href="{reverse("icp_new")}"' in _step(body, "icp")
        prospects = _step(body, "prospects")
        assert (
            f'href="{reverse("import_list")}"' in prospects
            and f'href="{reverse("lead_form_list")}"' in prospects
        )
        assert f'href="{reverse("mailbox_list")}"' in _step(body, "mailbox")
        assert 'class="done"' not in body


def test_steps_are_ticked_as_they_are_done_and_the_checklist_goes(tenant: Tenant) -> None:
    ICPFactory(org=tenant.org)
    body = _page(tenant, "dashboard")
    assert 'class="done" id="step-icp"' in body and 'id="step-prospects"' in body
    LeadFormFactory(org=tenant.org)
    body = _page(tenant, "prospect_list")
    assert 'class="done" id="step-prospects"' in body and 'class="" id="step-mailbox"' in body
    MailboxFactory(org=tenant.org)
    assert "Get started" not in _page(tenant, "dashboard")


def test_a_list_with_prospects_or_filters_shows_no_checklist(tenant: Tenant) -> None:
    assert (
        "No prospects match these filters."
        in tenant.member_client.get(reverse("prospect_list"), {"q": "nobody"}).content.decode()
    )
    ProspectFactory(org=tenant.org)
    assert "Get started" not in _page(tenant, "prospect_list")
