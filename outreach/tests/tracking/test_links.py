"""Link rewriting and the pixel at send time, read from the mail the SMTP peer received."""

from __future__ import annotations

import re
from email.message import EmailMessage

from outreach.models import Message, OutreachSettings
from outreach.sending import engine
from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tracking.links import message_tracked
from outreach.tracking.tokens import token_read

TRACKED = {"track_opens": True, "track_clicks": True}
BODY = (
    "Hi Ada,\n\nOur pricing: https://acme.test/pricing?plan=pro&seats=5.\n"
    "Book a time: https://app.leadgen.test/book/sam/\nOr write to mailto:sam@acme.test\n"
    "Docs (https://docs.acme.test/start) and again https://acme.test/pricing?plan=pro&seats=5\n"
)


def _send(tenant, peer, **kwargs) -> tuple[Message, EmailMessage]:
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    mailbox = MailboxFactory(org=tenant.org, smtp_host=peer.host, smtp_port=peer.port)
    message = MessageFactory(mailbox=mailbox, **kwargs)
    with tenant.scope():
        assert engine.message_send(message_id=message.pk) == "sent"
    [received] = peer.wait_for(1)
    message.refresh_from_db()
    return message, received.message


def _parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html_part = mail.get_body(("html",))
    return text, html_part.get_content() if html_part else ""


def test_plain_text_campaign_mail_gets_tracked_html_and_pixel(tenant, peer) -> None:
    message, mail = _send(tenant, peer, body_text=BODY, meta=TRACKED)
    assert message.meta["links"] == [
        "https://acme.test/pricing?plan=pro&seats=5",
        "https://docs.acme.test/start",
    ]
    text, markup = _parts(mail)
    clicks = re.findall(r"https://app\.leadgen\.test/t/c/([\w.-]+)", markup)
    # Both occurrences of the pricing link share its index; the text shows the real address.
    assert [token_read(t, kind="c").link_index for t in clicks] == [0, 1, 0]  # type: ignore[union-attr]
    assert ">https://acme.test/pricing?plan=pro&amp;seats=5</a>." in markup
    [pixel] = re.findall(r'<img src="https://app\.leadgen\.test/t/o/([\w.-]+)\.gif"', markup)
    assert token_read(pixel, kind="o").message_id == message.pk  # type: ignore[union-attr]
    assert markup.index("Unsubscribe") < markup.index("/t/o/")  # the pixel follows the footer
    # The text part carries the tracked URLs too; the booking link, mailto and unsubscribe link are untouched.
    assert "acme.test/pricing" not in text and text.count("/t/c/") == 3
    for part in (text, markup):
        assert "https://app.leadgen.test/book/sam/" in part and "mailto:sam@acme.test" in part
        assert re.search(r"https://app\.leadgen\.test/u/[0-9a-z.\-]+/", part)


def test_html_body_links_are_rewritten_except_unsubscribe_and_mailto(tenant, peer) -> None:
    html_body = (
        '<p>See <a href="https://acme.test/case?a=1&amp;b=2">the case</a>, '
        "<a href='mailto:sam@acme.test'>mail me</a>, <a href=\"tel:+123\">call</a>.</p>"
    )
    message, mail = _send(tenant, peer, body_text="See the case", body_html=html_body, meta=TRACKED)
    assert message.meta["links"] == ["https://acme.test/case?a=1&b=2"]
    _, markup = _parts(mail)
    assert (
        "acme.test/case" not in markup
        and "href='mailto:sam@acme.test'" in markup
        and 'href="tel:+123"' in markup
    )


def test_first_email_plain_has_no_html_and_no_pixel_but_tracked_links(tenant, peer) -> None:
    message, mail = _send(tenant, peer, body_text=BODY, meta={**TRACKED, "plain": True})
    text, markup = _parts(mail)
    assert markup == "" and not mail.is_multipart()
    assert "/t/o/" not in text and text.count("/t/c/") == 3
    assert len(message.meta["links"]) == 2


def test_tracking_off_sends_the_mail_as_written(tenant, peer) -> None:
    message, mail = _send(tenant, peer, body_text=BODY, meta={"track_opens": False, "track_clicks": False})
    text, markup = _parts(mail)
    assert markup == "" and "https://acme.test/pricing?plan=pro&seats=5" in text and "/t/" not in text
    assert "links" not in message.meta


def test_opens_only_keeps_links_as_they_are(tenant, peer) -> None:
    _, mail = _send(tenant, peer, body_text=BODY, meta={"track_opens": True, "track_clicks": False})
    text, markup = _parts(mail)
    assert "/t/c/" not in text + markup and "/t/o/" in markup


def test_custom_tracking_domain(tenant) -> None:
    OutreachSettings.objects.unscoped().create(org=tenant.org, tracking_domain="click.acme.test")
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), body_text=BODY, meta=TRACKED)
    tracked = message_tracked(message=message)
    assert tracked is not None
    assert (
        "https://click.acme.test/t/c/" in tracked.text
        and 'src="https://click.acme.test/t/o/' in tracked.pixel
    )
