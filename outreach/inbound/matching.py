"""Which message we sent a piece of incoming mail belongs to, and which mail is worth downloading at all.

A reply names what it answers in `In-Reply-To` and `References` (RFC 5322); Exchange separates References with
commas, some clients with none; both are read. When a client broke the headers (a forward-as-reply, a webmail that
drops them), the sender's address and the normalised subject ("Re:", "AW:", "SV:", "RE :", "Automatic reply:" …
stripped) are compared with what this mailbox sent to that address. A bounce is matched through the original
Message-ID the DSN returns, else through the bounced recipient. Mail that matches nothing is not ours to store.

`candidates` is the cheap first pass of IMAP sync: only the headers are fetched, and only mail that may match (a
known Message-ID referenced, a sender we wrote to, or a bounce's shape) has its body downloaded.
"""

from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models.functions import Lower

from ..models import Mailbox, Message, MessageStatus
from .classify import Classification

MATCHED_IN_REPLY_TO = "in-reply-to"
MATCHED_REFERENCES = "references"
MATCHED_SUBJECT = "subject"
MATCHED_DSN = "dsn"
MATCHED_RECIPIENT = "recipient"

# What may have left: a message in `unknown` may have been delivered before the crash.
SENT_STATES = (MessageStatus.SENT, MessageStatus.UNKNOWN)

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Reply and forward prefixes of the common clients and languages, and the auto-reply prefixes of Outlook and
# Exchange in several languages; repeated ("Re: AW: Re[2]: ...") and with a space before the colon ("RE :").
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|ant|odp|ynt|res|rif|r|fw|fwd|wg|tr|rv|enc|doorst)\s*(?:\[\d+\]|\(\d+\))?"
    r"|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office(?: reply)?"
    r"|automatische antwort|abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|risposta automatica|automatisch antwoord|resposta autom[áa]tica|automatiskt svar|autosvar)\s*:\s*",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
# The header fields the first pass of IMAP sync fetches (BODY.PEEK[HEADER.FIELDS (...)]).
HEADER_FIELDS = (
    "MESSAGE-ID",
    "IN-REPLY-TO",
    "REFERENCES",
    "FROM",
    "SUBJECT",
    "CONTENT-TYPE",
    "X-FAILED-RECIPIENTS",
    "RETURN-PATH",
)


def message_ids(value: str | None) -> list[str]:
    """Every `<id>` in a header value, in order: space-, comma- or unseparated (Exchange's References)."""
    return _MESSAGE_ID.findall(value or "")


def subject_normalise(subject: str | None) -> str:
    """The subject without reply/forward/auto-reply prefixes, case and spacing: what two mails of a thread share."""
    text = " ".join((subject or "").split())
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.casefold().strip()


def address(value: str | None) -> str:
    """The bare address of a From-like header, lower-cased ('' when there is none)."""
    _, addr = email.utils.parseaddr(str(value or ""))
    return addr.strip().lower() if "@" in addr else ""


def looks_like_bounce(headers: email.message.Message) -> bool:
    """The shape of a delivery report: sent by a mailer daemon or postmaster, a multipart/report, or Exim's
    X-Failed-Recipients, or an empty envelope sender."""
    sender = address(headers.get("From"))
    if sender.split("@", 1)[0] in _BOUNCE_SENDERS:
        return True
    if "multipart/report" in str(headers.get("Content-Type", "")).lower():
        return True
    if headers.get("X-Failed-Recipients"):
        return True
    return str(headers.get("Return-Path", "")).strip() == "<>"


@dataclass(frozen=True)
class Match:
    message: Message
    matched_by: str


def _by_ids(*, org_id: int, ids: Sequence[str]) -> Message | None:
    """The latest of our messages among these ids (a References list ends with the newest)."""
    if not ids:
        return None
    found = {
        m.message_id: m
        for m in Message.objects.unscoped()
        .select_related("mailbox", "prospect")
        .filter(org_id=org_id, message_id__in=ids)
    }
    return next((found[mid] for mid in reversed(ids) if mid in found), None)


def _sent_to(*, mailbox: Mailbox, to_email: str) -> list[Message]:
    """What this mailbox sent to an address, newest first (a short list: one person's thread)."""
    return list(
        Message.objects.unscoped()
        .select_related("mailbox", "prospect")
        .filter(org_id=mailbox.org_id, mailbox=mailbox, status__in=SENT_STATES, to_email__iexact=to_email)
        .order_by("-sent_at", "-id")[:50]
    )


def match_message(
    *, mailbox: Mailbox, msg: email.message.Message, classification: Classification
) -> Match | None:
    """The message of ours this mail answers (or bounces), and how that was decided; None when it is not ours."""
    org_id = mailbox.org_id
    found = _by_ids(org_id=org_id, ids=message_ids(str(msg.get("In-Reply-To", ""))))
    if found is not None:
        return Match(found, MATCHED_IN_REPLY_TO)
    found = _by_ids(org_id=org_id, ids=message_ids(str(msg.get("References", ""))))
    if found is not None:
        return Match(found, MATCHED_REFERENCES)
    if classification.kind == "bounce":
        found = _by_ids(org_id=org_id, ids=message_ids(classification.original_message_id))
        if found is not None:
            return Match(found, MATCHED_DSN)
        if classification.bounced_email:
            sent = _sent_to(mailbox=mailbox, to_email=classification.bounced_email)
            return Match(sent[0], MATCHED_RECIPIENT) if sent else None
        return None
    sender = address(msg.get("From"))
    subject = subject_normalise(str(msg.get("Subject", "")))
    if not sender or not subject:
        return None
    for message in _sent_to(mailbox=mailbox, to_email=sender):
        if subject_normalise(message.subject) == subject:
            return Match(message, MATCHED_SUBJECT)
    return None


def candidates(*, mailbox: Mailbox, headers: Iterable[tuple[int, email.message.Message]]) -> list[int]:
    """The UIDs whose headers say they may match: a Message-ID of ours referenced, a sender this mailbox wrote
    to, or a bounce. Two queries for the whole batch, whatever its size."""
    rows = list(headers)
    ids_by_uid = {
        uid: message_ids(f"{h.get('In-Reply-To', '')} {h.get('References', '')}") for uid, h in rows
    }
    all_ids = {mid for ids in ids_by_uid.values() for mid in ids}
    known_ids = set(
        Message.objects.unscoped()
        .filter(org_id=mailbox.org_id, message_id__in=all_ids)
        .values_list("message_id", flat=True)
    )
    sender_by_uid = {uid: address(h.get("From")) for uid, h in rows}
    senders = set(sender_by_uid.values()) - {""}
    known_senders = set(
        Message.objects.unscoped()
        .filter(org_id=mailbox.org_id, mailbox=mailbox, status__in=SENT_STATES)
        .annotate(to_lower=Lower("to_email"))
        .filter(to_lower__in=senders)
        .values_list("to_lower", flat=True)
    )
    return [
        uid
        for uid, h in rows
        if known_ids.intersection(ids_by_uid[uid])
        or sender_by_uid[uid] in known_senders
        or looks_like_bounce(h)
    ]
