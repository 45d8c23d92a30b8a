"""Campaigns reacting to engagement, with real Reply and Event rows: replies, unsubscribe requests, hard bounces,
human clicks and colleagues' replies stop; bots and auto-replies never stop; an out-of-office pauses the
enrollment until after the return date and it then goes on by itself at the right step, in its window."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from campaigns.enrollment import enrollment_create_many
from campaigns.models import Enrollment, EnrollmentState, StopReason
from campaigns.scheduler import tick
from campaigns.scheduler.advance import advance_run, stops_run
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.scheduler.pauses import pauses_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import EventKind, Message, MessageStatus, ReplyIntent, ReplyKind
from outreach.sending.engine import message_send
from outreach.tests.factories import EventFactory, MailboxFactory, ReplyFactory
from outreach.tests.smtp_peer import SmtpPeer
from prospects.tests.factories import CompanyFactory, ProspectFactory

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _setup(tenant: Tenant, peer: SmtpPeer, *, people=None, **fields):  # type: ignore[no-untyped-def]
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    mailbox = MailboxFactory(org=tenant.org, smtp_port=peer.port)
    fields.setdefault("steps", 2)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], **fields)
    people = people or [ProspectFactory(org=tenant.org, first_name="Ada")]
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in people])
        campaign_launch(campaign=campaign)
    return campaign, people


def _enrollment(tenant: Tenant, prospect) -> Enrollment:  # type: ignore[no-untyped-def]
    with tenant.scope():
        return Enrollment.objects.select_related("campaign", "prospect").get(prospect=prospect)


def _send_due(tenant: Tenant) -> list[str]:
    with tenant.scope():
        due = Message.objects.filter(status=MessageStatus.QUEUED, scheduled_at__lte=timezone.now())
        return [message_send(message_id=pk) for pk in due.values_list("pk", flat=True)]


def _first_step_sent(tenant: Tenant, peer: SmtpPeer, **fields) -> tuple[Enrollment, Message]:  # type: ignore[no-untyped-def]
    _, [ada] = _setup(tenant, peer, **fields)
    dispatch_run()
    assert _send_due(tenant) == ["sent"]
    advance_run()
    with tenant.scope():
        return _enrollment(tenant, ada), Message.objects.get()


def test_a_reply_since_the_enrollment_began_stops_it(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer)
    ReplyFactory(message=first, intent=ReplyIntent.INTERESTED)
    assert stops_run() == 1
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, StopReason.REPLIED)
    assert dispatch_run()["claimed"] == 0


def test_a_reply_from_before_the_enrollment_does_not_stop_it(tenant: Tenant, peer: SmtpPeer) -> None:
    ada = ProspectFactory(org=tenant.org)
    old = MailboxFactory(org=tenant.org)
    from outreach.tests.factories import MessageFactory

    earlier = MessageFactory(mailbox=old, prospect=ada, to_email=ada.email, status=MessageStatus.SENT)
    ReplyFactory(message=earlier, received_at=timezone.now() - dt.timedelta(days=30))
    _setup(tenant, peer, people=[ada])
    assert stops_run() == 0
    assert dispatch_run()["created"] == 1


def test_a_reply_between_the_pull_and_the_send_stops_the_send(tenant: Tenant, peer: SmtpPeer) -> None:
    _, [ada] = _setup(tenant, peer)
    dispatch_run()  # the pull has run, the message is queued
    with tenant.scope():
        message = Message.objects.get()
    ReplyFactory(message=message, received_at=timezone.now())  # e.g. a reply to another of our emails
    assert _send_due(tenant) == ["cancelled"]
    enrollment = _enrollment(tenant, ada)
    assert enrollment.stop_reason == StopReason.REPLIED
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED and "Replied" in message.hold_reason
    assert peer.received == []


def test_an_unsubscribe_request_by_reply_stops_whatever_the_rules(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer, stop_on=["bounce"])
    ReplyFactory(message=first, intent=ReplyIntent.NOT_INTERESTED)
    assert stops_run() == 0  # the campaign does not stop on replies
    ReplyFactory(message=first, intent=ReplyIntent.UNSUBSCRIBE, body_clean="Please remove me from your list.")
    assert stops_run() == 1
    enrollment.refresh_from_db()
    assert enrollment.stop_reason == StopReason.UNSUBSCRIBED


def test_a_hard_bounce_stops_and_a_soft_one_does_not(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer)
    ReplyFactory(message=first, kind=ReplyKind.BOUNCE, bounce_status="4.2.2", bounce_hard=False)
    assert stops_run() == 0
    ReplyFactory(message=first, kind=ReplyKind.BOUNCE, bounce_status="5.1.1", bounce_hard=True)
    assert stops_run() == 1
    enrollment.refresh_from_db()
    assert enrollment.stop_reason == StopReason.BOUNCED


def test_only_a_human_click_stops_and_only_when_the_campaign_says_so(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer, stop_on=["reply", "click"])
    EventFactory(
        message=first,
        kind=EventKind.CLICKED,
        is_bot=True,
        bot_kind="scanner",
        bot_reason="clicked 1 s after delivery",
    )
    assert stops_run() == 0
    EventFactory(message=first, kind=EventKind.CLICKED)
    assert stops_run() == 1
    enrollment.refresh_from_db()
    assert enrollment.stop_reason == StopReason.CLICKED


def test_a_click_does_not_stop_a_campaign_without_the_click_rule(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer)
    EventFactory(message=first, kind=EventKind.CLICKED)
    assert stops_run() == 0
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE


def test_a_colleagues_reply_stops_the_company_when_the_campaign_says_so(
    tenant: Tenant, peer: SmtpPeer
) -> None:
    company = CompanyFactory(org=tenant.org)
    ada, bob = (ProspectFactory(org=tenant.org, first_name=n, company=company) for n in ("Ada", "Bob"))
    _setup(tenant, peer, people=[ada, bob], stop_company=True)
    dispatch_run()
    with tenant.scope():
        to_ada = Message.objects.get(prospect=ada)
    ReplyFactory(message=to_ada)
    assert stops_run() == 2
    assert _enrollment(tenant, ada).stop_reason == StopReason.REPLIED
    assert _enrollment(tenant, bob).stop_reason == StopReason.COMPANY_REPLIED


def test_without_stop_company_a_colleague_goes_on(tenant: Tenant, peer: SmtpPeer) -> None:
    company = CompanyFactory(org=tenant.org)
    ada, bob = (ProspectFactory(org=tenant.org, first_name=n, company=company) for n in ("Ada", "Bob"))
    _setup(tenant, peer, people=[ada, bob])
    dispatch_run()
    with tenant.scope():
        to_ada = Message.objects.get(prospect=ada)
    ReplyFactory(message=to_ada)
    assert stops_run() == 1
    assert _enrollment(tenant, bob).state == EnrollmentState.ACTIVE


def test_out_of_office_pauses_until_after_the_return_date_then_goes_on(
    tenant: Tenant, peer: SmtpPeer
) -> None:
    ada = ProspectFactory(org=tenant.org, first_name="Ada", timezone="Europe/Berlin")
    campaign, _ = _setup(tenant, peer, people=[ada], window_start=dt.time(9, 0), window_end=dt.time(17, 0))
    # Step 1 is made inside Berlin's window (tomorrow at the latest) and, for this test, went out now.
    assert dispatch_run(now=timezone.now() + dt.timedelta(days=1))["created"] == 1
    with tenant.scope():
        first = Message.objects.get()
    Message.objects.unscoped().filter(pk=first.pk).update(status=MessageStatus.SENT, sent_at=timezone.now())
    advance_run()
    enrollment = _enrollment(tenant, ada)
    assert enrollment.current_step.order == 1 and enrollment.next_send_at is not None
    back = timezone.now().astimezone(BERLIN).date() + dt.timedelta(days=10)
    ReplyFactory(message=first, kind=ReplyKind.AUTO_REPLY, return_date=back, subject="Abwesenheitsnotiz")
    assert stops_run() == 0  # an auto-reply is never a reply
    assert pauses_run() == 1
    assert pauses_run() == 0  # applied once
    enrollment.refresh_from_db()
    resume = dt.datetime.combine(back + dt.timedelta(days=1), dt.time(9, 0), tzinfo=BERLIN)
    assert enrollment.state == EnrollmentState.ACTIVE
    assert enrollment.next_send_at == resume and enrollment.paused_until == resume
    # Nothing is due before then; at that moment step 2 is made, in the thread, inside Berlin's window.
    assert dispatch_run(now=resume - dt.timedelta(hours=2))["claimed"] == 0
    assert dispatch_run(now=resume)["created"] == 1
    with tenant.scope():
        follow_up = Message.objects.exclude(pk=first.pk).get()
    assert follow_up.meta["step"] == 2 and follow_up.in_reply_to == first.message_id
    assert follow_up.scheduled_at == resume
    assert campaign.pk == follow_up.campaign_id


def test_out_of_office_without_a_date_pauses_the_campaigns_days_and_holds_a_made_message(
    tenant: Tenant, peer: SmtpPeer
) -> None:
    _, [ada] = _setup(tenant, peer, ooo_pause_days=3)
    dispatch_run()
    with tenant.scope():
        queued = Message.objects.get()
    ReplyFactory(message=queued, kind=ReplyKind.AUTO_REPLY, return_date=None, received_at=timezone.now())
    tick()
    queued.refresh_from_db()
    enrollment = _enrollment(tenant, ada)
    expected_day = timezone.now().date() + dt.timedelta(days=3)
    assert enrollment.paused_until.date() == expected_day and enrollment.state == EnrollmentState.ACTIVE
    assert queued.status == MessageStatus.QUEUED and queued.scheduled_at == enrollment.paused_until
    assert "Out of office" in queued.hold_reason
    assert _send_due(tenant) == []  # not due: the engine claims only what is due
    assert peer.received == []


def test_a_soft_bounce_sends_the_step_again_a_day_later_once(tenant: Tenant, peer: SmtpPeer) -> None:
    enrollment, first = _first_step_sent(tenant, peer)
    step_one = first.send_key.rsplit(":", 1)[1]
    assert enrollment.current_step.order == 1 and enrollment.steps_sent == 1
    bounced_at = timezone.now()
    ReplyFactory(
        message=first, kind=ReplyKind.BOUNCE, bounce_status="4.2.2", bounce_hard=False, received_at=bounced_at
    )
    assert stops_run() == 0
    assert pauses_run() == 1 and pauses_run() == 0
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE and str(enrollment.current_step_id) == step_one
    assert enrollment.step_retries == 1 and enrollment.steps_sent == 0
    assert enrollment.next_send_at >= bounced_at + dt.timedelta(hours=24)
    assert dispatch_run(now=enrollment.next_send_at - dt.timedelta(hours=2))["claimed"] == 0
    assert dispatch_run(now=enrollment.next_send_at)["created"] == 1
    with tenant.scope():
        retry = Message.objects.exclude(pk=first.pk).get()
    assert retry.send_key == f"{first.send_key}:retry:1" and retry.subject == first.subject
    Message.objects.unscoped().filter(pk=retry.pk).update(scheduled_at=timezone.now())
    assert _send_due(tenant) == ["sent"]  # the send guard knows the retry's key
    advance_run()
    enrollment.refresh_from_db()
    assert enrollment.current_step.order == 1 and enrollment.step_retries == 0 and enrollment.steps_sent == 1
    assert [r.rcpt_tos for r in peer.received] == [[first.to_email], [first.to_email]]


def test_the_out_of_office_wait_is_a_campaign_setting_in_the_api(tenant: Tenant) -> None:
    api = tenant.api()
    body = {"name": "Spring", "ooo_pause_days": 3}
    created = api.post("/api/v1/campaigns", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["ooo_pause_days"] == 3
    url = f"/api/v1/campaigns/{created.json()['id']}"
    assert (
        api.patch(url, {"ooo_pause_days": 10}, content_type="application/json").json()["ooo_pause_days"] == 10
    )
    refused = api.patch(url, {"ooo_pause_days": 0}, content_type="application/json")
    assert refused.status_code == 422
    default = api.post("/api/v1/campaigns", {"name": "Default"}, content_type="application/json").json()
    assert default["ooo_pause_days"] == 7
