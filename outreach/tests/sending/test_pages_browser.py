"""In chromium at 1366x900: choosing the primary ICP, Settings → Email writing, and settling an email whose
sending was interrupted. Each page fits without sideways scrolling; LAYOUT_SCREENSHOTS=/dir keeps the pictures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import Tenant
from outreach.models import Message, MessageStatus
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.models import ICP
from prospects.tests.factories import ICPFactory
from prospects.tests.test_browser import log_in
from prospects.tests.test_layout_browser import VIEWPORT, _no_sideways_scroll, _shot

pytest_plugins = ["leadgen.tests.browser"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_primary_icp_writing_settings_and_an_interrupted_email(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    ICPFactory(org=tenant.org, name="Platform teams")
    revenue = ICPFactory(org=tenant.org, name="Revenue leaders in mid-market SaaS")
    message = MessageFactory(
        mailbox=MailboxFactory(org=tenant.org, from_email="grace@sender.test"),
        subject="Deploy times at Cloudstack",
        status=MessageStatus.UNKNOWN,
        slot_at=timezone.now(),
    )
    page = new_page("admin", viewport=VIEWPORT)
    log_in(page, live_site, tenant.admin)

    page.goto(f"{live_site}/icps/{revenue.pk}/")
    page.get_by_role("button", name="Make primary").click()
    expect(page.locator("#icp-primary-badge")).to_have_text("Primary")
    _shot(page, "icp-primary")
    _no_sideways_scroll(page)
    assert ICP.objects.unscoped().get(is_primary=True) == revenue

    page.goto(f"{live_site}/settings/email-writing/")
    page.get_by_label("Your own tracking domain (optional)").fill("track.acme.test/path")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#tracking_domain-error")).to_contain_text("Enter a host name")
    page.get_by_label("Your own tracking domain (optional)").fill("track.acme.test")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Email writing settings saved.")).to_be_visible()
    _shot(page, "email-writing")
    _no_sideways_scroll(page)

    page.goto(f"{live_site}/outbox/")
    expect(page.get_by_role("cell", name="Not confirmed (sending was interrupted)")).to_be_visible()
    _shot(page, "outbox")
    _no_sideways_scroll(page)

    page.goto(f"{live_site}/outbox/{message.pk}/")
    expect(page.locator("#unknown-settle")).to_contain_text("Did this email leave?")
    _shot(page, "unknown-settle")
    _no_sideways_scroll(page)
    page.get_by_role("button", name="It was delivered").click()
    expect(page.get_by_text("Marked as sent")).to_be_visible()
    assert Message.objects.unscoped().get(pk=message.pk).status == MessageStatus.SENT
