"""Signed tokens of the public pages: which prospect and email a booking link came from, and which meeting a
visitor may cancel or move. Signed with `django.core.signing` (salted per use); they carry ids, never show them
unsigned, and do not expire: a link must keep working while the mail sits in an inbox or the invite in a calendar.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

LINK_SALT = "campaigns.meetings.link"
MANAGE_SALT = "campaigns.meetings.manage"


@dataclass(frozen=True)
class LinkTarget:
    org_id: int
    prospect_id: int
    send_key: str  # the outreach message's send key (the message itself is made after its text is rendered)


def link_token_make(*, org_id: int, prospect_id: int, send_key: str) -> str:
    return signing.dumps([org_id, prospect_id, send_key], salt=LINK_SALT, compress=True)


def link_token_read(token: str) -> LinkTarget | None:
    """The prospect and message a booking link names, or None for anything forged or mangled."""
    if not token:
        return None
    try:
        org_id, prospect_id, send_key = signing.loads(token, salt=LINK_SALT)
        return LinkTarget(org_id=int(org_id), prospect_id=int(prospect_id), send_key=str(send_key))
    except (signing.BadSignature, ValueError, TypeError):
        return None


def _manage_signer() -> signing.Signer:
    return signing.Signer(salt=MANAGE_SALT, sep=".", algorithm="sha256")


def manage_token_make(*, org_id: int, meeting_id: int) -> str:
    return _manage_signer().sign(f"{org_id:x}-{meeting_id:x}")


def manage_token_read(token: str) -> tuple[int, int] | None:
    """(org id, meeting id) of a cancel/reschedule link, or None."""
    try:
        value = _manage_signer().unsign(token)
        org, _, meeting = value.partition("-")
        return int(org, 16), int(meeting, 16)
    except (signing.BadSignature, ValueError):
        return None
