"""In Debian's chromium: filter and bulk-edit the prospect list; drag a card on the pipeline board."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.models import User
from conftest import Tenant
from prospects.models import Activity, Prospect, Stage
from prospects.tests.factories import ProspectFactory

pytest_plugins = ["leadgen.tests.browser"]


def log_in(page: Page, live_site: str, user: User) -> None:
    """Reuse a Django session (the login form itself is covered by accounts' browser test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])
    page.goto(f"{live_site}/")


def rows(page: Page) -> list[str]:
    return page.locator("#prospect-table tbody tr td:nth-child(2)").all_inner_texts()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_filter_and_bulk_edit_the_list(live_site: str, new_page: Callable[..., Page], tenant: Tenant) -> None:
    for name in ("Ada", "Alan", "Grace"):
        ProspectFactory(org=tenant.org, first_name=name, last_name="Pioneer", title="Engineer")
    ProspectFactory(org=tenant.org, first_name="Bob", last_name="Other", title="Buyer", stage=Stage.QUALIFIED)
    ProspectFactory(org=tenant.org, first_name="<b>Mallory</b>", last_name="Evil", title="Spy")
    page = new_page("member")
    log_in(page, live_site, tenant.member)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prospects").click()
    expect(page.locator("#result-count")).to_have_text("5 prospects")
    expect(page.locator("#prospect-table")).to_contain_text(
        "<b>Mallory</b> Evil"
    )  # shown as text, not markup

    # Typing in the search box filters the table in place and puts the filter in the address bar.
    page.get_by_label("Search").fill("pioneer")
    expect(page.locator("#result-count")).to_have_text("3 prospects")
    expect(page).to_have_url(re.compile(r"q=pioneer"))
    assert sorted(rows(page)) == ["Ada Pioneer", "Alan Pioneer", "Grace Pioneer"]

    # Select all on the page, move them to "Contacted" and tag them.
    page.get_by_label("Select all on this page").check()
    expect(page.locator("#selected-count")).to_have_text("(3 selected)")
    page.locator("#bulk-action").select_option("stage")
    page.locator("#bulk-stage").select_option("contacted")
    page.locator("#bulk-form").get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_have_text("Updated 3 prospects.")
    expect(page.locator("#prospect-table tbody")).to_contain_text("Contacted")

    # Filter by the new stage with the checkbox: only the three moved prospects remain.
    page.get_by_label("Search").fill("")
    # Wait for the unfiltered answer before the next filter, so a late response cannot overwrite a newer one.
    expect(page.locator("#result-count")).to_have_text("5 prospects")
    page.locator("#filter-stage summary").click()  # the stage filter is a dropdown in the filter bar
    page.locator("#filters").get_by_label("Contacted").check()
    expect(page.locator("#result-count")).to_have_text("3 prospects")
    page.locator("#filter-stage summary").click()  # closes the dropdown
    expect(page.locator("#filter-stage summary")).to_have_text("Stage (1)")

    # Sorting by name keeps the stage filter.
    page.locator("#prospect-table thead").get_by_role("link", name="Name").click()
    expect(page.locator("#prospect-table thead th[aria-sort]")).to_contain_text("Name")
    expect(page.locator("#result-count")).to_have_text("3 prospects")

    # Delete one, confirming the dialog.
    page.locator("#prospect-table tbody tr", has_text="Grace Pioneer").get_by_role("checkbox").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_role("status")).to_have_text("Deleted 1 prospect.")
    expect(page.locator("#result-count")).to_have_text("2 prospects")

    # The change survived: a fresh load of the filtered URL shows the same two.
    page.reload()
    expect(page.locator("#result-count")).to_have_text("2 prospects")
    assert sorted(rows(page)) == ["Ada Pioneer", "Alan Pioneer"]
    with tenant.scope():
        assert Prospect.objects.filter(stage=Stage.CONTACTED).count() == 2
        assert not Prospect.objects.filter(first_name="Grace").exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_drag_a_card_on_the_board(live_site: str, new_page: Callable[..., Page], tenant: Tenant) -> None:
    card = ProspectFactory(org=tenant.org, first_name="Dragme", last_name="Please", stage=Stage.QUALIFIED)
    keyboard = ProspectFactory(org=tenant.org, first_name="Keys", last_name="Only", stage=Stage.NEW)
    page = new_page("member", viewport={"width": 1920, "height": 1080})
    log_in(page, live_site, tenant.member)
    page.goto(f"{live_site}/prospects/board/")
    qualified = page.locator('.board-column[data-stage="qualified"]')
    meeting = page.locator('.board-column[data-stage="meeting"]')
    expect(qualified).to_contain_text("Dragme Please")

    page.locator(".board-card", has_text="Dragme Please").drag_to(meeting)
    expect(meeting).to_contain_text("Dragme Please")
    expect(meeting.locator(".column-count")).to_have_text("1")
    expect(qualified).not_to_contain_text("Dragme Please")

    page.reload()
    expect(page.locator('.board-column[data-stage="meeting"]')).to_contain_text("Dragme Please")
    card.refresh_from_db()
    assert card.stage == Stage.MEETING
    with tenant.scope():
        assert Activity.objects.filter(prospect=card, kind="stage_changed").count() == 1

    # Keyboard alternative: focus the card's "Move to" menu and pick a stage with the keyboard.
    menu = page.get_by_label("Move Keys Only to")
    menu.focus()
    menu.select_option("replied")
    replied = page.locator('.board-column[data-stage="replied"]')
    expect(replied).to_contain_text("Keys Only")
    expect(page.get_by_label("Move Keys Only to")).to_be_focused()
    keyboard.refresh_from_db()
    assert keyboard.stage == Stage.REPLIED
