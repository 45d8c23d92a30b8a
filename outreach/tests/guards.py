"""Send guards for tests (the shape campaigns' guard has)."""

from __future__ import annotations

from outreach.models import Message
from outreach.sending.engine import SendHold


def stop_if_subject_says_stop(message: Message) -> str | None:
    return "Enrollment stopped" if message.subject == "stop" else None


def hold_if_wait(message: Message) -> str | None:
    return SendHold("Campaign paused", retry_after=600) if message.subject == "wait" else None
