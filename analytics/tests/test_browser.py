"""In Debian's chromium at 1366x900: every analytics page fits the screen, and changing a filter redraws the chart
and the table (HTMX swaps the report, charts.js draws again from the new data)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from analytics.rollups import rollups_advance
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.tests.test_browser import log_in

from .factories import EventFactory, sent_message
from .test_pages import TODAY, _version

pytest_plugins = ["leadgen.tests.browser"]

VIEWPORT = {"width": 1366, "height": 900}
SHOTS = os.environ.get("LAYOUT_SCREENSHOTS", "")


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"analytics-{name}.png"), full_page=True)


def _fits(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways: {width}px in {inner}px"


def _seed(tenant: Tenant) -> Any:
    import datetime as dt

    campaign = campaign_with_steps(tenant.org, variants=("A", "B"), name="Spring outreach")
    _version(tenant, campaign, "A", opens=2, replies=2, interested=1, hard_bounce=1)
    _version(tenant, campaign, "B", opens=5, replies=4, interested=3, complaint=1)
    retail = CompanyFactory(org=tenant.org, industry="Retail", employee_count=2000)
    for hour in (7, 13, 16):
        prospect = ProspectFactory(
            org=tenant.org, company=retail, timezone="America/New_York", seniority="Manager"
        )
        message = sent_message(
            org=tenant.org,
            prospect=prospect,
            sent_at=TODAY + dt.timedelta(hours=hour),
            campaign_id=campaign.pk,
        )
        EventFactory(message=message, kind="replied", at=TODAY + dt.timedelta(hours=hour + 1))
    rollups_advance(now=timezone.now() + dt.timedelta(minutes=10))
    return campaign


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_filters_redraw_chart_and_table_and_pages_fit(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    campaign = _seed(tenant)
    page = new_page("analytics", viewport=VIEWPORT)
    log_in(page, live_site, tenant.owner)
    expect(page.locator('[data-stage="contacted"]')).to_have_text("23")
    expect(page.locator("#report figure .uplot")).to_have_count(1)
    _shot(page, "dashboard")
    _fits(page)

    page.goto(f"{live_site}/analytics/?by=seniority")
    table = page.locator("#breakdown-table")
    expect(table).to_contain_text("VP")
    expect(page.locator("#report figure .uplot")).to_have_count(1)
    _shot(page, "breakdowns")
    _fits(page)
    page.get_by_role("navigation", name="Group by").get_by_role("link", name="Industry").click()
    expect(table).to_contain_text("Retail")
    expect(table).not_to_contain_text("VP")
    expect(page.locator("#report figure .uplot")).to_have_count(1)  # drawn again from the new data
    assert "by=industry" in page.url
    chart_labels = page.evaluate("JSON.parse(document.getElementById('breakdown-data').textContent).labels")
    assert sorted(chart_labels) == ["Retail", "Software"]

    page.goto(f"{live_site}/analytics/heatmap/")
    expect(page.locator("#heatmap-table tbody tr")).to_have_count(4)
    rows_before = page.locator("#heatmap-table tbody tr").count()
    page.get_by_label("Industry").select_option("Retail")
    expect(page.locator("#heatmap-table tbody tr")).to_have_count(3)
    assert rows_before == 4  # Software's one hour plus Retail's three
    assert "industry=Retail" in page.url
    _shot(page, "heatmap")
    _fits(page)

    for name, url in (
        ("campaign", f"/analytics/campaigns/{campaign.pk}/"),
        ("cost", "/analytics/cost/"),
        ("score", "/analytics/score/"),
        ("deliverability", "/analytics/deliverability/"),
    ):
        page.goto(f"{live_site}{url}")
        expect(page.locator("#report")).to_be_visible()
        _shot(page, name)
        _fits(page)
    page.goto(f"{live_site}/analytics/deliverability/")
    expect(page.locator("#mailbox-table")).to_contain_text("Hard bounces at 10.0%")
