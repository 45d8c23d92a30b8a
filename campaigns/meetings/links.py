"""`{{ booking_link }}` for campaign steps: the campaign owner's first active meeting type, with a signed token
naming the prospect and the message, so a booking through it attaches to both."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from .models import MeetingType
from .tokens import link_token_make


def first_meeting_type(*, user_id: int | None) -> MeetingType | None:
    if user_id is None:
        return None
    return (
        MeetingType.objects.select_related("profile")
        .filter(profile__user_id=user_id, is_active=True)
        .order_by("id")
        .first()
    )


def booking_url(meeting_type: MeetingType, *, token: str = "") -> str:
    url = settings.SITE_URL + reverse("meeting_book", args=[meeting_type.profile.slug, meeting_type.slug])
    return f"{url}?t={token}" if token else url


def booking_link_for(*, user_id: int | None, org_id: int, prospect_id: int, send_key: str) -> str:
    """The link for one prospect's message, or "" when the user offers no meeting type."""
    meeting_type = first_meeting_type(user_id=user_id)
    if meeting_type is None:
        return ""
    token = link_token_make(org_id=org_id, prospect_id=prospect_id, send_key=send_key)
    return booking_url(meeting_type, token=token)
