"""The inbox in Debian's chromium at 1366x900: the list filters over HTMX without a reload, a thread reads in
order with the quoted history one click away, an answer is sent from the thread, an outcome is one click; the
prospect page shows the replies and engagement next to the emails. No page scrolls sideways.

LAYOUT_SCREENSHOTS=/some/dir keeps a PNG of each page, to look at."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.tests.factories import CampaignFactory
from conftest import Tenant
from outreach.models import EventKind, Message, MessageStatus, ReplyIntent, ReplyKind
from outreach.tests.factories import EventFactory, MailboxFactory, MessageFactory, ReplyFactory
from prospects.models import Stage
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.tests.test_browser import log_in

pytest_plugins = ["leadgen.tests.browser"]

VIEWPORT = {"width": 1366, "height": 900}
SHOTS = os.environ.get("LAYOUT_SCREENSHOTS", "")


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _no_sideways_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width}px wide in a {inner}px window"


def _seed(tenant: Tenant):  # type: ignore[no-untyped-def]
    now = timezone.now()
    box = MailboxFactory(
        org=tenant.org, name="Sales desk", from_name="Sam Seller", from_email="sam@acme.test"
    )
    other_box = MailboxFactory(org=tenant.org, name="Founders", from_email="founders@acme.test")
    campaign = CampaignFactory(org=tenant.org, name="Q1 mid-market CFOs")
    company = CompanyFactory(org=tenant.org, name="Analytical Engines Ltd")
    ada = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@analytical-engines.example",
        title="Chief Financial Officer",
        company=company,
        owner=tenant.owner,
    )
    opener = MessageFactory(
        mailbox=box,
        prospect=ada,
        to_email=ada.email,
        status=MessageStatus.SENT,
        campaign_id=campaign.pk,
        subject="A faster month-end close at Analytical Engines",
        body_text="Hi Ada,\n\nTeams like yours close the books in four days with us. Worth a look?\n\nSam",
        sent_at=now - dt.timedelta(days=3),
    )
    follow = MessageFactory(
        mailbox=box,
        prospect=ada,
        to_email=ada.email,
        status=MessageStatus.SENT,
        campaign_id=campaign.pk,
        subject=f"Re: {opener.subject}",
        body_text="Hi Ada,\n\nShall I send the two-page summary?\n\nSam",
        in_reply_to=opener.message_id,
        references=opener.message_id,
        sent_at=now - dt.timedelta(days=1),
    )
    EventFactory(message=opener, kind=EventKind.OPENED, at=now - dt.timedelta(days=2))
    EventFactory(
        message=follow,
        kind=EventKind.CLICKED,
        url="https://acme.test/summary",
        at=now - dt.timedelta(hours=20),
    )
    EventFactory(
        message=follow,
        kind=EventKind.CLICKED,
        is_bot=True,
        bot_kind="scanner",
        bot_reason="Microsoft Defender Safe Links: clicked 2 s after delivery",
        at=now - dt.timedelta(days=1),
    )
    reply = ReplyFactory(
        message=follow,
        from_name="Ada Lovelace",
        from_email=ada.email,
        subject=f"Re: {opener.subject}",
        intent=ReplyIntent.INTERESTED,
        intent_provider="rules",
        campaign_id=campaign.pk,
        references=f"{opener.message_id} {follow.message_id}",
        received_at=now - dt.timedelta(hours=2),
        body_clean="Yes, please send it over. Could we talk on Tuesday afternoon?\n\nAda",
        body_text=(
            "Yes, please send it over. Could we talk on Tuesday afternoon?\n\nAda\n\n"
            "On Tue, Sam Seller <sam@acme.test> wrote:\n> Hi Ada,\n>\n> Shall I send the two-page summary?\n"
        ),
    )
    people = [
        ("Grace", "Hopper", ReplyIntent.NOT_NOW),
        ("Alan", "Turing", ReplyIntent.NOT_INTERESTED),
        ("Katherine", "Johnson", ReplyIntent.REFERRAL),
        ("Edsger", "Dijkstra", ""),
    ]
    for i, (first, last, intent) in enumerate(people):
        person = ProspectFactory(org=tenant.org, first_name=first, last_name=last)
        sent = MessageFactory(
            mailbox=other_box if i % 2 else box,
            prospect=person,
            to_email=person.email,
            status=MessageStatus.SENT,
            subject=f"An idea for {last} & Co",
            campaign_id=campaign.pk,
        )
        ReplyFactory(
            message=sent,
            from_name=f"{first} {last}",
            intent=intent,
            campaign_id=campaign.pk,
            received_at=now - dt.timedelta(hours=5 + i),
            read_at=now if i == 3 else None,
            body_clean="Thanks for reaching out. Not this quarter, maybe after the summer budget round.",
        )
    ReplyFactory(
        message=opener,
        kind=ReplyKind.AUTO_REPLY,
        subject=f"Out of office until {(now + dt.timedelta(days=9)):%d %B}",
        return_date=(now + dt.timedelta(days=9)).date(),
        from_email=ada.email,
        received_at=now - dt.timedelta(days=2, hours=12),
        body_text="I am out of the office with limited access to email.",
        body_clean="I am out of the office with limited access to email.",
    )
    return ada, reply


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_inbox_thread_answer_outcome_and_prospect_page(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    ada, reply = _seed(tenant)
    # The first request of a process imports every app's views (seconds on a loaded machine): pay it here,
    # not inside the browser's navigation timeout.
    assert tenant.owner_client.get("/").status_code == 200
    page = new_page("inbox", viewport=VIEWPORT)
    log_in(page, live_site, tenant.owner)
    page.goto(f"{live_site}/inbox/")
    expect(page.locator("#inbox-count mark")).to_have_text("4")
    rows = page.locator("#reply-list tbody tr")
    expect(rows).to_have_count(5)
    expect(page.get_by_text("Out of office until")).to_have_count(0)
    _no_sideways_scroll(page)
    _shot(page, "inbox")
    # A filter narrows the list over HTMX: the page is not reloaded (the marker survives).
    page.evaluate("window.__stay = 1")
    page.get_by_label("Intent").select_option("interested")
    expect(rows).to_have_count(1)
    assert page.evaluate("window.__stay") == 1 and "intent=interested" in page.url
    page.get_by_role("link", name="Auto-replies and bounces").click()
    expect(page.get_by_role("link", name="Out of office until")).to_be_visible()
    _shot(page, "inbox-automatic")

    page.goto(f"{live_site}/inbox/{reply.pk}/")
    thread = page.locator("#thread li")
    expect(thread).to_have_count(4)
    expect(thread.nth(0)).to_contain_text("four days")
    expect(thread.nth(1)).to_contain_text("out of office")
    expect(thread.nth(2)).to_contain_text("two-page summary")
    expect(thread.nth(3)).to_contain_text("Tuesday afternoon")
    _no_sideways_scroll(page)
    _shot(page, "thread")
    current = page.locator("#current-reply")
    quoted = current.locator("details.original .mail-body")
    expect(quoted).to_be_hidden()
    current.get_by_text("Show the whole email (with quoted history)").click()
    expect(quoted).to_be_visible()
    expect(quoted).to_contain_text("> Shall I send the two-page summary?")
    _no_sideways_scroll(page)
    _shot(page, "thread-original")
    page.get_by_label("Your answer").fill("Great, Tuesday at 3 pm works. Summary attached.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.get_by_text("is on its way")).to_be_visible()
    answer = Message.objects.unscoped().get(origin="inbox")
    assert answer.in_reply_to == reply.rfc_message_id and answer.mailbox.from_email == "sam@acme.test"
    page.get_by_role("button", name="Meeting booked").click()
    expect(page.get_by_text("Recorded for Ada Lovelace: Meeting booked.")).to_be_visible()
    ada.refresh_from_db()
    assert ada.stage == Stage.MEETING
    expect(page.locator("#inbox-count mark")).to_have_text("3")
    _shot(page, "thread-after-answer")

    page.goto(f"{live_site}/prospects/{ada.pk}/")
    panel = page.locator("#prospect-engagement")
    expect(panel).to_contain_text("1 open · 1 click · 2 replies")
    expect(panel).to_contain_text("1 automatic open or click by mail scanners")
    _no_sideways_scroll(page)
    panel.scroll_into_view_if_needed()
    _shot(page, "prospect")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_campaign_builder_shows_the_out_of_office_wait(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    campaign = CampaignFactory(org=tenant.org, name="Q1 mid-market CFOs")
    assert tenant.owner_client.get("/").status_code == 200
    page = new_page("builder", viewport=VIEWPORT)
    log_in(page, live_site, tenant.owner)
    page.goto(f"{live_site}/campaigns/{campaign.pk}/")
    wait = page.get_by_label("Out of office with no return date: wait (days)")
    expect(wait).to_have_value("7")
    wait.fill("3")
    page.locator("#builder button[name=action][value=save]").first.click()
    expect(page.get_by_label("Out of office with no return date: wait (days)")).to_have_value("3")
    campaign.refresh_from_db()
    assert campaign.ooo_pause_days == 3
    _no_sideways_scroll(page)
    page.get_by_label("Out of office with no return date: wait (days)").scroll_into_view_if_needed()
    _shot(page, "campaign-builder")
