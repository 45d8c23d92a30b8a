from __future__ import annotations

import factory
from django.utils import timezone

from accounts.tests.factories import OrganizationFactory
from outreach.models import Mailbox, Message, MessageStatus
from outreach.services import message_id_make


class MailboxFactory(factory.django.DjangoModelFactory):
    """An SMTP mailbox; point it at a local peer with `smtp_host="127.0.0.1", smtp_port=peer.port`."""

    class Meta:
        model = Mailbox

    org = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Mailbox {n}")
    from_name = "Sam Sender"
    from_email = factory.Sequence(lambda n: f"sender{n}@sender.test")
    smtp_host = "127.0.0.1"
    smtp_port = 2525
    smtp_security = "none"
    smtp_username = ""
    daily_limit = 50
    min_interval_seconds = 0
    jitter_seconds = 0

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class MessageFactory(factory.django.DjangoModelFactory):
    """A queued message due now, in the mailbox's organisation."""

    class Meta:
        model = Message

    mailbox = factory.SubFactory(MailboxFactory)
    org = factory.LazyAttribute(lambda o: o.mailbox.org)
    send_key = factory.Sequence(lambda n: f"test:{n}")
    to_email = factory.Sequence(lambda n: f"recipient{n}@example.test")
    subject = "Quick question"
    body_text = "Hello,\n\nA short note.\n"
    status = MessageStatus.QUEUED
    message_id = factory.LazyAttribute(lambda o: message_id_make(from_email=o.mailbox.from_email))
    scheduled_at = factory.LazyFunction(timezone.now)
    queued_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)
