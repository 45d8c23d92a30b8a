"""At 1366x900 (a rep's laptop) the prospect pages fit: no sideways page scroll, the list's first row above the
fold, the score panel inside the window, every board column reachable inside the board."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import Tenant
from prospects.models import Stage
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory, QualificationFactory
from prospects.tests.test_browser import log_in

pytest_plugins = ["leadgen.tests.browser"]

VIEWPORT = {"width": 1366, "height": 900}
# LAYOUT_SCREENSHOTS=/some/dir keeps a PNG of each page, to look at.
SHOTS = os.environ.get("LAYOUT_SCREENSHOTS", "")


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _no_sideways_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(
        """inner => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > inner)
            .slice(0, 8).map(el => `${el.tagName}#${el.id}.${el.className} in #${el.parentElement.closest("[id]")?.id} ${Math.round(el.getBoundingClientRect().right)} hidden=${el.offsetParent === null}`)""",
        inner,
    )
    assert width <= inner, (
        f"the page scrolls sideways: {width}px wide in a {inner}px window; too wide: {wide}"
    )


def _long_data(tenant: Tenant) -> int:
    icp = ICPFactory(org=tenant.org, name="Revenue leaders in mid-market SaaS")
    company = CompanyFactory(
        org=tenant.org,
        name="Internationale Handelsgesellschaft für Präzisionsinstrumente",
        domain="ihp-instruments.test",
    )
    first = None
    for i, stage in enumerate(list(Stage.values) * 3):
        prospect = ProspectFactory(
            org=tenant.org,
            first_name=f"Maximiliane{i}",
            last_name="Oberhauser-Wittgenstein",
            email=f"maximiliane.oberhauser-wittgenstein{i}@ihp-instruments.test",
            title="Senior Vice President, Global Revenue Operations and Strategic Partnerships",
            company=company,
            owner=tenant.member,
            stage=stage,
            score=40 + i,
            tier="A" if i % 3 == 0 else "B" if i % 3 == 1 else "disqualified",
            seniority="vp",
            linkedin_url=f"https://www.linkedin.com/in/maximiliane-oberhauser-wittgenstein-{i}-a1b2c3d4e5",
            score_breakdown={
                "fit": 80,
                "intent": 35,
                "engagement": 0,
                "weights": {"fit": 0.6, "intent": 0.25, "engagement": 0.15},
                "components": {
                    "judgement": 82,
                    "similarity": 0.57,
                    "intent": {"source": "manual", "source_points": 10, "keywords": ["pricing", "demo"]},
                    "engagement": {"note": "no human email events yet"},
                },
                "provider": "rules",
                "best_icp_name": icp.name,
            },
        )
        first = first or prospect
        QualificationFactory(
            org=tenant.org,
            prospect=prospect,
            icp=icp,
            score=40 + i,
            tier="B",
            similarity=0.57,
            prompt_version="rules-v1",
            reasoning="Matches seniority (VP) and title keywords; the industry and company size are not on record.",
            red_flags=["Company data missing: industry, company size"],
        )
    assert first is not None
    return first.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_prospect_pages_fit_a_1366_screen(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    prospect_id = _long_data(tenant)
    page = new_page("rep", viewport=VIEWPORT)
    log_in(page, live_site, tenant.member)

    # The list: the first row of the table shows without scrolling, and nothing pushes the page sideways.
    page.goto(f"{live_site}/prospects/")
    first_row = page.locator("#prospect-table tbody tr").first
    expect(first_row).to_be_visible()
    _shot(page, "list")
    _no_sideways_scroll(page)
    box = first_row.bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], (
        f"first row below the fold: {box}"
    )
    table = page.locator("#prospect-table").bounding_box()
    assert table is not None and table["x"] + table["width"] <= VIEWPORT["width"], f"table cut off: {table}"
    # Dates stay on one line: the date's text is one line box, as high as one line of text.
    date = first_row.locator("td.date time").first
    line_height = date.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
    assert (date.bounding_box() or {"height": 99})["height"] < 1.5 * line_height
    # Long names, emails and titles are shortened with an ellipsis, the whole value on hover.
    email = first_row.locator("td").nth(2)
    assert (
        email.get_attribute("title", timeout=1000) == email.inner_text().strip()
        or "…" not in email.inner_text()
    )
    expect(page.locator("#prospect-table thead")).to_contain_text("Tier")

    # The prospect page: the score panel is inside the window.
    page.goto(f"{live_site}/prospects/{prospect_id}/")
    score = page.locator("#score")
    expect(score).to_be_visible()
    _shot(page, "detail")
    _no_sideways_scroll(page)
    panel = score.bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= VIEWPORT["width"], panel

    # The board: the page does not scroll sideways; the board does, and its last column can be reached.
    page.goto(f"{live_site}/prospects/board/")
    columns = page.locator(".board-column")
    expect(columns.first).to_be_visible()
    _shot(page, "board")
    _no_sideways_scroll(page)
    last = columns.last
    last.scroll_into_view_if_needed()
    last_box = last.bounding_box()
    assert last_box is not None and last_box["x"] + last_box["width"] <= VIEWPORT["width"] + 1, last_box
    _shot(page, "board-scrolled")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_orgs_pages_fit_a_1366_screen(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    page = new_page("new org", viewport=VIEWPORT)
    log_in(page, live_site, tenant.member)
    expect(page.locator("#onboarding")).to_contain_text("Define your ideal customer profile")
    _shot(page, "dashboard")
    _no_sideways_scroll(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prospects").click()
    expect(page.locator("#onboarding")).to_be_visible()
    _shot(page, "list-empty")
    _no_sideways_scroll(page)
    page.locator("#add-prospect").click()
    expect(page.get_by_role("heading", name="Add prospect")).to_be_visible()
    _shot(page, "new")
    _no_sideways_scroll(page)
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("LinkedIn URL").fill("javascript:alert(1)")
    page.get_by_role("button", name="Add prospect").click()
    expect(page.locator("#id_linkedin_url-error")).to_contain_text("http:// or https://")
    _shot(page, "new-error")
    page.get_by_label("LinkedIn URL").fill("linkedin.com/in/ada-lovelace")
    page.get_by_label("Seniority").select_option(label="C-level")
    page.get_by_label("Company name").fill("Analytical Engines")
    page.get_by_role("button", name="Add prospect").click()
    expect(page.get_by_role("status")).to_contain_text("Added Ada Lovelace")
    expect(page.get_by_role("link", name="linkedin.com/in/ada-lovelace")).to_have_attribute(
        "href", "https://linkedin.com/in/ada-lovelace"
    )
    _shot(page, "added")
    _no_sideways_scroll(page)
