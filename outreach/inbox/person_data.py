"""What the email channel holds on one person, for GDPR export and erasure (registered with
prospects.compliance.person_data in OutreachConfig.ready, because prospects cannot import outreach).

A person's mail is found by the prospect link and by their address: a message keeps its `to_email` when its
prospect link is cut, a reply its `from_email`, a bounce the `bounced_email`; tracking events hang off the messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from outreach.models import Event, Message, Reply, Unsubscribe

if TYPE_CHECKING:
    from prospects.models import Prospect


def outreach_sections(prospect: Prospect) -> dict[str, QuerySet[Any]]:
    """The person's tracking events, replies, unsubscribes and messages, in the order they are deleted."""
    email = prospect.email_normalized or ""
    to_them = Q(prospect_id=prospect.pk)
    from_them = Q(prospect_id=prospect.pk)
    unsubscribed = Q(prospect_id=prospect.pk)
    if email:
        to_them |= Q(to_email__iexact=email)
        from_them |= Q(from_email__iexact=email) | Q(bounced_email__iexact=email)
        unsubscribed |= Q(email__iexact=email)
    messages = Message.objects.filter(to_them)
    return {
        "email_events": Event.objects.filter(Q(prospect_id=prospect.pk) | Q(message__in=messages)).order_by(
            "id"
        ),
        "email_replies": Reply.objects.filter(from_them | Q(message__in=messages)).order_by("id"),
        "email_unsubscribes": Unsubscribe.objects.filter(unsubscribed).order_by("id"),
        "email_messages": messages.order_by("id"),
    }
