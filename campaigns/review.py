"""Review of drafts: approving queues the message at the next moment inside the recipient's window."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.utils import timezone

from outreach.models import Message
from outreach.services import message_approve

from .enrollment import enrollment_window
from .models import Enrollment
from .scheduler.timing import next_in_window

if TYPE_CHECKING:
    from accounts.models import User

_SEND_KEY = re.compile(r"^enrollment:(\d+):step:\d+(?::retry:\d+)?$")


def review_approve(*, message: Message, actor: User | None) -> Message:
    """Approve a campaign draft; it is queued for its planned time, or the recipient's next window if that passed."""
    match = _SEND_KEY.match(message.send_key)
    enrollment = (
        Enrollment.objects.select_related("campaign", "prospect__company")
        .filter(pk=int(match.group(1)))
        .first()
        if match
        else None
    )
    when = None
    if enrollment is not None:
        after = max(message.scheduled_at or timezone.now(), timezone.now())
        when = next_in_window(after, zone=enrollment.timezone, window=enrollment_window(enrollment))
    return message_approve(message=message, actor=actor, scheduled_at=when)
