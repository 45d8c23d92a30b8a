"""Fixtures of the inbound tests: a real Dovecot, a mailbox reading it, and sent messages to answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.utils import timezone

from outreach.models import Mailbox, Message, MessageStatus
from outreach.tests.dovecot import Dovecot
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.tests.factories import ProspectFactory

FIXTURES = Path(__file__).parent / "fixtures" / "sync"


def imap_mailbox(org: Any, server: Dovecot, **extra: Any) -> Mailbox:
    values: dict[str, Any] = {
        "from_email": "sam@sender.test",
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": server.username,
        "imap_password": server.password,
    }
    return MailboxFactory(org=org, **{**values, **extra})


def sent_message(
    mailbox: Mailbox, *, email: str, subject: str = "Quick question", **prospect: Any
) -> Message:
    """A message this mailbox sent to a new prospect with that address."""
    person = ProspectFactory(org=mailbox.org, email=email, **prospect)
    return MessageFactory(
        mailbox=mailbox,
        prospect=person,
        to_email=email,
        subject=subject,
        status=MessageStatus.SENT,
        sent_at=timezone.now(),
    )


def fixture_mail(
    name: str, *, message: Message | None = None, mailbox: str = "sam@sender.test", **values: str
) -> bytes:
    """A real-format mail from fixtures/sync with its placeholders filled from the message it answers."""
    text = (FIXTURES / name).read_text()
    fills = {
        "MAILBOX": mailbox,
        "MESSAGE_ID": message.message_id if message else "<none@nowhere.test>",
        "PROSPECT": message.to_email if message else "someone@nowhere.test",
        "BOUNCED": message.to_email if message else "someone@nowhere.test",
        "SUBJECT": message.subject if message else "Quick question",
        **values,
    }
    for key, value in fills.items():
        text = text.replace(f"@@{key}@@", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
