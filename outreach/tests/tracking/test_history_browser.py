"""At 1366x900 the message page's history fits: long links and user agents clipped, no sideways scroll."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import Tenant
from outreach.models import Event
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.tests.factories import ProspectFactory

from . import fixtures as f

pytest_plugins = ["leadgen.tests.browser"]
VIEWPORT = {"width": 1366, "height": 900}
SHOTS = os.environ.get("LAYOUT_SCREENSHOTS", "")
LONG_URL = "https://www.internationale-handelsgesellschaft.test/de/produkte/praezisionsinstrumente/katalog?utm_source=email&utm_campaign=q4"


def _history(tenant: Tenant) -> int:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@example.test")
    sent = timezone.now() - dt.timedelta(hours=3)
    message = MessageFactory(
        mailbox=MailboxFactory(org=tenant.org),
        prospect=prospect,
        status="sent",
        sent_at=sent,
        subject="A quick idea for Internationale Handelsgesellschaft",
        meta={"track_opens": True, "track_clicks": True},
    )
    rows = [
        dict(kind="sent", at=sent, source="smtp"),
        dict(
            kind="opened",
            at=sent + dt.timedelta(seconds=3),
            is_bot=True,
            bot_kind="machine",
            bot_reason="Apple Mail Privacy Protection proxy (network and user agent)",
            ip_prefix="172.226.14.0/24",
            user_agent=f.APPLE_MPP_WEBKIT["ua"],
        ),
        dict(
            kind="clicked",
            at=sent + dt.timedelta(seconds=2),
            is_bot=True,
            bot_kind="scanner",
            bot_reason="clicked 2 s after sending",
            ip_prefix="40.93.29.0/24",
            user_agent=f.EDGE_WINDOWS,
            url=LONG_URL,
            link_index=0,
        ),
        dict(
            kind="opened",
            at=sent + dt.timedelta(hours=2),
            ip_prefix="66.249.84.0/24",
            user_agent=f.GMAIL_PROXY["ua"],
            meta={"via": "Gmail image proxy"},
        ),
        dict(
            kind="clicked",
            at=sent + dt.timedelta(hours=2, minutes=1),
            ip_prefix="203.0.113.0/24",
            user_agent=f.CHROME_MAC,
            url=LONG_URL,
            link_index=0,
        ),
    ]
    for row in rows:
        Event.objects.unscoped().create(org=tenant.org, message=message, prospect=prospect, **row)
    return message.pk


@pytest.mark.browser
def test_message_history_fits_a_laptop(live_site: str, new_page: Callable[..., Page], tenant: Tenant) -> None:
    message_id = _history(tenant)
    page = new_page("rep", viewport=VIEWPORT)
    client = Client()
    client.force_login(tenant.member)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])
    page.goto(f"{live_site}/outbox/{message_id}/", timeout=60_000)
    history = page.locator("#message-history")
    history.scroll_into_view_if_needed()
    expect(history).to_contain_text("1 opened by the person")
    expect(history).to_contain_text("1 machine open")
    expect(page.locator("#history-table tbody tr")).to_have_count(5)
    expect(history).to_contain_text("through the Gmail image proxy")
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width}px in {inner}px"
    table_right = page.evaluate("document.querySelector('#history-table').getBoundingClientRect().right")
    assert table_right <= inner
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "message-history.png"))
        page.screenshot(path=str(Path(SHOTS) / "message-history-full.png"), full_page=True)


@pytest.mark.browser
def test_campaign_tracking_switches_fit(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    from campaigns.tests.factories import campaign_with_steps

    campaign = campaign_with_steps(tenant.org)
    page = new_page("rep", viewport=VIEWPORT)
    client = Client()
    client.force_login(tenant.member)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])
    page.goto(f"{live_site}/campaigns/{campaign.pk}/", timeout=60_000)
    tracking = page.locator("fieldset", has_text="Tracking")
    tracking.evaluate("el => el.scrollIntoView({block: 'center'})")  # clear of the sticky save bar
    for label in (
        "Count opens (adds an invisible image)",
        "Count link clicks",
        "Send the first email as plain text",
    ):
        expect(tracking.get_by_label(label, exact=False)).to_be_visible()
    expect(tracking.get_by_label("Count opens", exact=False)).to_be_checked()
    expect(tracking.get_by_label("Send the first email", exact=False)).not_to_be_checked()
    right = page.evaluate(
        "[...document.querySelectorAll('fieldset label')].map(l => l.getBoundingClientRect().right)"
    )
    assert max(right) <= VIEWPORT["width"]
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "campaign-tracking.png"))
