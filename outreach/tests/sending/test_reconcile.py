"""`unknown` messages settled: by the ESP's records where it keeps them (Mailgun events, Postmark search), by a
person otherwise; a campaign goes on by itself once its held step is settled as sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.enrollment import enrollment_create_many
from campaigns.models import Enrollment, EnrollmentState
from campaigns.scheduler.advance import advance_run
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import Message, MessageStatus
from outreach.sending.engine import message_send
from outreach.sending.reconcile import unknown_reconcile_run
from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tests.fake_esp import fake_esp
from outreach.tests.smtp_peer import SmtpPeer
from prospects.tests.factories import ProspectFactory

LONG_AGO = dt.timedelta(hours=2)


def _unknown(tenant: Tenant, *, esp: str = "", age: dt.timedelta = LONG_AGO, **mailbox: Any) -> Message:
    if esp:
        mailbox |= {"kind": "esp", "esp": esp, "esp_api_key": "key-123"}
    attempted = timezone.now() - age
    return MessageFactory(
        mailbox=MailboxFactory(org=tenant.org, **mailbox),
        status=MessageStatus.UNKNOWN,
        slot_at=attempted,
        claimed_at=attempted,
        updated_at=attempted,
    )


@pytest.mark.django_db
def test_mailgun_events_settle_unknown_messages_both_ways(tenant: Tenant, settings: Any) -> None:
    with fake_esp() as server:
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "mailgun": server.url + "v3"}
        options = {"esp_settings": {"sender_domain": "mg.sender.test"}}
        left = _unknown(tenant, esp="mailgun", **options)
        never = _unknown(tenant, esp="mailgun", **options)
        too_soon = _unknown(tenant, esp="mailgun", age=dt.timedelta(minutes=20), **options)
        server.mailgun_events[left.message_id.strip("<>")] = ["accepted", "delivered"]
        assert unknown_reconcile_run() == {"sent": 1, "requeued": 1, "undecided": 1}
        asked = [r for r in server.requests if "/events" in r["path"]]
    assert asked[0]["path"].startswith("/v3/mg.sender.test/events?message-id=")
    assert asked[0]["headers"]["Authorization"].startswith("Basic ")
    for row in (left, never, too_soon):
        row.refresh_from_db()
    assert left.status == MessageStatus.SENT and left.sent_at == left.slot_at
    assert "accepted, delivered" in left.provider_response
    # Never taken: the same row, the same Message-ID, queued again; the one asked too soon waits.
    assert never.status == MessageStatus.QUEUED and never.slot_at is None
    assert too_soon.status == MessageStatus.UNKNOWN


@pytest.mark.django_db
def test_postmark_search_by_recipient_and_subject(tenant: Tenant, settings: Any) -> None:
    with fake_esp() as server:
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "postmark": server.url}
        message = _unknown(tenant, esp="postmark")
        server.postmark_outbound.append(
            {
                "Recipients": [message.to_email],
                "Subject": message.subject,
                "MessageID": "pm-1",
                "Status": "Sent",
            }
        )
        assert unknown_reconcile_run()["sent"] == 1
        [search] = [r for r in server.requests if r["path"].startswith("/messages/outbound")]
    assert search["headers"]["X-Postmark-Server-Token"] == "key-123"
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and "Postmark message pm-1" in message.provider_response


@pytest.mark.django_db
def test_an_esp_outage_decides_nothing(tenant: Tenant, settings: Any) -> None:
    with fake_esp() as server:
        server.status = 503
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "postmark": server.url}
        message = _unknown(tenant, esp="postmark")
        assert unknown_reconcile_run() == {"sent": 0, "requeued": 0, "undecided": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.UNKNOWN


@pytest.mark.django_db
def test_a_person_settles_an_smtp_message_and_the_campaign_goes_on(tenant: Tenant, peer: SmtpPeer) -> None:
    tenant.org.postal_address = "1 Main Street"
    tenant.org.save()
    mailbox = MailboxFactory(org=tenant.org, smtp_port=peer.port)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], steps=2)
    ada = ProspectFactory(org=tenant.org, first_name="Ada")
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[ada.pk])
        campaign_launch(campaign=campaign)
    dispatch_run()
    with tenant.scope():
        message = Message.objects.get()
    # The crash: a slot was granted, then nothing was recorded.
    Message.objects.unscoped().filter(pk=message.pk).update(
        status=MessageStatus.UNKNOWN, slot_at=timezone.now()
    )
    advance_run()
    enrollment = Enrollment.objects.unscoped().get(campaign=campaign)
    assert enrollment.state == EnrollmentState.PAUSED and "may or may not" in enrollment.hold_reason

    page = tenant.member_client.get(reverse("message_detail", args=[message.pk])).content.decode()
    assert "Did this email leave?" in page and "Ask " not in page  # SMTP keeps no record we can ask
    url = reverse("message_settle", args=[message.pk])
    response = tenant.member_client.post(url, {"action": "resend"}, follow=True)
    assert "Queued again with the same Message-ID" in response.content.decode()
    with tenant.scope():
        assert message_send(message_id=message.pk) == "sent"
    [received] = peer.received
    assert received.message["Message-ID"] == message.message_id
    # Sent now: the held enrollment goes on with step 2 by itself.
    advance_run()
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE and enrollment.steps_sent == 1
    assert enrollment.current_step is not None and enrollment.current_step.order == 1
    # Settling twice changes nothing.
    again = tenant.member_client.post(url, {"action": "delivered"}, follow=True)
    assert "no longer in doubt" in again.content.decode()


@pytest.mark.django_db
def test_another_tenant_cannot_settle_my_message(tenant: Tenant, other_tenant: Tenant) -> None:
    message = _unknown(tenant)
    response = other_tenant.member_client.post(
        reverse("message_settle", args=[message.pk]), {"action": "delivered"}
    )
    assert response.status_code == 404
    message.refresh_from_db()
    assert message.status == MessageStatus.UNKNOWN
