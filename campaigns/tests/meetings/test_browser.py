"""In Debian's chromium: a campaign email carrying {{ booking_link }} arrives on a real SMTP server; the
recipient opens the link (times shown in their own browser's timezone), picks a time and books; the Meeting is
theirs and the email's, the campaign stops for them, both sides get the invitation; the host sees it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icalendar
import pytest
from playwright.sync_api import Page, expect

from campaigns.enrollment import enrollment_create_many
from campaigns.meetings.models import BookingProfile, Meeting, MeetingType
from campaigns.models import Enrollment, EnrollmentState, StopReason, Variant
from campaigns.scheduler import tick
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from campaigns.tests.test_browser import log_in, send_due
from conftest import Tenant
from outreach.models import Message
from outreach.tests.factories import MailboxFactory
from prospects.models import Prospect, Stage
from prospects.tests.factories import ProspectFactory

if TYPE_CHECKING:
    from leadgen.tests.browser import SmtpSink

pytest_plugins = ["leadgen.tests.browser"]

# MEETINGS_SHOTS=<dir> keeps screenshots of each page for a person to look at.
SHOTS = Path(os.environ["MEETINGS_SHOTS"]) if os.environ.get("MEETINGS_SHOTS") else None


def shot(page: Page, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"  # type: ignore[index]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_recipient_books_from_the_link_in_a_campaign_email(
    live_site: str,
    new_page: Callable[..., Page],
    tenant: Tenant,
    host_profile: BookingProfile,
    intro: MeetingType,
    smtp_sink: SmtpSink,
    settings: Any,
) -> None:
    settings.OUTREACH_ALLOW_LOOPBACK = True
    tenant.org.postal_address = "1 Example Street, 10115 Berlin"
    tenant.org.save(update_fields=["postal_address"])
    mailbox = MailboxFactory(
        org=tenant.org,
        from_name="Hanna Host",
        from_email="hanna@acme.test",
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
    )
    with tenant.scope():
        host_profile.timezone = "Europe/Berlin"
        host_profile.mailbox = mailbox
        host_profile.save()
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], steps=2, owner=tenant.owner)
    with tenant.scope():
        Variant.objects.filter(step__campaign=campaign, step__order=0).update(
            subject="A time to talk, {{ first_name }}?",
            body="Hi {{ first_name }},\n\nIf it helps, pick a time here: {{ booking_link }}\n\nHanna\n",
        )
        ada = ProspectFactory(
            org=tenant.org,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@engines.test",
            company_name="Analytical Engines",
        )
        enrollment_create_many(campaign=campaign, prospect_ids=[ada.pk])
        campaign_launch(campaign=campaign)
    tick()
    assert send_due() == 1
    mail = smtp_sink.newest("ada@engines.test", subject_contains="A time to talk")
    link = mail.url("/book/")
    assert link.startswith(f"{live_site}/book/{host_profile.slug}/{intro.slug}/?t=")

    # --- the recipient, in New York, opens the link -----------------------------------------------------------
    visitor = new_page("visitor", viewport={"width": 1366, "height": 900}, timezone_id="America/New_York")
    visitor.goto(link)
    expect(visitor.locator("#tz")).to_have_value("America/New_York")  # the browser's zone, picked by the page
    expect(visitor.get_by_role("heading", name="Intro call", level=1)).to_be_visible()
    expect(visitor.get_by_text("Hanna Host").first).to_be_visible()
    _no_horizontal_scroll(visitor)
    shot(visitor, "booking-days-1366")
    first_time = visitor.locator("#times a").first
    chosen_label = first_time.inner_text()
    first_time.click()
    expect(visitor.locator("#chosen-time")).to_contain_text(chosen_label)
    expect(visitor.get_by_label("Your name")).to_have_value(
        "Ada Lovelace"
    )  # the link knows who it was sent to
    expect(visitor.get_by_label("Your email")).to_have_value("ada@engines.test")
    visitor.get_by_label("Anything we should know?").fill("Keen to see the pilot plan.")
    shot(visitor, "booking-form-1366")
    visitor.get_by_role("button", name="Book this time").click()
    expect(visitor.get_by_role("heading", name="You are booked")).to_be_visible()
    expect(visitor.locator("#meeting-time")).to_contain_text(chosen_label)
    expect(visitor.locator("#meeting-time")).to_contain_text("America/New_York")
    _no_horizontal_scroll(visitor)
    shot(visitor, "booking-confirmation-1366")

    # --- what that did ----------------------------------------------------------------------------------------
    with tenant.scope():
        meeting = Meeting.objects.get()
        sent = Message.objects.get(prospect=ada)
        enrollment = Enrollment.objects.get(prospect=ada)
        assert (meeting.prospect_id, meeting.message_id, meeting.visitor_timezone) == (
            ada.pk,
            sent.pk,
            "America/New_York",
        )
        assert meeting.visitor_note == "Keen to see the pilot plan."
        assert Prospect.objects.get(pk=ada.pk).stage == Stage.MEETING
    assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, StopReason.MEETING)
    invite = smtp_sink.newest("ada@engines.test", subject_contains="Intro call")
    assert invite.message["From"] == "Hanna Host <hanna@acme.test>"
    [calendar_part] = [p for p in invite.message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar_part.get_param("method") == "REQUEST"
    [event] = icalendar.Calendar.from_ical(calendar_part.get_content()).walk("VEVENT")
    assert str(event["UID"]) == meeting.uid and event.decoded("DTSTART") == meeting.starts_at
    assert smtp_sink.newest(tenant.owner.email, subject_contains="Intro call with Ada Lovelace")
    tick()
    assert (
        len(smtp_sink.mails_to("ada@engines.test")) == 2
    )  # the campaign email and the invitation: no follow-up

    # --- the recipient moves the meeting ------------------------------------------------------------------------
    visitor.get_by_role("button", name="Pick another time").click()
    expect(visitor.locator("#current-time")).to_contain_text(chosen_label)
    # a later day, which has a full day of times whatever the hour the test runs at (the first day may hold only
    # the booked slot when it is late in the host's working day)
    later_day = visitor.locator("#days a").nth(2)
    later_day.click()
    expect(visitor.locator("#days a").nth(2)).to_have_attribute("aria-current", "date")
    new_time = visitor.locator("#times a").nth(1)
    new_label = new_time.inner_text()
    new_time.click()
    shot(visitor, "booking-reschedule-1366")
    visitor.get_by_role("button", name="Move the meeting to this time").click()
    expect(visitor.get_by_role("heading", name="Your meeting has a new time")).to_be_visible()
    expect(visitor.locator("#meeting-time")).to_contain_text(new_label)
    moved = smtp_sink.newest("ada@engines.test", subject_contains="New time:")
    [moved_part] = [p for p in moved.message.walk() if p.get_content_type() == "text/calendar"]
    [moved_event] = icalendar.Calendar.from_ical(moved_part.get_content()).walk("VEVENT")
    assert (str(moved_event["UID"]), int(moved_event["SEQUENCE"])) == (meeting.uid, 1)
    meeting.refresh_from_db()
    assert moved_event.decoded("DTSTART") == meeting.starts_at != event.decoded("DTSTART")

    # --- on a phone, the same page fits -------------------------------------------------------------------------
    phone = new_page("phone", viewport={"width": 390, "height": 844}, timezone_id="Europe/London")
    phone.goto(link)
    expect(phone.locator("#tz")).to_have_value("Europe/London")
    expect(phone.locator("#times a").first).to_be_visible()
    _no_horizontal_scroll(phone)
    shot(phone, "booking-days-390")
    phone.goto(invite.url("/reschedule/").removesuffix("reschedule/"))  # the page the links sit on
    expect(phone.get_by_role("button", name="Pick another time")).to_be_visible()
    _no_horizontal_scroll(phone)
    shot(phone, "booking-manage-390")

    # --- the host sees it ---------------------------------------------------------------------------------------
    host = new_page("host", viewport={"width": 1366, "height": 900})
    log_in(host, live_site, tenant.owner)
    host.goto(f"{live_site}/settings/meetings/")
    expect(host.locator("#upcoming-meetings")).to_contain_text("Ada Lovelace")
    expect(host.locator("#meeting-types")).to_contain_text(f"/book/{host_profile.slug}/{intro.slug}/")
    _no_horizontal_scroll(host)
    shot(host, "settings-meetings-1366")
    host.goto(f"{live_site}/prospects/{ada.pk}/")
    expect(host.locator("#prospect-meetings")).to_contain_text("Intro call")
    expect(host.locator("#prospect-meetings")).to_contain_text("booked from a campaign email")
    expect(host.locator("#prospect-campaigns")).to_contain_text("Meeting booked")
    shot(host, "prospect-page-1366")
