"""What came back: a bounce, an auto-reply (out-of-office, with its return date), or a human reply.

Order matters: bounces first (a DSN is auto-submitted too, and Postfix says so), then auto-replies by their headers
(RFC 3834 `Auto-Submitted` and the vendor headers), then by subject in eight languages; everything else is a reply.
An auto-reply is never a reply, so a vacation message never stops a sequence as if the person had answered.

Bounces are read from RFC 3464 delivery status notifications (Status, Action, Diagnostic-Code per recipient, the
returned message's headers for the original Message-ID); mail that is not a DSN but bounces all the same (Exim's
`X-Failed-Recipients`, older Exchange and qmail text bounces from MAILER-DAEMON) goes through flufl.bounce for the
recipients and a status code read from the text. 5.x.x is permanent ("hard"), 4.x.x and "delayed" are temporary.
"""

from __future__ import annotations

import contextlib
import datetime
import email.header
import email.message
import email.parser
import email.policy
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage as ReplyText

from outreach.models import ReplyKind

from .dates import dates_in, fold

logger = logging.getLogger(__name__)

CLEAN_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "sv")


@dataclass
class Classification:
    kind: str  # outreach.models.ReplyKind value: "reply" | "auto_reply" | "bounce"
    reason: str  # plain words: "Auto-Submitted: auto-replied header", "DSN status 5.1.1 (user unknown)"
    return_date: datetime.date | None = None
    bounce_status: str = ""  # "5.1.1"
    bounce_hard: bool = False
    bounced_email: str = ""
    original_message_id: str = ""  # from the DSN's returned headers / message/rfc822 part, when present
    headers: dict[str, str] = field(default_factory=dict)  # the headers that decided


def classify_message(msg: email.message.EmailMessage, *, received_at: datetime.datetime) -> Classification:
    """Bounce, auto-reply or reply, with the evidence that decided (see the module docstring for the order)."""
    bounce = bounce_classify(msg)
    if bounce is not None:
        return bounce
    auto = auto_reply_classify(msg)
    if auto is not None:
        auto.return_date = return_date_find(message_text(msg), received_at=received_at)
        return auto
    return Classification(kind=ReplyKind.REPLY, reason="No auto-reply or bounce marks: a person wrote it")


# --- message text -----------------------------------------------------------------------------------------------


# Headers are read raw (`raw_items`): the stdlib's default policy parses a header on every access, which made
# classifying cost ~30 ms a mail; only what a person reads (Subject, From) has its encoded words decoded.
_ENCODED_WORD = "=?"


def _header(msg: email.message.Message, name: str) -> str:
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            text = str(value)
            if _ENCODED_WORD in text:
                with contextlib.suppress(ValueError, LookupError, UnicodeError):
                    text = str(email.header.make_header(email.header.decode_header(text)))
            return " ".join(text.split())
    return ""


def _content_type(part: email.message.Message) -> str:
    """The part's MIME type as get_content_type() gives it, read without the default policy's full parse."""
    value = _header(part, "Content-Type").split(";", 1)[0].strip().lower()
    if "/" in value:
        return value
    return "message/rfc822" if part.get_default_type() == "message/rfc822" else "text/plain"


def _param(part: email.message.Message, header: str, name: str) -> str:
    match = re.search(
        rf'(?:^|;)\s*{re.escape(name)}\s*=\s*"?([^";]*)"?', _header(part, header), re.IGNORECASE
    )
    return match.group(1).strip().lower() if match else ""


def _decoded(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = _param(part, "Content-Type", "charset") or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body: block ends become line breaks, tags and scripts go."""
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote)\s*>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def message_text(msg: email.message.Message) -> str:
    """The message's own text: its first text/plain part, else its HTML as text. Attached or returned messages
    (message/rfc822 inside a DSN or a forward) are not part of it."""
    plain, markup = "", ""
    stack: list[email.message.Message] = [msg]
    while stack:
        part = stack.pop(0)
        content_type = _content_type(part)
        if content_type.startswith("message/") and part is not msg:
            continue
        if part.is_multipart():
            payload = part.get_payload()
            stack[0:0] = [p for p in payload if isinstance(p, email.message.Message)]  # type: ignore[union-attr]
            continue
        if _header(part, "Content-Disposition").lower().startswith("attachment"):
            continue
        if content_type == "text/plain" and not plain:
            plain = _decoded(part)
        elif content_type == "text/html" and not markup:
            markup = _decoded(part)
    return plain if plain.strip() else html_to_text(markup)


# --- auto-replies -----------------------------------------------------------------------------------------------

# (header, test on the folded value, reason) in the order they are checked.
_AUTO_HEADERS: tuple[tuple[str, str], ...] = (
    ("Auto-Submitted", r"^(?!no$).+"),
    ("X-Autoreply", r"^(?!no$).+"),
    ("X-Autorespond", r"^(?!no$).+"),
    ("X-Autogenerated", r"reply"),
    ("X-Auto-Response-Suppress", r".+"),
    ("Precedence", r"^(auto_reply|bulk|junk|list)$"),
)
_AUTO_SUBJECTS: tuple[tuple[str, str], ...] = (
    (
        "English",
        r"out of (the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|automatic response"
        r"|away from (the |my )?office|on (vacation|holiday|leave|annual leave)|\booo\b|vacation (reply|notice)",
    ),
    (
        "German",
        r"abwesenheit|automatische antwort|nicht im buro|ausser haus|im urlaub|automatische rueckantwort",
    ),
    ("French", r"reponse automatique|\babsence\b|absent(e)? du bureau|en conges?\b|en vacances"),
    ("Spanish", r"respuesta automatica|fuera de (la )?oficina|\bausente\b|\bausencia\b|de vacaciones"),
    (
        "Italian",
        r"risposta automatica|fuori sede|fuori (dall')?ufficio|\bassente\b|\bassenza\b|in vacanza|in ferie",
    ),
    ("Dutch", r"\bafwezig|automatisch antwoord|niet op kantoor|buiten kantoor|op vakantie"),
    ("Portuguese", r"resposta automatica|\bausente\b|fora do escritorio|\bausencia\b|de ferias|em ferias"),
    ("Swedish", r"franvaro|\bautosvar\b|automatiskt svar|pa semester|inte pa kontoret|ej pa kontoret"),
)
# The original subject after a reply prefix is ours, not theirs: "Re: Planning your vacation" is a person's reply.
_REPLY_PREFIX = re.compile(
    r"(?:^|\s|:)(re|aw|sv|antw|ant|r|res|rif|wg|fw|fwd|tr|rv|vs|ref)\s?:", re.IGNORECASE
)


def auto_reply_classify(msg: email.message.Message) -> Classification | None:
    """An auto-reply by its headers, then by its subject; None when it has neither mark."""
    for name, pattern in _AUTO_HEADERS:
        value = _header(msg, name)
        if value and re.search(pattern, value.strip().lower()):
            return Classification(
                kind=ReplyKind.AUTO_REPLY, reason=f"{name}: {value[:80]} header", headers={name: value}
            )
    content_type = _content_type(msg)
    if (
        content_type == "multipart/report"
        and _param(msg, "Content-Type", "report-type") == "disposition-notification"
    ):
        return Classification(
            kind=ReplyKind.AUTO_REPLY,
            reason="Read receipt (disposition notification)",
            headers={"Content-Type": _header(msg, "Content-Type")},
        )
    subject = _header(msg, "Subject")
    own = _REPLY_PREFIX.split(subject, maxsplit=1)[0]
    folded = fold(own)
    for language, pattern in _AUTO_SUBJECTS:
        match = re.search(pattern, folded)
        if match:
            return Classification(
                kind=ReplyKind.AUTO_REPLY,
                reason=f"Subject says it is automatic ({language}: “{own.strip()[:80]}”)",
                headers={"Subject": subject},
            )
    return None


# Words that introduce the day someone is back ("back on", "zurück am", "de retour le", "ab dem"), and words that
# introduce the last day away ("until", "bis", "jusqu'au"): a date after the first kind wins over one after the second.
_BACK_WORDS = re.compile(
    r"\b(back|return|returning|returns|in the office (again|on|from)|available (again|from|on)|zuruck|wieder"
    r"|ab dem|ab|de retour|retour|reviens|reprendrai|a partir du|regreso|regresare|regresa|vuelvo|vuelta|volvere"
    r"|a partir del|rientro|rientrero|di ritorno|tornero|dal|terug|weer (aanwezig|op kantoor|bereikbaar)|vanaf"
    r"|regresso|retorno|volto|de volta|a partir de|tillbaka|ater|fran och med)\b",
    re.IGNORECASE,
)
_UNTIL_WORDS = re.compile(
    r"\b(until|till|through|bis( zum| einschliesslich| zu)?|jusqu'(au|a)|jusqu au|hasta( el)?|fino al"
    r"|tot( en met)?|t/m|ate|till och med|t\.o\.m\.)\b",
    re.IGNORECASE,
)
_ANCHOR_REACH = 40  # characters between a "back on"-like word and the date it introduces


def return_date_find(text: str, *, received_at: datetime.datetime) -> datetime.date | None:
    """The return date an out-of-office gives: the first date right after a "back on / zurück am / de retour le"
    word, else after an "until / bis / jusqu'au" word, else the latest full date it names; never before the day
    it arrived."""
    own = clean_body(text)[:4000]
    found = dates_in(own, today=received_at.date())
    if not found:
        return None
    folded = fold(own)
    for words in (_BACK_WORDS, _UNTIL_WORDS):
        anchors = [match.end() for match in words.finditer(folded)]
        for date in found:
            if any(0 <= date.start - end <= _ANCHOR_REACH for end in anchors):
                return date.date
    full = [date.date for date in found if not date.weekday_only]
    return max(full) if full else None


# --- bounces ----------------------------------------------------------------------------------------------------

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_STATUS_WORDS = {
    "1.1": "user unknown",
    "1.2": "domain not found",
    "1.3": "bad address syntax",
    "1.10": "recipient not found",
    "2.1": "mailbox disabled",
    "2.2": "mailbox full",
    "2.3": "message too large",
    "3.2": "receiving system not accepting mail",
    "4.1": "no answer from the receiving server",
    "4.4": "no route to the receiving server",
    "4.7": "gave up after trying for too long",
    "7.1": "refused by the receiver's policy",
    "7.26": "refused: the mail failed authentication",
}
_STATUS_CLASSES = {
    "0": "other problem",
    "1": "address problem",
    "2": "mailbox problem",
    "3": "receiving system problem",
    "4": "network or routing problem",
    "5": "delivery protocol problem",
    "6": "content problem",
    "7": "refused by policy or security",
}
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery (has )?failed|mail delivery failed|returned mail"
    r"|delivery failure|failure notice|could not be delivered|unzustellbar|nicht zustellbar|non remis|non distribuable"
    r"|no se puede entregar|no entregado|non recapitabile|onbestelbaar|nao entregue|kunde inte levereras",
    re.IGNORECASE,
)


def status_words(status: str) -> str:
    """RFC 3463's meaning of a status code in plain words: "5.1.1" → "user unknown"."""
    _klass, _, rest = status.partition(".")
    return _STATUS_WORDS.get(rest) or _STATUS_CLASSES.get(rest.partition(".")[0], "delivery problem")


def _address(value: str) -> str:
    """ "rfc822; jane@acme.com" or "<jane@acme.com>" → "jane@acme.com"."""
    value = value.partition(";")[2] if ";" in value else value
    match = re.search(r"[^\s<>;,\"']+@[^\s<>;,\"']+", value)
    return match.group(0).strip(".").lower() if match else ""


@dataclass
class _Recipient:
    email: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""


def _dsn_recipients(msg: email.message.Message) -> list[_Recipient] | None:
    """The per-recipient blocks of the first message/delivery-status part; None when there is no such part."""
    for part in msg.walk():
        if _content_type(part) != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):  # an unparsed block of text: parse it as header blocks
            text = str(blocks).replace("\r\n", "\n")
            parser = email.parser.HeaderParser(policy=email.policy.compat32)
            blocks = [parser.parsestr(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]
        recipients = []
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            if not isinstance(block, email.message.Message):
                continue
            address = _address(_header(block, "Final-Recipient") or _header(block, "Original-Recipient"))
            status = _STATUS.search(_header(block, "Status"))
            recipients.append(
                _Recipient(
                    email=address,
                    action=_header(block, "Action").lower(),
                    status=".".join(status.groups()) if status else "",
                    diagnostic=_header(block, "Diagnostic-Code"),
                )
            )
        return recipients
    return None


def _returned_headers(msg: email.message.Message) -> email.message.Message | None:
    """The returned message (message/rfc822) or its headers (text/rfc822-headers) inside a bounce."""
    for part in msg.walk():
        content_type = _content_type(part)
        if content_type == "message/rfc822" and part is not msg:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                inner = payload[0]
                return inner if isinstance(inner, email.message.Message) else None
        if content_type == "text/rfc822-headers":
            return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(_decoded(part))
    return None


_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


def original_message_id_find(msg: email.message.Message) -> str:
    """The Message-ID of the mail that bounced: from the returned headers, else from a copy quoted in the text."""
    returned = _returned_headers(msg)
    if returned is not None and _header(returned, "Message-ID"):
        return _header(returned, "Message-ID")
    for part in msg.walk():
        if part is msg or part.is_multipart() or _content_type(part) not in {"text/plain", "text/html"}:
            continue
        match = _MESSAGE_ID_LINE.search(html.unescape(_decoded(part)))
        if match:
            return match.group(1)
    if not msg.is_multipart():
        match = _MESSAGE_ID_LINE.search(_decoded(msg))
        if match:
            return match.group(1)
    return ""


def _is_bounce(msg: email.message.Message) -> str:
    """Why this is a bounce ("" when it is not): a DSN, Exim's header, or a mailer daemon's failure notice."""
    if (
        _content_type(msg) == "multipart/report"
        and _param(msg, "Content-Type", "report-type") == "delivery-status"
    ):
        return "Delivery status notification (RFC 3464)"
    if any(_content_type(part) == "message/delivery-status" for part in msg.walk()):
        return "Delivery status notification (RFC 3464)"
    if _header(msg, "X-Failed-Recipients"):
        return "X-Failed-Recipients header"
    sender = _header(msg, "From") + " " + _header(msg, "Return-Path")
    if _BOUNCE_SENDER.search(sender) and _BOUNCE_SUBJECT.search(_header(msg, "Subject")):
        return "Failure notice from the mail system"
    return ""


def _text_recipients(msg: email.message.Message) -> tuple[list[str], list[str]]:
    """flufl.bounce's (temporary, permanent) recipients for bounces that are not DSNs."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector that chokes on odd mail must not lose the message
        logger.warning("flufl.bounce could not read a bounce", exc_info=True)
        return [], []

    def plain(items: object) -> list[str]:
        return sorted(_address(i.decode() if isinstance(i, bytes) else str(i)) for i in items)  # type: ignore[attr-defined]

    return plain(temporary), plain(permanent)


def _pick(recipients: list[_Recipient]) -> _Recipient:
    """The recipient the bounce is about: a failure first, then a delay, then whatever it reports."""
    for wanted in ("failed", "delayed"):
        for recipient in recipients:
            if recipient.action == wanted:
                return recipient
    return recipients[0]


def bounce_classify(msg: email.message.Message) -> Classification | None:
    """A bounce with its status, permanence, bounced address and the original Message-ID; None if not a bounce.
    A DSN that reports success ("delivered", "relayed") is an automatic message, not a bounce."""
    why = _is_bounce(msg)
    if not why:
        return None
    recipients = _dsn_recipients(msg) or []
    recipient = _pick(recipients) if recipients else _Recipient()
    decided = {"Content-Type": _header(msg, "Content-Type")}
    if _header(msg, "X-Failed-Recipients"):
        decided["X-Failed-Recipients"] = _header(msg, "X-Failed-Recipients")
        recipient.email = recipient.email or _address(decided["X-Failed-Recipients"])
    if recipient.action in {"delivered", "relayed", "expanded"}:
        return Classification(
            kind=ReplyKind.AUTO_REPLY,
            reason=f"Delivery report: {recipient.action}, not a bounce",
            headers=decided,
        )
    if not recipient.status:
        found = _STATUS.search(recipient.diagnostic) or _STATUS.search(message_text(msg))
        recipient.status = ".".join(found.groups()) if found else ""
    if not recipient.email:
        temporary, permanent = _text_recipients(msg)
        recipient.email = (permanent or temporary or [""])[0]
        if not recipient.status and (permanent or temporary):
            recipient.status = "5.0.0" if permanent else "4.0.0"
    hard = recipient.action != "delayed" and not recipient.status.startswith("4")
    status = recipient.status or ("4.0.0" if not hard else "5.0.0")
    if recipient.action:
        decided["Action"] = recipient.action
    decided["Status"] = status
    if recipient.diagnostic:
        decided["Diagnostic-Code"] = recipient.diagnostic[:300]
    permanence = "permanent" if hard else ("delayed" if recipient.action == "delayed" else "temporary")
    return Classification(
        kind=ReplyKind.BOUNCE,
        reason=f"{why}: status {status} ({status_words(status)}), {permanence}",
        bounce_status=status,
        bounce_hard=hard,
        bounced_email=recipient.email,
        original_message_id=original_message_id_find(msg),
        headers=decided,
    )


# --- quoted history and signatures ------------------------------------------------------------------------------

_QUOTED_TAIL = re.compile(r"(?:\n[ \t]*>[^\n]*)+\s*\Z")
_SIGNATURE_DASHES = re.compile(r"\n-- ?\n.*\Z", re.DOTALL)
_FORWARD_MARKERS = re.compile(
    r"^(?:-{2,} ?(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Messaggio originale"
    r"|Oorspronkelijk bericht|Mensagem original|Ursprungligt meddelande) ?-{2,}"
    r"|Le .{5,120} a écrit ?:|El .{5,120} escribió:|Il giorno .{5,120} ha scritto:|Op .{5,120} schreef .{1,120}:"
    r"|Em .{5,120} escreveu:|Den .{5,120} skrev .{1,120}:)\s*$",
    re.MULTILINE | re.IGNORECASE,
)


@cache
def _reply_patterns(languages: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """mail-parser-reply's patterns for these languages, compiled once (it compiles them for every message)."""
    languages = tuple(EmailReplyParser(languages=list(languages)).languages)
    sample = ReplyText(text="", languages=list(languages))
    return sample.HEADER_REGEX, sample.SIGNATURE_REGEX, sample.DISCLAIMERS_REGEX


def clean_body(text: str, *, languages: Sequence[str] = CLEAN_LANGUAGES) -> str:
    """The newest part of a reply, for display: quoted history ("On … wrote:", Outlook's "From: … Sent: …" block
    and underscore line, "> " lines) and the signature stripped. The original stays in Reply.body_text."""
    if not text or not text.strip():
        return ""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    header, signature, disclaimers = _reply_patterns(tuple(languages))
    parsed = ReplyText(
        text=normalised,
        languages=list(languages),
        _header_regex=header,
        _signature_regex=signature,
        _disclaimers_regex=disclaimers,
    ).read()
    newest = parsed.replies[0].body if parsed.replies else normalised
    marker = _FORWARD_MARKERS.search(newest)
    if marker:
        newest = newest[: marker.start()]
    newest = _SIGNATURE_DASHES.sub("", "\n" + newest)
    newest = _QUOTED_TAIL.sub("", newest).strip()
    # Everything quoted (a reply written below the quote, or nothing of their own): keep the text readable.
    return newest or normalised.strip()
