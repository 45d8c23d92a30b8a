"""Invitation emails: one to the visitor and one to the host, each with the iTIP calendar part and plain words.

Sent through Django's mail (the deployment's `EMAIL_BACKEND`) from the host's mailbox address when the profile
names one, else from `DEFAULT_FROM_EMAIL` with replies going to the host. Each (meeting, SEQUENCE, recipient) is
sent once (`cache.add`), so a retry after a partial failure does not send the other side a second copy. A failure
right after booking is handed to `meeting_invitations_task`, which retries with backoff.
"""

from __future__ import annotations

import logging
from email.mime.text import MIMEText

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from leadgen.tasks import task_send
from leadgen.tenancy import org_scope

from .ics import Invitation, Party, invitation_ics
from .models import Meeting
from .slots import zone_or_utc
from .tokens import manage_token_make

log = logging.getLogger(__name__)

SENT_MARK_SECONDS = 7 * 86_400
KINDS = {"booked": "REQUEST", "moved": "REQUEST", "cancelled": "CANCEL"}


def manage_urls(meeting: Meeting) -> dict[str, str]:
    token = manage_token_make(org_id=meeting.org_id, meeting_id=meeting.pk)
    return {
        "manage": settings.SITE_URL + reverse("meeting_manage", args=[token]),
        "reschedule": settings.SITE_URL + reverse("meeting_reschedule", args=[token]),
        "cancel": settings.SITE_URL + reverse("meeting_cancel", args=[token]),
    }


def sender_of(meeting: Meeting) -> tuple[str, Party]:
    """(From header, organizer) for this meeting's host."""
    profile = meeting.meeting_type.profile
    host = profile.user
    name = host.get_full_name() or host.email
    if profile.mailbox is not None and profile.mailbox.from_email:
        address = profile.mailbox.from_email
        return f"{profile.mailbox.from_name or name} <{address}>", Party(name=name, email=address)
    return settings.DEFAULT_FROM_EMAIL, Party(name=name, email=host.email)


def invitation_of(meeting: Meeting, organizer: Party) -> Invitation:
    meeting_type = meeting.meeting_type
    urls = manage_urls(meeting)
    lines = [meeting_type.description, f"Reschedule: {urls['reschedule']}", f"Cancel: {urls['cancel']}"]
    return Invitation(
        uid=meeting.uid,
        sequence=meeting.sequence,
        method=KINDS["cancelled"] if not meeting.is_booked else KINDS["booked"],
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        summary=f"{meeting_type.name}: {meeting.visitor_name} and {organizer.name}",
        description="\n".join(line for line in lines if line),
        location=meeting_type.location,
        organizer=organizer,
        attendees=(Party(name=meeting.visitor_name, email=meeting.visitor_email), organizer),
        url=urls["manage"],
    )


def _calendar_part(ics: bytes, method: str) -> MIMEText:
    part = MIMEText(ics.decode(), "calendar", "utf-8")
    part.set_param("method", method)
    part.set_param("name", "invite.ics")
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part


def _email(meeting: Meeting, *, kind: str, to_host: bool) -> EmailMessage:
    from_header, organizer = sender_of(meeting)
    invitation = invitation_of(meeting, organizer)
    zone = meeting.meeting_type.profile.timezone if to_host else meeting.visitor_timezone
    context = {
        "meeting": meeting,
        "kind": kind,
        "to_host": to_host,
        "local_start": meeting.starts_at.astimezone(zone_or_utc(zone)),
        "local_end": meeting.ends_at.astimezone(zone_or_utc(zone)),
        "zone": zone,
        "host_name": organizer.name,
        "urls": manage_urls(meeting),
        "prospect_url": settings.SITE_URL + reverse("prospect_detail", args=[meeting.prospect_id])
        if meeting.prospect_id
        else "",
    }
    subject = render_to_string("campaigns/meetings/email_subject.txt", context).strip()
    body = render_to_string("campaigns/meetings/email_body.txt", context)
    to = meeting.meeting_type.profile.user.email if to_host else meeting.visitor_email
    reply_to = [meeting.visitor_email] if to_host else [organizer.email]
    message = EmailMessage(subject=subject, body=body, from_email=from_header, to=[to], reply_to=reply_to)
    message.attach(_calendar_part(invitation_ics(invitation), invitation.method))
    return message


def _mark(meeting: Meeting, side: str) -> str:
    return f"meetings:invite:{meeting.pk}:{meeting.sequence}:{side}"


def invitations_deliver(*, meeting_id: int, kind: str) -> int:
    """Send what is not sent yet for the meeting's current SEQUENCE; raises on a mail failure (the task retries)."""
    meeting = (
        Meeting.objects.select_related("meeting_type__profile__user", "meeting_type__profile__mailbox")
        .filter(pk=meeting_id)
        .first()
    )
    if meeting is None:
        return 0
    sent = 0
    for side in ("visitor", "host"):
        key = _mark(meeting, side)
        if not cache.add(key, 1, SENT_MARK_SECONDS):
            continue
        try:
            _email(meeting, kind=kind, to_host=side == "host").send()
        except Exception:
            cache.delete(key)
            raise
        sent += 1
    return sent


def invitations_send(*, org_id: int, meeting_id: int, kind: str) -> None:
    """Right after a change commits: send now; on a mail failure leave it to the retrying task."""
    try:
        with org_scope(org_id):
            invitations_deliver(meeting_id=meeting_id, kind=kind)
    except Exception:
        log.exception("meetings: invitation for meeting %s failed; retrying in the background", meeting_id)
        task_send("campaigns.meetings.tasks.meeting_invitations_task", org_id, meeting_id, kind, countdown=30)
