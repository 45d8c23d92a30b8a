from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core import mail
from django.utils import timezone

from outreach.models import Mailbox, Message, MessageStatus
from outreach.sending import engine
from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.unsubscribe import token_read
from prospects.compliance.services import suppression_add
from prospects.models import Notification
from prospects.tests.factories import ProspectFactory

from .smtp_peer import SmtpPeer


def _org(tenant):
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    return tenant.org


def _mailbox(tenant, peer: SmtpPeer, **kwargs) -> Mailbox:
    return MailboxFactory(org=_org(tenant), smtp_host=peer.host, smtp_port=peer.port, **kwargs)


def _send(tenant, message: Message) -> str:
    with tenant.scope():
        return engine.message_send(message_id=message.pk)


def _parsed(peer: SmtpPeer) -> EmailMessage:
    [received] = peer.wait_for(1)
    return received.message


def test_headers_text_part_and_footer(tenant, peer) -> None:
    mailbox = _mailbox(tenant, peer, signature="Sam\nAcme")
    message = MessageFactory(
        mailbox=mailbox,
        subject="Quick idea",
        body_text="Hi Ada,\n\nOne line.",
        body_html="<p>Hi Ada,</p><p>One line.</p>",
        in_reply_to="<parent@sender.test>",
        references="<root@sender.test>, <parent@sender.test>",
    )
    assert _send(tenant, message) == "sent"
    parsed = _parsed(peer)
    assert parsed["Message-ID"] == message.message_id
    assert parsed["In-Reply-To"] == "<parent@sender.test>"
    assert parsed["References"] == "<root@sender.test> <parent@sender.test>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip(" <>") for part in parsed["List-Unsubscribe"].split(",")]
    assert https.startswith("https://app.leadgen.test/u/")
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@unsub.leadgen.test")
    token = mailto.removeprefix("mailto:unsubscribe+").split("@")[0]
    assert token_read(token) is not None and token_read(token).message_id == message.pk
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "One line." in text and "1 Main Street, Springfield" in text and https in text
    assert "1 Main Street, Springfield" in html and https in html and "Sam<br>Acme" in html
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.sent_at and "250" in message.provider_response


def test_text_only_message_is_single_text_part(tenant, peer) -> None:
    message = MessageFactory(mailbox=_mailbox(tenant, peer), body_text="Plain only.")
    _send(tenant, message)
    parsed = _parsed(peer)
    assert parsed.get_content_type() == "text/plain"
    assert "Plain only." in parsed.get_content() and "Unsubscribe:" in parsed.get_content()


def test_dkim_signature_covers_both_list_unsubscribe_headers(tenant, peer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mailbox = _mailbox(tenant, peer, dkim_selector="lg1", dkim_private_key=pem.decode())
    _send(tenant, MessageFactory(mailbox=mailbox))
    [received] = peer.wait_for(1)
    signature = received.message["DKIM-Signature"]
    signed = [
        h.strip().lower() for h in signature.split("h=")[1].split(";")[0].replace("\r\n", "").split(":")
    ]
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(received.data, dnsfunc=lambda name, timeout=5: record)


def test_suppressed_and_do_not_contact_are_cancelled_not_sent(tenant, peer) -> None:
    mailbox = _mailbox(tenant, peer)
    suppressed = MessageFactory(mailbox=mailbox, to_email="gone@example.test")
    with tenant.scope():
        suppression_add(org=tenant.org, value="gone@example.test", actor=None)
    prospect = ProspectFactory(org=tenant.org, do_not_contact=True)
    dnc = MessageFactory(mailbox=mailbox, to_email=prospect.email, prospect=prospect)
    assert _send(tenant, suppressed) == "cancelled"
    assert _send(tenant, dnc) == "cancelled"
    assert peer.received == []
    suppressed.refresh_from_db()
    assert suppressed.status == MessageStatus.CANCELLED and "suppression" in suppressed.hold_reason


def test_send_guards_cancel_or_hold(tenant, peer, settings) -> None:
    settings.OUTREACH_SEND_GUARDS = [
        "outreach.tests.guards.stop_if_subject_says_stop",
        "outreach.tests.guards.hold_if_wait",
    ]
    mailbox = _mailbox(tenant, peer)
    stopped = MessageFactory(mailbox=mailbox, subject="stop")
    held = MessageFactory(mailbox=mailbox, subject="wait")
    assert _send(tenant, stopped) == "cancelled"
    assert _send(tenant, held) == "held"
    held.refresh_from_db()
    assert held.status == MessageStatus.QUEUED and held.scheduled_at > timezone.now() + dt.timedelta(
        seconds=500
    )
    assert held.hold_reason == "Campaign paused"
    assert peer.received == []


def test_no_postal_address_holds(tenant, peer) -> None:
    mailbox = _mailbox(tenant, peer)
    tenant.org.postal_address = ""
    tenant.org.save()
    message = MessageFactory(mailbox=mailbox)
    assert _send(tenant, message) == "held"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and "postal address" in message.hold_reason


def test_second_send_of_the_same_message_does_nothing(tenant, peer) -> None:
    message = MessageFactory(mailbox=_mailbox(tenant, peer))
    assert _send(tenant, message) == "sent"
    assert _send(tenant, message) == "not_claimed"
    assert len(peer.wait_for(1)) == 1


def test_gap_and_daily_limit_with_warmup(tenant, peer) -> None:
    gapped = _mailbox(tenant, peer, min_interval_seconds=600, jitter_seconds=0)
    first, second = MessageFactory(mailbox=gapped), MessageFactory(mailbox=gapped)
    assert _send(tenant, first) == "sent"
    assert _send(tenant, second) == "held"
    second.refresh_from_db()
    assert second.status == MessageStatus.QUEUED and second.scheduled_at >= timezone.now() + dt.timedelta(
        seconds=590
    )

    ramped = _mailbox(
        tenant,
        peer,
        daily_limit=50,
        warmup_start=2,
        warmup_increment=1,
        warmup_started_on=timezone.localdate(),
    )
    outcomes = [_send(tenant, MessageFactory(mailbox=ramped)) for _ in range(3)]
    assert outcomes == ["sent", "sent", "held"]
    held = Message.objects.unscoped().filter(mailbox=ramped, status=MessageStatus.QUEUED).get()
    assert "Daily limit of 2" in held.hold_reason


def test_auth_failure_pauses_mailbox_and_notifies_admins(tenant, auth_peer) -> None:
    mailbox = _mailbox(tenant, auth_peer, smtp_username="sam", smtp_password="wrong")
    message = MessageFactory(mailbox=mailbox)
    mail.outbox.clear()
    assert _send(tenant, message) == "auth_failed"
    mailbox.refresh_from_db()
    message.refresh_from_db()
    assert mailbox.status == "paused" and "535" in mailbox.paused_reason
    assert message.status == MessageStatus.QUEUED  # nothing was handed over: it waits for the resume
    notified = set(
        Notification.objects.unscoped().filter(kind="mailbox_paused").values_list("user_id", flat=True)
    )
    assert notified == {tenant.owner.pk, tenant.admin.pk}
    assert auth_peer.received == []


def test_auth_success_sends(tenant, auth_peer) -> None:
    mailbox = _mailbox(tenant, auth_peer, smtp_username="sam", smtp_password="s3cret-pass")
    assert _send(tenant, MessageFactory(mailbox=mailbox)) == "sent"


def test_refused_recipient_fails(tenant, peer) -> None:
    peer.handler.data_reply = "550 5.1.1 No such user"
    message = MessageFactory(mailbox=_mailbox(tenant, peer))
    assert _send(tenant, message) == "failed"
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "550 5.1.1 No such user" in message.error


def test_private_host_is_refused_by_the_ssrf_guard(tenant, settings) -> None:
    settings.OUTREACH_ALLOW_LOOPBACK = False
    mailbox = MailboxFactory(org=_org(tenant), smtp_host="127.0.0.1", smtp_port=2525)
    message = MessageFactory(mailbox=mailbox)
    assert _send(tenant, message) == "retry"
    message.refresh_from_db()
    assert "loopback" in message.hold_reason


def test_crash_between_claim_and_record_is_unknown_and_never_resent(tenant, peer) -> None:
    mailbox = _mailbox(tenant, peer)
    granted, not_granted = MessageFactory(mailbox=mailbox), MessageFactory(mailbox=mailbox)
    with tenant.scope():
        for message in (granted, not_granted):
            assert engine.message_claim(message_id=message.pk)
        # The worker got its slot for `granted` (committed right before the SMTP call), then died.
        assert engine.pacing_reserve(message=granted, mailbox=mailbox) is None
    assert engine.messages_sweep_stale(timeout_seconds=0) == {"requeued": 1, "unknown": 1}
    granted.refresh_from_db()
    assert granted.status == MessageStatus.UNKNOWN and "not sent again" in granted.error
    assert _send(tenant, granted) == "not_claimed"
    assert _send(tenant, not_granted) == "sent"
    assert [r.rcpt_tos for r in peer.wait_for(1)] == [[not_granted.to_email]]


def test_bounce_threshold_pauses(tenant, settings) -> None:
    from outreach.mailboxes import mailbox_check_bounces

    settings.OUTREACH_BOUNCE_MIN_SENT = 20
    settings.OUTREACH_BOUNCE_PAUSE_RATE = 0.05
    mailbox = MailboxFactory(org=tenant.org)
    assert not mailbox_check_bounces(mailbox=mailbox, sent=10, bounced=5)
    assert not mailbox_check_bounces(mailbox=mailbox, sent=100, bounced=4)
    assert mailbox_check_bounces(mailbox=mailbox, sent=100, bounced=6)
    mailbox.refresh_from_db()
    assert mailbox.is_paused and "bounced" in mailbox.paused_reason
