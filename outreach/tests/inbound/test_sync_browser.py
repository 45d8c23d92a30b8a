"""In Debian's chromium at 1366x900: the mailbox page's "Sync now" finds a reply in a real Dovecot, then shows a
refused login in plain words."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from conftest import Tenant
from outreach.models import Reply
from outreach.tests.dovecot import Dovecot

from .conftest import fixture_mail, imap_mailbox, sent_message

pytest_plugins = ["leadgen.tests.browser"]

SHOTS = Path(os.environ.get("LEADGEN_SCREENSHOTS", "/tmp/leadgen-screenshots"))


def _log_in(page: Page, live_site: str, user: Any) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sync_now_on_the_mailbox_page(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant, dovecot: Dovecot
) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot, name="Sales desk")
    message = sent_message(mailbox, email="ada@prospect.test", first_name="Ada", last_name="Lovelace")
    dovecot.append([fixture_mail("gmail_interested.eml", message=message)])
    page = new_page("mailbox", viewport={"width": 1366, "height": 900})
    _log_in(page, live_site, tenant.owner)
    page.goto(f"{live_site}/settings/mailboxes/{mailbox.pk}/")
    expect(page.locator("#imap-sync")).to_contain_text("Not checked yet.")
    button = page.get_by_role("button", name="Sync now")
    expect(button).to_be_in_viewport()
    button.click()
    expect(page.locator("#sync-result")).to_have_text(
        "Checked 1 new email: 1 reply, out-of-office or bounce recorded."
    )
    expect(page.locator("#imap-sync")).to_contain_text("Last checked now.")
    assert Reply.objects.unscoped().filter(org=tenant.org, message=message).count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "mailbox-sync-now.png"))

    mailbox.refresh_from_db()
    mailbox.imap_password = "wrong"
    mailbox.save()
    page.get_by_role("button", name="Sync now").click()
    error = page.locator("#sync-error")
    expect(error).to_contain_text("Could not check for replies: The IMAP server refused the login")
    box = error.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1366
    page.screenshot(path=str(SHOTS / "mailbox-sync-error.png"))
