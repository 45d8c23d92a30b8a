"""bounce_apply and complaint_apply: what the ESP webhooks and the IMAP bounce path do to a sent message."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from outreach.inbound.services import bounce_apply, complaint_apply
from outreach.models import Event, EventKind, Mailbox, MailboxStatus, MessageStatus, Unsubscribe
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.models import Activity, Notification, Prospect, Suppression
from prospects.tests.factories import ProspectFactory


def _sent(tenant, *, email: str = "ada@example.test", mailbox: Mailbox | None = None):
    mailbox = mailbox or MailboxFactory(org=tenant.org)
    prospect = ProspectFactory(org=tenant.org, email=email)
    return MessageFactory(
        mailbox=mailbox, prospect=prospect, to_email=email, status=MessageStatus.SENT, sent_at=timezone.now()
    )


def test_hard_bounce_marks_the_email_invalid_and_suppresses_it(tenant) -> None:
    message = _sent(tenant)
    at = timezone.now()
    event = bounce_apply(
        message=message, hard=True, status="5.1.1", reason="user unknown", at=at, external_id="ses:1"
    )
    assert event is not None and event.kind == EventKind.BOUNCED
    assert event.meta["hard"] is True and event.meta["status"] == "5.1.1"
    prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
    assert prospect.email_status == "invalid"
    assert prospect.email_check["reason"] == "bounced (5.1.1): user unknown"
    assert Suppression.objects.unscoped().filter(org=tenant.org, value="ada@example.test").exists()
    assert Activity.objects.unscoped().filter(prospect=prospect, kind="email_bounced").count() == 1
    # The ESP retries its webhook: nothing is recorded twice.
    again = bounce_apply(
        message=message, hard=True, status="5.1.1", reason="user unknown", at=at, external_id="ses:1"
    )
    assert again is None
    assert Event.objects.unscoped().filter(org=tenant.org, kind=EventKind.BOUNCED).count() == 1
    assert Activity.objects.unscoped().filter(prospect=prospect, kind="email_bounced").count() == 1


def test_soft_bounces_turn_hard_at_the_limit(tenant, settings) -> None:
    settings.OUTREACH_SOFT_BOUNCE_LIMIT = 3
    message = _sent(tenant)
    at = timezone.now()
    for n in (1, 2):
        bounce_apply(
            message=message, hard=False, status="4.2.2", reason="mailbox full", at=at, external_id=f"s{n}"
        )
        prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
        assert prospect.email_status != "invalid"
        assert not Suppression.objects.unscoped().filter(org=tenant.org).exists()
    third = bounce_apply(
        message=message, hard=False, status="4.2.2", reason="mailbox full", at=at, external_id="s3"
    )
    assert third is not None and third.meta["hard"] is True and third.meta["soft_bounces"] == 3
    prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
    assert prospect.email_status == "invalid"
    assert "3 soft bounces" in prospect.email_check["reason"]
    assert Suppression.objects.unscoped().filter(org=tenant.org, value="ada@example.test").exists()


def test_too_many_bounces_pause_the_mailbox_and_tell_the_admins(tenant, settings) -> None:
    settings.OUTREACH_BOUNCE_MIN_SENT = 10
    settings.OUTREACH_BOUNCE_PAUSE_RATE = 0.2
    mailbox = MailboxFactory(org=tenant.org)
    messages = [_sent(tenant, email=f"p{n}@example.test", mailbox=mailbox) for n in range(10)]
    at = timezone.now()
    bounce_apply(message=messages[0], hard=True, status="5.1.1", reason="no such user", at=at)
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.ACTIVE  # 1 of 10 is under 20%
    bounce_apply(message=messages[1], hard=True, status="5.1.1", reason="no such user", at=at)
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.PAUSED
    assert "2 of the last 10 messages bounced" in mailbox.paused_reason
    notified = set(
        Notification.objects.unscoped()
        .filter(org=tenant.org, kind="mailbox_paused")
        .values_list("user", flat=True)
    )
    assert notified == {tenant.owner.pk, tenant.admin.pk}


def test_old_sends_do_not_count_toward_the_bounce_rate(tenant, settings) -> None:
    settings.OUTREACH_BOUNCE_MIN_SENT = 2
    settings.OUTREACH_BOUNCE_PAUSE_RATE = 0.5
    mailbox = MailboxFactory(org=tenant.org)
    old = _sent(tenant, email="old@example.test", mailbox=mailbox)
    old.sent_at = timezone.now() - dt.timedelta(days=90)
    old.save(update_fields=["sent_at"])
    recent = _sent(tenant, email="new@example.test", mailbox=mailbox)
    bounce_apply(message=recent, hard=True, status="5.1.1", reason="gone", at=timezone.now())
    mailbox.refresh_from_db()
    # Only one send in the window: under the minimum, so no judgement yet.
    assert mailbox.status == MailboxStatus.ACTIVE


def test_complaint_unsubscribes_and_suppresses_once(tenant) -> None:
    message = _sent(tenant)
    at = timezone.now()
    event = complaint_apply(message=message, at=at, external_id="fbl:1")
    assert event is not None and event.kind == EventKind.COMPLAINED
    [entry] = Unsubscribe.objects.unscoped().filter(org=tenant.org)
    assert (entry.email, entry.method, entry.message_id) == ("ada@example.test", "complaint", message.pk)
    assert Suppression.objects.unscoped().filter(org=tenant.org, value="ada@example.test").exists()
    message.refresh_from_db()
    assert message.unsubscribed_at is not None
    assert complaint_apply(message=message, at=at, external_id="fbl:1") is None
    assert Event.objects.unscoped().filter(org=tenant.org, kind=EventKind.COMPLAINED).count() == 1
    assert Unsubscribe.objects.unscoped().filter(org=tenant.org).count() == 1


def test_actions_stay_inside_the_message_organisation(tenant, other_tenant) -> None:
    ours = _sent(tenant)
    theirs = _sent(other_tenant)
    bounce_apply(message=ours, hard=True, status="5.1.1", reason="gone", at=timezone.now())
    other = Prospect.objects.unscoped().get(pk=theirs.prospect_id)
    assert other.email_status != "invalid"
    assert not Suppression.objects.unscoped().filter(org=other_tenant.org).exists()
    assert not Event.objects.unscoped().filter(org=other_tenant.org).exists()
