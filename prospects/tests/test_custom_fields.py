"""Custom fields as a rep sees them: on the prospect page (edited in place with HTMX) and as CSV export columns."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Tenant
from prospects.models import Activity
from prospects.tests.factories import CompanyFactory, ProspectFactory

pytestmark = pytest.mark.django_db
pytest_plugins = ["leadgen.tests.browser"]

HTMX = {"HTTP_HX_REQUEST": "true"}
# Where the browser test leaves its screenshots of the page (1366x900) for a person to look at.
SCREENSHOTS = Path(os.environ.get("LEADGEN_SCREENSHOTS", "test-results"))


def _html(response: Any) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_the_prospect_page_shows_and_edits_custom_fields(tenant: Tenant) -> None:
    prospect = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        custom_fields={"Apollo Contact Id": "64a001", "Score history": [1, 2], "Note": "<b>bold</b>"},
    )
    client = tenant.member_client
    page = _html(client.get(reverse("prospect_detail", args=[prospect.pk])))
    assert 'id="custom-fields"' in page
    assert "<dt>Apollo Contact Id</dt><dd>64a001</dd>" in page
    assert "[1, 2]" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page

    url = reverse("prospect_custom_fields", args=[prospect.pk])
    form = _html(client.get(url, **HTMX))
    assert 'id="custom-fields-form"' in form and 'value="64a001"' in form
    assert form.count('name="key"') == 3 + 3  # the three stored fields and three blank rows

    # Change one, remove one (blank value), keep the list as it was shown, add one.
    data = {
        "key": ["Apollo Contact Id", "Score history", "Note", "Renewal month", ""],
        "value": ["64a002", "[1, 2]", "", "March", ""],
    }
    response = client.post(url, data, **HTMX)
    body = _html(response)
    assert "Custom fields saved." in body and "<dd>March</dd>" in body
    assert "timeline-changed" in response["HX-Trigger"]
    prospect.refresh_from_db()
    assert prospect.custom_fields == {
        "Apollo Contact Id": "64a002",
        "Score history": [1, 2],
        "Renewal month": "March",
    }
    with tenant.scope():
        assert Activity.objects.filter(prospect=prospect, kind="updated").count() == 1

    cancel = _html(client.get(url, {"cancel": "1"}, **HTMX))
    assert "Edit custom fields" in cancel and 'id="custom-fields-form"' not in cancel


def test_custom_fields_over_a_limit_or_nameless_are_refused_with_the_reason(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, custom_fields={"Keep": "me"})
    client = tenant.member_client
    url = reverse("prospect_custom_fields", args=[prospect.pk])
    cases = [
        (
            {"key": ["Keep", "Long"], "value": ["me", "x" * 2_001]},
            "“Long” is 2,001 characters long (limit 2,000)",
        ),
        ({"key": ["k" * 65], "value": ["v"]}, "65 characters long (limit 64)"),
        ({"key": ["", "Keep"], "value": ["orphan", "me"]}, "Give the value “orphan” a name."),
        ({"key": ["Keep", "Keep"], "value": ["a", "b"]}, "Two fields are named “Keep”."),
        ({"key": [f"k{i}" for i in range(51)], "value": ["v"] * 51}, "at most 50 custom fields"),
    ]
    for data, message in cases:
        body = _html(client.post(url, data, **HTMX))
        assert message in body, message
        assert 'id="custom-fields-form"' in body  # the form stays open with what was typed
    prospect.refresh_from_db()
    assert prospect.custom_fields == {"Keep": "me"}


def test_without_javascript_the_edit_link_opens_the_form_on_the_page(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, custom_fields={"Region": "EMEA"})
    client = tenant.member_client
    page = _html(client.get(reverse("prospect_detail", args=[prospect.pk]), {"custom": "edit"}))
    assert 'id="custom-fields-form"' in page and 'value="EMEA"' in page
    url = reverse("prospect_custom_fields", args=[prospect.pk])
    response = client.post(url, {"key": ["Region"], "value": ["APAC"]})
    assert response.status_code == 302 and response["Location"] == reverse(
        "prospect_detail", args=[prospect.pk]
    )
    prospect.refresh_from_db()
    assert prospect.custom_fields == {"Region": "APAC"}


def _export(tenant: Tenant, **params: str) -> list[list[str]]:
    response = tenant.member_client.get(reverse("prospect_export"), params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_has_a_column_per_custom_field_escaped(tenant: Tenant, other_tenant: Tenant) -> None:
    ProspectFactory(
        org=tenant.org, last_name="A", stage="won", custom_fields={"Region": "EMEA", "=cmd": "=1+1"}
    )
    ProspectFactory(
        org=tenant.org, last_name="B", custom_fields={"region": "apac", "email": "dup", "Seats": 12}
    )
    ProspectFactory(org=tenant.org, last_name="C")
    ProspectFactory(org=other_tenant.org, custom_fields={"Rival secret": "x"})
    header, *rows = _export(tenant, sort="last_name")
    custom = header[header.index("updated_at") + 1 :]
    assert custom == ["'=cmd", "custom: email", "Region", "region", "Seats"]
    by_name = {row[header.index("last_name")]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_name["A"]["Region"] == "EMEA" and by_name["A"]["'=cmd"] == "'=1+1"
    assert by_name["B"]["region"] == "apac" and by_name["B"]["custom: email"] == "dup"
    assert by_name["B"]["Seats"] == "12" and by_name["B"]["Region"] == ""
    assert all(by_name["C"][name] == "" for name in custom)
    # A filter narrows the columns to the exported prospects' fields.
    header, _ = _export(tenant, stage="won", sort="last_name")[:2]
    assert "Seats" not in header


def test_the_export_runs_the_same_queries_for_ten_or_forty_prospects(tenant: Tenant, settings: Any) -> None:
    settings.PROSPECT_EXPORT_BATCH = 1000

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            _export(tenant)
        return len(captured)

    ProspectFactory.create_batch(10, org=tenant.org, custom_fields={"Region": "EMEA"})
    queries()  # the first request of a session also loads what later ones find cached
    ten = queries()
    ProspectFactory.create_batch(30, org=tenant.org, custom_fields={"Seats": "3"})
    assert queries() == ten


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_edit_custom_fields_in_the_browser(live_site: str, new_page: Any, tenant: Tenant) -> None:
    from playwright.sync_api import expect

    from prospects.tests.test_browser import log_in

    company = CompanyFactory(
        org=tenant.org,
        name="Northwind Analytics",
        domain="northwind.io",
        industry="Computer Software",
        employee_count=240,
    )
    prospect = ProspectFactory(
        org=tenant.org,
        first_name="Maya",
        last_name="Chen",
        title="VP of Sales",
        company=company,
        company_name=company.name,
        custom_fields={
            "Apollo Contact Id": "64a00001",
            "Email Status": "Verified",
            "Latest Funding Amount": "30000000",
            "Lists": "Q3 webinar, EMEA revenue leaders",
        },
    )
    page = new_page("member", viewport={"width": 1366, "height": 900})
    log_in(page, live_site, tenant.member)
    page.goto(f"{live_site}{reverse('prospect_detail', args=[prospect.pk])}")
    section = page.locator("#custom-fields")
    expect(section).to_contain_text("Latest Funding Amount")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "custom-fields.png"))

    section.get_by_role("button", name="Edit custom fields").click()
    form = page.locator("#custom-fields-form")
    expect(form).to_be_visible()
    form.get_by_label("Field name 5").fill("Renewal month")
    form.get_by_label("Value 5").fill("March")
    form.get_by_label("Value 2 (Email Status)").fill("")
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "custom-fields-edit.png"))
    form.get_by_role("button", name="Save custom fields").click()
    expect(section).to_contain_text("Custom fields saved.")
    expect(section).to_contain_text("Renewal month")
    expect(section).not_to_contain_text("Email Status")
    page.screenshot(path=str(SCREENSHOTS / "custom-fields-saved.png"))
    prospect.refresh_from_db()
    assert prospect.custom_fields["Renewal month"] == "March" and "Email Status" not in prospect.custom_fields
