"""Booking, cancelling and moving a meeting: the rows, the stage, the stopped campaign, the notification, the
webhook, and the invitations read back by `icalendar` and by an independent line parser."""

from __future__ import annotations

import datetime as dt
import email
from typing import Any

import icalendar
import pytest
from django.core import mail

from campaigns.meetings import services
from campaigns.meetings.models import Meeting, MeetingStatus, MeetingType
from campaigns.meetings.tokens import LinkTarget, link_token_make, link_token_read
from campaigns.models import EnrollmentState, StopReason
from campaigns.tests.factories import CampaignFactory
from conftest import Tenant
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.models import Activity, Notification, Prospect, Source, Stage, WebhookMessage
from prospects.tests.factories import ProspectFactory, WebhookEndpointFactory
from prospects.tests.scoring.test_pipeline import Receiver, verify_standard_webhook

from . import ical_lines

ADA = services.Visitor(
    name="Ada Lovelace",
    email="ada@engines.test",
    company="Analytical Engines",
    note="About the pilot",
    timezone="America/New_York",
)


def _calendar_parts(message: Any) -> list[tuple[str, str]]:
    """(method parameter, text) of every text/calendar part of a sent EmailMessage, read from its real bytes."""
    parsed = email.message_from_bytes(message.message().as_bytes())
    return [
        (part.get_param("method"), part.get_payload(decode=True).decode())
        for part in parsed.walk()
        if part.get_content_type() == "text/calendar"
    ]


def _first_slot(meeting_type: MeetingType) -> dt.datetime:
    return services.slots_for(meeting_type)[0]


@pytest.mark.django_db
def test_booking_makes_a_prospect_notifies_and_sends_both_invitations(
    tenant: Tenant, intro: MeetingType, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant.scope():
        endpoint = WebhookEndpointFactory(org=tenant.org, events=["meeting.booked"])
        WebhookEndpointFactory(org=tenant.org, events=["prospect.qualified"])
        start = _first_slot(intro)
        with django_capture_on_commit_callbacks(execute=True):
            meeting = services.meeting_book(meeting_type=intro, starts_at=start, visitor=ADA)
        prospect = Prospect.objects.get(email="ada@engines.test")
        assert (prospect.source, prospect.stage, prospect.first_name, prospect.last_name) == (
            Source.MEETING,
            Stage.MEETING,
            "Ada",
            "Lovelace",
        )
        assert meeting.prospect == prospect and meeting.ends_at - meeting.starts_at == dt.timedelta(
            minutes=30
        )
        assert Activity.objects.filter(prospect=prospect, kind="meeting_booked").exists()
        note = Notification.objects.get(user=tenant.owner, kind="meeting_booked")
        assert note.title.startswith("Ada Lovelace (Analytical Engines) booked Intro call")
        hooks = list(WebhookMessage.objects.all())
        assert [h.endpoint_id for h in hooks] == [endpoint.pk]
        assert hooks[0].payload["type"] == "meeting.booked"
        assert hooks[0].payload["data"]["visitor"]["email"] == "ada@engines.test"
        assert hooks[0].payload["data"]["starts_at"] == start.isoformat()

    assert sorted(m.to[0] for m in mail.outbox) == sorted(["ada@engines.test", tenant.owner.email])
    visitor_mail = next(m for m in mail.outbox if m.to == ["ada@engines.test"])
    assert "Your meeting with Hanna Host is booked." in visitor_mail.body
    assert "(America/New_York)" in visitor_mail.body and "/booking/" in visitor_mail.body
    [(method, ics)] = _calendar_parts(visitor_mail)
    assert method == "REQUEST"

    # icalendar reads it back ...
    calendar = icalendar.Calendar.from_ical(ics)
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == meeting.uid and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == start and event.decoded("DTEND") == meeting.ends_at
    assert str(event["ORGANIZER"]) == f"mailto:{tenant.owner.email}"
    assert "mailto:ada@engines.test" in [str(a) for a in event.get("ATTENDEE")]
    assert str(event["LOCATION"]) == "https://meet.example.test/hanna"
    # ... and so does a parser that shares no code with it.
    vcal = ical_lines.parse(ics)
    assert vcal.name == "VCALENDAR" and vcal.value("METHOD") == "REQUEST" and vcal.value("VERSION") == "2.0"
    [vevent] = [c for c in vcal.children if c.name == "VEVENT"]
    assert vevent.value("UID") == meeting.uid and vevent.value("SEQUENCE") == "0"
    assert vevent.value("DTSTART") == start.strftime("%Y%m%dT%H%M%SZ")
    assert vevent.value("ORGANIZER") == f"mailto:{tenant.owner.email}"
    assert vevent.params("ORGANIZER")["CN"] == "Hanna Host"
    assert any(
        p["CN"] == "Ada Lovelace" and v == "mailto:ada@engines.test" for p, v in vevent.props["ATTENDEE"]
    )


@pytest.mark.django_db
def test_a_known_person_is_matched_by_email_not_duplicated(tenant: Tenant, intro: MeetingType) -> None:
    with tenant.scope():
        known = ProspectFactory(
            org=tenant.org, email="ADA@engines.test", first_name="Augusta", stage=Stage.CONTACTED
        )
        meeting = services.meeting_book(meeting_type=intro, starts_at=_first_slot(intro), visitor=ADA)
        assert meeting.prospect_id == known.pk
        assert Prospect.objects.count() == 1
        known.refresh_from_db()
        assert (known.first_name, known.stage, known.source) == ("Augusta", Stage.MEETING, known.source)


@pytest.mark.django_db
def test_a_booking_link_attaches_to_its_prospect_and_message_and_stops_the_campaign(
    tenant: Tenant, intro: MeetingType
) -> None:
    with tenant.scope():
        prospect = ProspectFactory(org=tenant.org, email="grace@navy.test", first_name="Grace")
        campaign = CampaignFactory(org=tenant.org, status="active", owner=tenant.owner)
        enrollment = campaign.enrollments.create(
            org=tenant.org, prospect=prospect, timezone="UTC", timezone_source="fallback"
        )
        message = MessageFactory(
            mailbox=MailboxFactory(org=tenant.org), prospect=prospect, send_key="enrollment:1:step:1"
        )
        token = link_token_make(org_id=tenant.org.pk, prospect_id=prospect.pk, send_key=message.send_key)
        link = link_token_read(token)
        # A colleague books with another address: the meeting is still Grace's.
        visitor = services.Visitor(name="Grace's assistant", email="assistant@navy.test")
        meeting = services.meeting_book(
            meeting_type=intro, starts_at=_first_slot(intro), visitor=visitor, link=link
        )
        assert (meeting.prospect_id, meeting.message_id) == (prospect.pk, message.pk)
        assert not Prospect.objects.filter(email="assistant@navy.test").exists()
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, StopReason.MEETING)


@pytest.mark.django_db
def test_a_forged_or_foreign_link_is_ignored(
    tenant: Tenant, other_tenant: Tenant, intro: MeetingType
) -> None:
    with other_tenant.scope():
        stranger = ProspectFactory(org=other_tenant.org, email="stranger@globex.test")
    assert link_token_read(link_token_make(org_id=1, prospect_id=2, send_key="x") + "x") is None
    with tenant.scope():
        foreign = LinkTarget(org_id=other_tenant.org.pk, prospect_id=stranger.pk, send_key="x")
        meeting = services.meeting_book(
            meeting_type=intro, starts_at=_first_slot(intro), visitor=ADA, link=foreign
        )
        assert meeting.prospect is not None and meeting.prospect.email == "ada@engines.test"
    stranger.refresh_from_db()
    assert stranger.stage != Stage.MEETING


@pytest.mark.django_db
def test_a_time_not_offered_is_refused(tenant: Tenant, intro: MeetingType, host_profile: Any) -> None:
    with tenant.scope():
        first = _first_slot(intro)
        with pytest.raises(services.SlotUnavailable):
            services.meeting_book(meeting_type=intro, starts_at=first + dt.timedelta(minutes=7), visitor=ADA)
        services.meeting_book(meeting_type=intro, starts_at=first, visitor=ADA)
        with pytest.raises(services.SlotUnavailable):  # the check sees the committed booking
            services.meeting_book(meeting_type=intro, starts_at=first, visitor=ADA)
        assert Meeting.objects.count() == 1


@pytest.mark.django_db
def test_cancel_and_reschedule_keep_the_uid_and_raise_the_sequence(
    tenant: Tenant, intro: MeetingType, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant.scope():
        slots = services.slots_for(intro)
        with django_capture_on_commit_callbacks(execute=True):
            meeting = services.meeting_book(meeting_type=intro, starts_at=slots[0], visitor=ADA)
        with django_capture_on_commit_callbacks(execute=True):
            moved = services.meeting_reschedule(meeting=meeting, starts_at=slots[3])
        assert (moved.uid, moved.sequence, moved.starts_at) == (meeting.uid, 1, slots[3])
        assert slots[0] in services.slots_for(intro) and slots[3] not in services.slots_for(intro)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.meeting_cancel(meeting=moved, by="visitor")
        assert not services.meeting_cancel(meeting=moved, by="visitor")  # once
        moved.refresh_from_db()
        assert (moved.status, moved.sequence) == (MeetingStatus.CANCELLED, 2)
        assert slots[3] in services.slots_for(intro)

    to_ada = [m for m in mail.outbox if m.to == ["ada@engines.test"]]
    assert len(to_ada) == 3 and len(mail.outbox) == 6
    moved_ics = icalendar.Calendar.from_ical(_calendar_parts(to_ada[1])[0][1])
    [event] = moved_ics.walk("VEVENT")
    assert (str(moved_ics["METHOD"]), str(event["UID"]), int(event["SEQUENCE"])) == (
        "REQUEST",
        meeting.uid,
        1,
    )
    assert event.decoded("DTSTART") == slots[3]
    assert to_ada[1].subject.startswith("New time: ")
    method, cancel_text = _calendar_parts(to_ada[2])[0]
    assert method == "CANCEL" and to_ada[2].subject.startswith("Cancelled: ")
    cancel = ical_lines.parse(cancel_text)
    [vevent] = [c for c in cancel.children if c.name == "VEVENT"]
    assert cancel.value("METHOD") == "CANCEL"
    assert (vevent.value("UID"), vevent.value("SEQUENCE"), vevent.value("STATUS")) == (
        meeting.uid,
        "2",
        "CANCELLED",
    )


@pytest.mark.django_db
def test_a_suppressed_visitor_still_gets_the_meeting_but_no_prospect(
    tenant: Tenant, intro: MeetingType
) -> None:
    from prospects.tests.factories import SuppressionFactory

    with tenant.scope():
        SuppressionFactory(org=tenant.org, value="ada@engines.test")
        meeting = services.meeting_book(meeting_type=intro, starts_at=_first_slot(intro), visitor=ADA)
        assert meeting.prospect is None and not Prospect.objects.exists()


@pytest.mark.django_db
def test_meeting_booked_webhook_is_offered_signed_and_delivered(
    tenant: Tenant,
    intro: MeetingType,
    receiver: Receiver,
) -> None:
    from prospects.routing import webhooks

    assert "meeting.booked" in tenant.admin_client.get("/settings/webhooks/").content.decode()
    with tenant.scope():
        endpoint, secret = webhooks.webhook_endpoint_create(
            org=tenant.org, url=receiver.url("/hook"), events=["meeting.booked"], actor=tenant.admin
        )
        meeting = services.meeting_book(meeting_type=intro, starts_at=_first_slot(intro), visitor=ADA)
        [stored] = WebhookMessage.objects.filter(endpoint=endpoint)
        webhooks.webhook_message_deliver(message_pk=stored.pk)
    [post] = receiver.posts("/hook")
    event = verify_standard_webhook(secret=secret, headers=post.headers, body=post.body)
    assert event["type"] == "meeting.booked"
    assert event["data"]["uid"] == meeting.uid and event["data"]["prospect_id"] == meeting.prospect_id
    assert event["data"]["prospect_url"].endswith(f"/prospects/{meeting.prospect_id}/")
