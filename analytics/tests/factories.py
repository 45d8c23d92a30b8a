"""Engagement as outreach records it: sent messages with their step and variant labels, events, replies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.utils import timezone

from outreach.models import Event, Message, MessageStatus, Reply
from outreach.tests.factories import MailboxFactory, MessageFactory


class EventFactory(factory.django.DjangoModelFactory):
    """An event of a message; `kind=` and `at=` as needed. Campaign and prospect follow the message's."""

    class Meta:
        model = Event

    message = factory.SubFactory(MessageFactory)
    org = factory.LazyAttribute(lambda o: o.message.org)
    prospect = factory.LazyAttribute(lambda o: o.message.prospect)
    campaign_id = factory.LazyAttribute(lambda o: o.message.campaign_id)
    kind = "sent"
    at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class ReplyFactory(factory.django.DjangoModelFactory):
    """A human reply to a message; `intent=` as the classifier would set it."""

    class Meta:
        model = Reply

    message = factory.SubFactory(MessageFactory)
    org = factory.LazyAttribute(lambda o: o.message.org)
    prospect = factory.LazyAttribute(lambda o: o.message.prospect)
    campaign_id = factory.LazyAttribute(lambda o: o.message.campaign_id)
    mailbox = factory.LazyAttribute(lambda o: o.message.mailbox)
    kind = "reply"
    intent = "interested"
    from_email = factory.LazyAttribute(lambda o: o.message.to_email)
    subject = "Re: Quick question"
    received_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


def sent_message(
    *,
    org: Any,
    prospect: Any,
    sent_at: dt.datetime,
    campaign_id: int | None = None,
    step: int = 1,
    variant: str = "A",
    mailbox: Any = None,
    delivered: bool = True,
    **meta: Any,
) -> Message:
    """A message as a campaign sends it: labelled with step and variant, `sent` (and `delivered`) events."""
    message = MessageFactory(
        mailbox=mailbox or MailboxFactory(org=org),
        org=org,
        prospect=prospect,
        to_email=prospect.email,
        status=MessageStatus.SENT,
        sent_at=sent_at,
        campaign_id=campaign_id,
        meta={"step": step, "variant": variant, **meta},
    )
    EventFactory(message=message, kind="sent", at=sent_at)
    if delivered:
        EventFactory(message=message, kind="delivered", at=sent_at + dt.timedelta(seconds=5))
    return message
