"""In Debian's chromium, the whole campaign path of issue #10: build a two-step campaign with A/B subjects, enroll
from the prospect list, approve in review, receive the mail on a real SMTP server, unsubscribe through the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import Campaign, Enrollment, EnrollmentState, StopReason
from campaigns.scheduler import tick
from conftest import Tenant
from outreach.models import Message, MessageStatus
from outreach.sending.engine import due_batches
from outreach.tasks import messages_send_task
from outreach.tests.factories import MailboxFactory
from prospects.models import Suppression
from prospects.tests.factories import ProspectFactory

if TYPE_CHECKING:
    from leadgen.tests.browser import SmtpSink

pytest_plugins = ["leadgen.tests.browser"]

SUBJECT_A = "Quick question, {{ first_name }}"
SUBJECT_B = "An idea for {{ company_name|default:'your team' }}"


def log_in(page: Page, live_site: str, user: User) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])
    page.goto(f"{live_site}/")


def send_due() -> int:
    """What beat and the `send` queue do, in this process: enqueue due messages and send them."""
    sent = 0
    for org_id, ids in due_batches(
        limit=settings.OUTREACH_DISPATCH_BATCH, chunk=settings.OUTREACH_SEND_CHUNK
    ):
        sent += messages_send_task(org_id, ids).get("sent", 0)
    return sent


def fill_variant(page: Page, step: int, variant: int, *, subject: str | None, body: str) -> None:
    box = page.locator(f"#variant-{step}-{variant}")
    if subject is not None:
        box.get_by_label("Subject").fill(subject)
    box.get_by_label("Body").fill(body)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_build_enroll_review_receive_and_unsubscribe(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant, smtp_sink: SmtpSink, settings: Any
) -> None:
    settings.OUTREACH_ALLOW_LOOPBACK = True  # the mailbox sends to the sink on 127.0.0.1
    tenant.org.postal_address = "1 Example Street, 10115 Berlin"
    tenant.org.save(update_fields=["postal_address"])
    MailboxFactory(
        org=tenant.org,
        name="Sales desk",
        from_email="sam@acme.test",
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
    )
    ada = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.test",
        company_name="Analytical Engines",
        location="Berlin, Germany",
    )
    ProspectFactory(org=tenant.org, first_name="Bob", last_name="Other", email="bob@example.test")

    page = new_page("member")
    log_in(page, live_site, tenant.member)

    # --- build ---------------------------------------------------------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_placeholder("Name of a new campaign").fill("Spring outreach")
    page.get_by_role("button", name="New campaign").click()
    expect(page.get_by_role("heading", name="Spring outreach", level=1)).to_be_visible()
    # Every day, all day, so the test does not depend on the clock; drafts wait for review.
    for day in ("Sat", "Sun"):
        page.get_by_label(day, exact=True).check()
    page.get_by_label("Send from (recipient's time)").fill("00:00")
    page.get_by_label("Send until").fill("23:59")
    page.get_by_label("Review every email before it is sent").check()
    fill_variant(page, 0, 0, subject=SUBJECT_A, body="Hi {{ first_name }},\n\nVariant A of step one.\n")
    page.get_by_role("button", name="Add A/B variant").click()
    expect(page.locator("#variant-0-1")).to_be_visible()
    fill_variant(page, 0, 1, subject=SUBJECT_B, body="Hi {{ first_name }},\n\nVariant B of step one.\n")
    page.get_by_role("button", name="Add a step").click()
    expect(page.locator("#step-1")).to_contain_text("Step 2")
    fill_variant(page, 1, 0, subject=None, body="Hi {{ first_name }},\n\nA short follow-up.\n")

    # The live preview renders variant B for the chosen prospect.
    page.get_by_label("Preview as").select_option(label="Ada Lovelace · Analytical Engines")
    page.locator("#variant-0-1").get_by_role("button", name="Preview for the chosen prospect").click()
    expect(page.locator("#preview-0-1")).to_contain_text("An idea for Analytical Engines")

    page.get_by_role("button", name="Save campaign").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#campaign-status")).to_have_text("Active")
    with tenant.scope():
        campaign = Campaign.objects.get(name="Spring outreach")
        steps = list(campaign.steps.prefetch_related("variants"))
    assert [[v.subject for v in s.variants.all()] for s in steps] == [[SUBJECT_A, SUBJECT_B], [""]]
    assert campaign.review_required and campaign.send_days == [1, 2, 3, 4, 5, 6, 7]

    # --- enroll from the prospect list -----------------------------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prospects").click()
    page.get_by_label("Select Ada Lovelace").check()
    page.get_by_role("button", name="Add to campaign").click()
    expect(page.get_by_text("Add 1 prospect to")).to_be_visible()
    page.get_by_label("Add 1 prospect to").select_option(label="Spring outreach (active)")
    page.get_by_role("button", name="Add to campaign").click()
    expect(page.locator("#add-summary")).to_have_text("1 of 1 added to Spring outreach.")

    # --- the scheduler writes the first email; it waits for review ------------------------------------------------
    tick()
    with tenant.scope():
        enrollment = Enrollment.objects.get(campaign=campaign, prospect=ada)
        draft = Message.objects.get(prospect=ada)
    assert draft.status == MessageStatus.DRAFT
    expected_subject = (
        "Quick question, Ada" if enrollment.variant_slot == 0 else "An idea for Analytical Engines"
    )
    assert draft.subject == expected_subject

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name=re.compile(r"Review queue")).first.click()
    item = page.locator(f"#draft-{draft.pk}")
    expect(item).to_contain_text("ada@example.test")
    expect(item.get_by_label("Subject")).to_have_value(expected_subject)
    item.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="Approved 1 email.")).to_be_visible()

    # --- send, and the mail arrives at the SMTP server ---------------------------------------------------------
    assert send_due() == 1
    mail = smtp_sink.newest("ada@example.test")
    assert mail.subject == expected_subject
    assert "Hi Ada," in mail.text and "{{" not in mail.text and "1 Example Street" in mail.text
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.message["Message-ID"] == draft.message_id
    assert send_due() == 0  # nothing is sent twice
    assert len(smtp_sink.mails_to("ada@example.test")) == 1

    # The prospect page shows the campaign, moved on to step 2, and the email as sent.
    tick()
    page.goto(f"{live_site}/prospects/{ada.pk}/")
    expect(page.locator("#effective-timezone")).to_contain_text("Europe/Berlin (inferred from location)")
    expect(page.locator("#prospect-campaigns")).to_contain_text("Spring outreach")
    expect(page.locator("#prospect-campaigns")).to_contain_text("2 of 2")
    expect(page.locator("#prospect-messages")).to_contain_text(expected_subject)
    expect(page.locator("#prospect-messages")).to_contain_text("Sent")

    # --- unsubscribe through the link in the mail ------------------------------------------------------------------
    link = mail.url("/u/")
    assert link.startswith(live_site)
    recipient = new_page("recipient")
    recipient.goto(link)
    expect(recipient.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    expect(recipient.get_by_text("ada@example.test")).to_be_visible()
    with tenant.scope():  # opening the link alone unsubscribes nobody (scanners follow links)
        assert not Suppression.objects.filter(value="ada@example.test").exists()
    recipient.get_by_role("button", name="Unsubscribe").click()
    expect(recipient.get_by_role("heading", name="You are unsubscribed")).to_be_visible()

    tick()  # campaigns pulls the unsubscribe and stops the enrollment
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, StopReason.UNSUBSCRIBED)
    with tenant.scope():
        assert Suppression.objects.filter(value="ada@example.test").exists()
        assert Message.objects.filter(prospect=ada).count() == 1
    page.reload()
    expect(page.locator("#prospect-campaigns")).to_contain_text("Unsubscribed")
