"""In Debian's chromium: the ICP editor re-ranks its top matches as the criteria are typed, then saves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import Tenant
from prospects.models import ICP
from prospects.scoring.embedding import prospects_embed
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.tests.test_browser import log_in

pytest_plugins = ["leadgen.tests.browser"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_matches_follow_the_editor(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    software = CompanyFactory(
        org=tenant.org, name="Cloudstack", industry="Computer Software", employee_count=250
    )
    bakery = CompanyFactory(org=tenant.org, name="Crumbs", industry="Food & Beverages", employee_count=6)
    people = [
        ProspectFactory(
            org=tenant.org,
            first_name="Eve",
            last_name="Engineer",
            title="VP of Engineering",
            company=software,
            company_name="Cloudstack",
        ),
        ProspectFactory(
            org=tenant.org,
            first_name="Bob",
            last_name="Baker",
            title="Head Baker",
            company=bakery,
            company_name="Crumbs",
        ),
    ]
    with tenant.scope():
        prospects_embed(prospect_ids=[p.pk for p in people])
    page = new_page("member")
    log_in(page, live_site, tenant.member)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="ICPs").click()
    page.get_by_role("button", name="New ICP").or_(page.get_by_role("link", name="New ICP")).click()

    matches = page.locator("#live-matches-table tbody tr")
    page.get_by_label("Name", exact=True).fill("Bakers")
    page.get_by_label("Description").fill("Owners of small family bakeries")
    page.get_by_label("Industries").fill("Food & Beverages")
    expect(matches.first).to_contain_text("Bob Baker")
    page.get_by_label("Exclusions").fill("Cloudstack")
    expect(page.locator("#live-matches")).not_to_contain_text("Eve Engineer")

    # Pick an example customer through the search, then save.
    page.get_by_label("Find prospects or companies").fill("baker")
    page.get_by_label("Bob Baker").check()
    page.get_by_role("button", name="Create ICP").click()
    expect(page.get_by_role("heading", name="Bakers")).to_be_visible()
    expect(page.locator("#icp-matches tbody tr").first).to_contain_text("Bob Baker")
    with tenant.scope():
        assert ICP.objects.get(name="Bakers").example_prospect_ids == [people[1].pk]
