"""In a browser at 1366x900: an admin connects HubSpot, tests the connection, sends a prospect and sees its sync log."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from conftest import Tenant
from prospects.crm.models import CrmSyncLog, SyncStatus
from prospects.tests import fake_crm as fc
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.tests.fake_crm import FakeCrm
from prospects.tests.test_browser import log_in

pytest_plugins = ["leadgen.tests.browser", "prospects.tests.fake_crm"]

VIEWPORT = {"width": 1366, "height": 900}
# LAYOUT_SCREENSHOTS=/some/dir keeps a PNG of each page, to look at.
SHOTS = os.environ.get("LAYOUT_SCREENSHOTS", "")


def _shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


def _no_sideways_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width}px wide in a {inner}px window"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_connect_hubspot_send_a_prospect_and_read_its_sync_log(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant, fake_crm: FakeCrm, celery_worker: Any
) -> None:
    company = CompanyFactory(org=tenant.org, name="Internationale Präzisionsinstrumente", domain="ihp.test")
    prospect = ProspectFactory(
        org=tenant.org,
        first_name="Maximiliane",
        last_name="Oberhauser-Wittgenstein",
        email="maximiliane.oberhauser-wittgenstein@ihp.test",
        company=company,
        company_domain="ihp.test",
        score=81,
        tier="A",
    )
    page = new_page("admin", viewport=VIEWPORT)
    log_in(page, live_site, tenant.admin)

    page.goto(f"{live_site}/settings/integrations/")
    expect(page.locator("#crm-hubspot header")).to_contain_text("Not connected")
    _shot(page, "integrations-empty")
    _no_sideways_scroll(page)
    page.click("#crm-hubspot summary:has-text('Connect HubSpot')")
    _shot(page, "integrations-connect-form", full_page=True)
    page.fill("#id_hubspot-token", fc.HUBSPOT_TOKEN)
    page.fill("#id_hubspot-map_phone", "")
    page.click("#form-hubspot button[value=save]")
    expect(page.locator(".flash")).to_contain_text("HubSpot settings saved.")
    expect(page.locator("#crm-hubspot header")).to_contain_text("Connected")
    assert fc.HUBSPOT_TOKEN not in page.content()
    page.click("#crm-hubspot button[value=test]")
    expect(page.locator(".flash")).to_contain_text("Connected: HubSpot account 4242")
    _shot(page, "integrations")
    _no_sideways_scroll(page)
    page.click("button[value=hook_create]")
    expect(page.locator("#hook-secret")).to_contain_text("whsec_")
    _shot(page, "integrations-hook", full_page=True)
    _no_sideways_scroll(page)

    page.goto(f"{live_site}/prospects/{prospect.pk}/")
    expect(page.locator("#crm-sync")).to_contain_text("Not sent to the CRM yet.")
    page.click("#crm-sync button:has-text('Send to HubSpot')")
    expect(page.locator("#crm-notice")).to_contain_text("Queued")

    def sent() -> bool:
        with tenant.scope():
            return CrmSyncLog.objects.filter(prospect=prospect, status=SyncStatus.OK).exists()

    for _ in range(100):
        if sent():
            break
        page.wait_for_timeout(100)
    page.reload()
    row = page.locator("#crm-log tbody tr").first
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text("CRM id")
    page.locator("#crm-sync").scroll_into_view_if_needed()
    _shot(page, "prospect-crm-log")
    _no_sideways_scroll(page)
    assert len(fake_crm.hs_contacts) == 1
