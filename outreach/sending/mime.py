"""The email as it leaves: a text/plain part always, multipart/alternative when there is HTML, the footer with the
organisation's postal address and an unsubscribe link, threading and RFC 8058 headers, optional DKIM.
"""

from __future__ import annotations

from email.utils import formataddr

import dkim
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape, format_html, linebreaks

from outreach import unsubscribe
from outreach.models import Mailbox, Message
from outreach.tracking.links import Tracked

# Headers a DKIM signature must cover; both List-Unsubscribe headers are required by RFC 8058 §4.
DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
]


def text_with_footer(
    *, message: Message, mailbox: Mailbox, postal_address: str, unsubscribe_link: str, body: str | None = None
) -> str:
    parts = [(message.body_text if body is None else body).rstrip()]
    if mailbox.signature.strip():
        parts.append("-- \n" + mailbox.signature.strip())
    parts.append(f"{postal_address.strip()}\nUnsubscribe: {unsubscribe_link}")
    return "\n\n".join(parts) + "\n"


def html_with_footer(
    *, message: Message, mailbox: Mailbox, postal_address: str, unsubscribe_link: str, body: str | None = None
) -> str:
    signature = linebreaks(escape(mailbox.signature.strip())) if mailbox.signature.strip() else ""
    footer = format_html(
        '<p style="color:#666;font-size:12px">{}<br><a href="{}">Unsubscribe</a></p>',
        postal_address.strip(),
        unsubscribe_link,
    )
    # body_html was rendered by composing with autoescape on; the signature and footer are escaped here.
    return f"{message.body_html if body is None else body}{signature}{footer}"


def headers_for(*, message: Message, unsubscribe_link: str, unsubscribe_mailto: str) -> dict[str, str]:
    headers = {
        "Message-ID": message.message_id,
        "List-Unsubscribe": f"<{unsubscribe_link}>, <mailto:{unsubscribe_mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
    references = " ".join(message.references.replace(",", " ").split())
    if references:
        headers["References"] = references
    return headers


def email_build(
    *, message: Message, mailbox: Mailbox, postal_address: str, tracked: Tracked | None = None
) -> EmailMultiAlternatives:
    """The Django email for `message` (used as is by the ESP transports, as bytes by SMTP). With `tracked`
    (outreach.tracking.links), its bodies replace the message's and the pixel follows the footer."""
    link = unsubscribe.unsubscribe_url(message=message)
    mailto = unsubscribe.unsubscribe_mailto(message=message)
    html_body = message.body_html if tracked is None else tracked.html
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text_with_footer(
            message=message,
            mailbox=mailbox,
            postal_address=postal_address,
            unsubscribe_link=link,
            body=tracked.text if tracked else None,
        ),
        from_email=formataddr((mailbox.from_name, mailbox.from_email))
        if mailbox.from_name
        else mailbox.from_email,
        to=[message.to_email],
        reply_to=[mailbox.reply_to] if mailbox.reply_to else None,
        headers=headers_for(message=message, unsubscribe_link=link, unsubscribe_mailto=mailto),
    )
    if html_body.strip():
        markup = html_with_footer(
            message=message,
            mailbox=mailbox,
            postal_address=postal_address,
            unsubscribe_link=link,
            body=html_body,
        )
        email.attach_alternative(markup + (tracked.pixel if tracked else ""), "text/html")
    return email


def dkim_sign(*, raw: bytes, mailbox: Mailbox) -> bytes:
    """`raw` with a DKIM-Signature header prepended when the mailbox has a key; unchanged otherwise."""
    if not (mailbox.dkim_selector and mailbox.dkim_private_key):
        return raw
    domain = mailbox.dkim_domain or mailbox.from_email.rsplit("@", 1)[-1]
    present = {line.split(b":", 1)[0].strip().lower() for line in raw.split(b"\r\n\r\n", 1)[0].splitlines()}
    signature = dkim.sign(
        raw,
        selector=mailbox.dkim_selector.encode(),
        domain=domain.encode(),
        privkey=mailbox.dkim_private_key.encode(),
        include_headers=[h for h in DKIM_HEADERS if h in present],
    )
    return signature + raw


def smtp_bytes(*, email: EmailMultiAlternatives, mailbox: Mailbox) -> bytes:
    raw = email.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]  # SafeMIME* take policy arguments
    return dkim_sign(raw=raw, mailbox=mailbox)
