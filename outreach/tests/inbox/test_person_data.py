"""GDPR: a person's emails, tracking events, replies and unsubscribes are in their export and gone after erasure
(found by the prospect link and by their address, so rows whose link was already cut go too); nobody else's."""

from __future__ import annotations

import pytest

from outreach.models import Event, EventKind, Message, MessageStatus, Reply, ReplyKind, Unsubscribe
from outreach.tests.factories import EventFactory, MailboxFactory, MessageFactory, ReplyFactory
from prospects.compliance.services import prospect_erase, prospect_export
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db


def _mail_of(prospect, mailbox, **kwargs):  # type: ignore[no-untyped-def]
    return MessageFactory(
        mailbox=mailbox, prospect=prospect, to_email=prospect.email, status=MessageStatus.SENT, **kwargs
    )


def test_export_lists_the_persons_mail_and_erase_removes_it(tenant, other_tenant) -> None:
    ada = ProspectFactory(org=tenant.org, email="ada@client.test", email_normalized="ada@client.test")
    bob = ProspectFactory(org=tenant.org)
    box = MailboxFactory(org=tenant.org)
    sent = _mail_of(ada, box, body_text="Hi Ada, a private note.")
    # An older message whose prospect link was cut (SET_NULL) still carries her address.
    unlinked = MessageFactory(
        mailbox=box, prospect=None, to_email="Ada@Client.test", status=MessageStatus.SENT
    )
    opened = EventFactory(message=sent, kind=EventKind.OPENED)
    scanned = EventFactory(message=sent, kind=EventKind.CLICKED, is_bot=True, bot_reason="scanner")
    reply = ReplyFactory(message=sent, body_text="Call me on +44 20 7946 0000.", body_clean="Call me.")
    bounce = ReplyFactory(
        message=unlinked,
        prospect=None,
        kind=ReplyKind.BOUNCE,
        from_email="mailer-daemon@client.test",
        bounced_email="ada@client.test",
        bounce_hard=True,
    )
    unsubscribe = Unsubscribe.objects.unscoped().create(
        org=tenant.org, email="ada@client.test", message=sent, prospect=ada, method="page"
    )
    bobs = _mail_of(bob, box)
    bobs_reply = ReplyFactory(message=bobs)
    bobs_event = EventFactory(message=bobs)
    elsewhere = MessageFactory(
        mailbox=MailboxFactory(org=other_tenant.org), to_email="ada@client.test", status=MessageStatus.SENT
    )

    with tenant.scope():
        document = prospect_export(prospect=ada, actor=tenant.owner)
    assert {m["id"] for m in document["email_messages"]} == {sent.pk, unlinked.pk}
    assert "Hi Ada, a private note." in [m["body_text"] for m in document["email_messages"]]
    assert {e["id"] for e in document["email_events"]} == {opened.pk, scanned.pk}
    assert {r["id"] for r in document["email_replies"]} == {reply.pk, bounce.pk}
    assert [u["id"] for u in document["email_unsubscribes"]] == [unsubscribe.pk]

    with tenant.scope():
        report = prospect_erase(prospect=ada, actor=tenant.owner)
    assert report.deleted["email_messages"] == 2 and report.deleted["email_replies"] == 2
    assert report.deleted["email_events"] == 2 and report.deleted["email_unsubscribes"] == 1
    mine = {"org": tenant.org}
    assert not Message.objects.unscoped().filter(**mine, to_email__iexact="ada@client.test").exists()
    assert not Reply.objects.unscoped().filter(pk__in=[reply.pk, bounce.pk]).exists()
    assert not Reply.objects.unscoped().filter(**mine, body_text__contains="+44 20 7946").exists()
    assert not Event.objects.unscoped().filter(pk__in=[opened.pk, scanned.pk]).exists()
    assert not Unsubscribe.objects.unscoped().filter(**mine, email="ada@client.test").exists()
    # Bob's mail and the other organisation's are untouched.
    assert Message.objects.unscoped().filter(pk__in=[bobs.pk, elsewhere.pk]).count() == 2
    assert Reply.objects.unscoped().filter(pk=bobs_reply.pk).exists()
    assert Event.objects.unscoped().filter(pk=bobs_event.pk).exists()


def test_erase_through_the_api_takes_the_mail_too(tenant) -> None:
    ada = ProspectFactory(org=tenant.org)
    sent = _mail_of(ada, MailboxFactory(org=tenant.org))
    ReplyFactory(message=sent)
    response = tenant.api().post(
        f"/api/v1/prospects/{ada.pk}/erase", {"confirm": "erase"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert not Message.objects.unscoped().filter(pk=sent.pk).exists()
    assert not Reply.objects.unscoped().filter(org=tenant.org).exists()
