"""The scheduler end to end on the real database and a real SMTP peer: one message per (enrollment, step),
held with a reason when a variable is empty, threaded follow-ups, stop rules, pause and resume sending nothing twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.enrollment import enrollment_create_many, enrollment_resume
from campaigns.models import Enrollment, EnrollmentState, StopReason
from campaigns.scheduler import tick
from campaigns.scheduler.advance import advance_run, stops_run
from campaigns.scheduler.dispatch import dispatch_run, due_claim, enrollment_prepare
from campaigns.services import campaign_launch, campaign_pause, campaign_resume
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import Message, MessageStatus
from outreach.sending.engine import message_send
from outreach.tests.factories import MailboxFactory
from outreach.tests.smtp_peer import SmtpPeer
from prospects.models import Stage
from prospects.tests.factories import ProspectFactory


def _setup(tenant: Tenant, peer: SmtpPeer, *, prospects: int = 1, **fields):  # type: ignore[no-untyped-def]
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    mailbox = MailboxFactory(org=tenant.org, smtp_port=peer.port)
    fields.setdefault("steps", 2)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], **fields)
    people = [ProspectFactory(org=tenant.org, first_name=f"Ada{i}") for i in range(prospects)]
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in people])
        campaign_launch(campaign=campaign)
    return campaign, mailbox, people


def _send_due(tenant: Tenant) -> list[str]:
    with tenant.scope():
        due = Message.objects.filter(status=MessageStatus.QUEUED, scheduled_at__lte=timezone.now())
        return [message_send(message_id=pk) for pk in due.values_list("pk", flat=True)]


@pytest.mark.django_db
def test_a_due_enrollment_gets_exactly_one_message_per_step(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, mailbox, _ = _setup(tenant, peer)
    assert dispatch_run()["created"] == 1
    assert dispatch_run()["claimed"] == 0  # waiting on its message: not due again
    with tenant.scope():
        enrollment = Enrollment.objects.get(campaign=campaign)
        message = Message.objects.get()
        # A crash between the message and the enrollment update: preparing again links the same message.
        Enrollment.objects.filter(pk=enrollment.pk).update(current_message=None, next_send_at=timezone.now())
        assert enrollment_prepare(enrollment_id=enrollment.pk) == "linked"
        assert Message.objects.count() == 1
    assert message.send_key == f"enrollment:{enrollment.pk}:step:{enrollment.current_step_id}"
    assert message.status == MessageStatus.QUEUED and message.campaign_id == campaign.pk
    assert message.subject == "A: hello Ada0" and "{{" not in message.body_text
    assert message.meta == {
        "step": 1,
        "variant": "A",
        "enrollment_id": enrollment.pk,
        # The campaign's tracking switches (on by default), read at send time by outreach.tracking.
        "track_opens": True,
        "track_clicks": True,
        "plain": False,
    }
    assert message.mailbox_id == mailbox.pk


@pytest.mark.django_db
def test_two_claims_never_take_the_same_enrollment(tenant: Tenant, peer: SmtpPeer) -> None:
    _setup(tenant, peer, prospects=6)
    now = timezone.now()
    first, second = due_claim(now=now, batch=4), due_claim(now=now, batch=4)
    assert len(first) == 4 and len(second) == 2
    assert not {e for e, _ in first} & {e for e, _ in second}


@pytest.mark.django_db
def test_an_empty_variable_holds_the_enrollment_and_makes_no_message(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, [ada] = _setup(tenant, peer)
    ada.first_name = ""
    ada.save()
    assert dispatch_run()["held"] == 1
    with tenant.scope():
        enrollment = Enrollment.objects.get(campaign=campaign)
        assert Message.objects.count() == 0
    assert enrollment.state == EnrollmentState.PAUSED
    assert "{{ first_name }} is empty for this prospect in step 1 (variant A)" in enrollment.hold_reason
    # Fixed on the prospect and resumed: it goes out.
    ada.first_name = "Ada"
    ada.save()
    with tenant.scope():
        assert enrollment_resume(enrollment=enrollment)
    assert dispatch_run()["created"] == 1


@pytest.mark.django_db
def test_a_sent_step_advances_and_the_follow_up_replies_in_thread(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, _ = _setup(tenant, peer)
    dispatch_run()
    assert _send_due(tenant) == ["sent"]
    advance_run()
    with tenant.scope():
        enrollment = Enrollment.objects.select_related("current_step").get(campaign=campaign)
        first = Message.objects.get()
    assert enrollment.steps_sent == 1 and enrollment.current_step.order == 1
    # Step 2 waits 48 hours after the real send time.
    assert enrollment.next_send_at == first.sent_at + dt.timedelta(hours=48)
    dispatch_run(now=enrollment.next_send_at)
    with tenant.scope():
        follow_up = Message.objects.exclude(pk=first.pk).get()
    assert follow_up.in_reply_to == first.message_id and follow_up.references == first.message_id
    assert follow_up.subject == f"Re: {first.subject}"
    assert follow_up.scheduled_at == enrollment.next_send_at


@pytest.mark.django_db
def test_review_required_makes_drafts_not_queued_mail(tenant: Tenant, peer: SmtpPeer) -> None:
    _setup(tenant, peer, review_required=True)
    dispatch_run()
    with tenant.scope():
        assert Message.objects.get().status == MessageStatus.DRAFT


@pytest.mark.django_db
def test_a_reply_stops_the_enrollment_and_cancels_its_queued_message(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, [ada] = _setup(tenant, peer)
    dispatch_run()
    ada.stage = Stage.REPLIED
    ada.save()
    assert stops_run() == 1
    with tenant.scope():
        enrollment = Enrollment.objects.get(campaign=campaign)
        message = Message.objects.get()
    assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, StopReason.REPLIED)
    assert message.status == MessageStatus.CANCELLED
    assert peer.received == []


@pytest.mark.django_db
def test_the_send_guard_stops_on_a_rule_hit_right_before_sending(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, [ada] = _setup(tenant, peer)
    dispatch_run()
    ada.stage = Stage.MEETING  # no pull has run since
    ada.save()
    assert _send_due(tenant) == ["cancelled"]
    with tenant.scope():
        assert Enrollment.objects.get(campaign=campaign).stop_reason == StopReason.MEETING
        assert "Meeting booked" in Message.objects.get().hold_reason
    assert peer.received == []


@pytest.mark.django_db
def test_pausing_holds_queued_mail_and_resuming_sends_each_step_once(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, people = _setup(tenant, peer, prospects=3)
    dispatch_run()
    with tenant.scope():
        campaign_pause(campaign=campaign)
    assert _send_due(tenant) == ["held"] * 3
    assert dispatch_run()["claimed"] == 0
    with tenant.scope():
        assert set(Message.objects.values_list("hold_reason", flat=True)) == {"The campaign is paused."}
        campaign_resume(campaign=campaign)
    assert sorted(_send_due(tenant)) == ["sent"] * 3
    # Pause and resume again, tick again: nothing more for step 1.
    with tenant.scope():
        campaign_pause(campaign=campaign)
        campaign_resume(campaign=campaign)
    tick()
    assert _send_due(tenant) == []
    assert sorted(r.rcpt_tos[0] for r in peer.received) == sorted(p.email for p in people)


@pytest.mark.django_db
def test_an_ai_step_keeps_the_ai_text_and_records_the_provider(tenant: Tenant, peer: SmtpPeer) -> None:
    campaign, _, _ = _setup(tenant, peer, steps=1, review_required=True)
    with tenant.scope():
        campaign.steps.update(ai_personalise=True)
    assert dispatch_run()["created"] == 1
    with tenant.scope():
        message = Message.objects.get()
    assert message.status == MessageStatus.DRAFT
    assert message.draft_provider in {"rules", "template"} and message.ai_body == message.body_text
    assert "{{" not in message.body_text and "fell_back" in message.draft_notes
