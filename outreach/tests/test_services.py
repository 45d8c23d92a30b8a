from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from outreach import services
from outreach.models import MessageStatus
from outreach.tests.factories import MailboxFactory, MessageFactory


def test_message_create_is_idempotent_on_send_key(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    first, created = services.message_create(
        org=tenant.org,
        send_key="enrollment:1:step:1",
        mailbox=mailbox,
        to_email="a@b.test",
        subject="Hi",
        body_text="Hello",
    )
    again, created_again = services.message_create(
        org=tenant.org,
        send_key="enrollment:1:step:1",
        mailbox=mailbox,
        to_email="other@b.test",
        subject="Other",
        body_text="Other",
    )
    assert created and not created_again
    assert again.pk == first.pk and again.to_email == "a@b.test"
    assert first.message_id.endswith(f"@{mailbox.from_email.split('@')[1]}>")
    assert first.status == MessageStatus.QUEUED and first.scheduled_at is not None


def test_message_create_refuses_unrendered_template(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    with pytest.raises(ValidationError):
        services.message_create(
            org=tenant.org,
            send_key="k",
            mailbox=mailbox,
            to_email="a@b.test",
            subject="Hi {{ first_name }}",
            body_text="Hello",
        )


def test_approve_then_reject_is_refused(tenant) -> None:
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), status=MessageStatus.DRAFT)
    services.message_approve(message=message, actor=tenant.owner)
    assert message.status == MessageStatus.QUEUED and message.approved_by == tenant.owner
    with pytest.raises(services.MessageStateError):
        services.message_reject(message=message, actor=tenant.owner)


def test_edit_keeps_ai_text(tenant) -> None:
    message = MessageFactory(
        mailbox=MailboxFactory(org=tenant.org), status=MessageStatus.DRAFT, ai_body="AI text"
    )
    services.message_edit(message=message, actor=tenant.member, body_text="Human text")
    assert message.body_text == "Human text" and message.ai_body == "AI text"
    assert message.edited_by == tenant.member
