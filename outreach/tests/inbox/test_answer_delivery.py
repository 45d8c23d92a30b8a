"""An answer written in the inbox reaches the recipient once, through the real worker and SMTP peer, threaded."""

from __future__ import annotations

import time

import pytest

from conftest import make_tenant
from outreach.models import Message, MessageStatus
from outreach.sending import engine
from outreach.tests.factories import MailboxFactory, MessageFactory, ReplyFactory
from prospects.tests.factories import ProspectFactory


def _wait_status(message: Message, status: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"message stayed {message.status}")


@pytest.mark.usefixtures("celery_worker")
def test_answer_goes_out_once_with_threading_headers(peer) -> None:
    tenant = make_tenant("Acme")
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    mailbox = MailboxFactory(
        org=tenant.org, smtp_host=peer.host, smtp_port=peer.port, from_email="sam@acme.test"
    )
    prospect = ProspectFactory(org=tenant.org, email="ada@client.test", email_normalized="ada@client.test")
    sent = MessageFactory(
        mailbox=mailbox,
        prospect=prospect,
        to_email=prospect.email,
        status=MessageStatus.SENT,
        subject="Quick idea",
        references="<root@acme.test>",
    )
    reply = ReplyFactory(
        message=sent,
        from_email="ada@client.test",
        subject="RE: Quick idea",
        references=f"<root@acme.test> {sent.message_id}",
    )
    data = {"body": "Tuesday at ten works.", "number": 1}
    assert tenant.member_client.post(f"/inbox/{reply.pk}/answer/", data).status_code == 302
    tenant.member_client.post(f"/inbox/{reply.pk}/answer/", data)  # a double click
    answer = Message.objects.unscoped().get(origin="inbox")
    _wait_status(answer, MessageStatus.SENT)
    # The beat's dispatcher running afterwards finds nothing left to send.
    with tenant.scope():
        assert engine.message_send(message_id=answer.pk) != "sent"
    [received] = peer.wait_for(1)
    time.sleep(0.5)
    assert len(peer.received) == 1
    mail = received.message
    assert received.rcpt_tos == ["ada@client.test"]
    assert mail["From"].endswith("<sam@acme.test>") or mail["From"] == "sam@acme.test"
    assert mail["To"] == "ada@client.test"
    assert mail["Subject"] == "RE: Quick idea"
    assert mail["Message-ID"] == answer.message_id
    assert mail["In-Reply-To"] == reply.rfc_message_id
    assert mail["References"].split() == ["<root@acme.test>", sent.message_id, reply.rfc_message_id]
    assert "Tuesday at ten works." in mail.get_body(("plain",)).get_content()
