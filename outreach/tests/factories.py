from __future__ import annotations

import factory
from django.utils import timezone

from accounts.tests.factories import OrganizationFactory
from outreach.models import Event, EventKind, Mailbox, Message, MessageStatus, Reply, ReplyKind
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


class EventFactory(factory.django.DjangoModelFactory):
    """A human open of a sent message (pass `kind`, `is_bot`, `bot_reason` for others)."""

    class Meta:
        model = Event

    message = factory.SubFactory(MessageFactory, status=MessageStatus.SENT)
    org = factory.LazyAttribute(lambda o: o.message.org)
    prospect = factory.LazyAttribute(lambda o: o.message.prospect)
    campaign_id = factory.LazyAttribute(lambda o: o.message.campaign_id)
    kind = EventKind.OPENED
    at = factory.LazyFunction(timezone.now)
    user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/115.0"
    source = "pixel"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class ReplyFactory(factory.django.DjangoModelFactory):
    """A human reply to a sent message, threaded to it by In-Reply-To (pass `kind` for auto-replies, bounces)."""

    class Meta:
        model = Reply

    message = factory.SubFactory(MessageFactory, status=MessageStatus.SENT)
    org = factory.LazyAttribute(lambda o: o.message.org)
    mailbox = factory.LazyAttribute(lambda o: o.message.mailbox)
    prospect = factory.LazyAttribute(lambda o: o.message.prospect)
    campaign_id = factory.LazyAttribute(lambda o: o.message.campaign_id)
    kind = ReplyKind.REPLY
    matched_by = "in-reply-to"
    from_email = factory.LazyAttribute(lambda o: o.message.to_email)
    from_name = "Ada Lovelace"
    to_email = factory.LazyAttribute(lambda o: o.message.mailbox.from_email)
    subject = factory.LazyAttribute(lambda o: f"Re: {o.message.subject}")
    rfc_message_id = factory.Sequence(lambda n: f"<reply{n}@mail.example.test>")
    in_reply_to = factory.LazyAttribute(lambda o: o.message.message_id)
    references = factory.LazyAttribute(lambda o: o.message.message_id)
    body_text = "Sounds good, tell me more.\n\nOn Mon, Sam wrote:\n> Hello,\n> A short note.\n"
    body_clean = "Sounds good, tell me more."
    source = "imap"
    received_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)
