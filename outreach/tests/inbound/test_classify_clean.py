"""clean_body: quoted history and signatures stripped for display, on the real-format replies of each client."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from outreach.inbound.classify import clean_body, message_text

FIXTURES = Path(__file__).parent / "fixtures"


def body_of(name: str) -> str:
    message = email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message_text(message)


def test_gmail_on_wrote_and_its_quote_and_dash_signature_go() -> None:
    original = body_of("reply_gmail.eml")

    cleaned = clean_body(original)

    assert cleaned == (
        "Hi Sam,\n\nThanks for reaching out — this sounds interesting. Could we set up a call next week? "
        "Tuesday or Wednesday afternoon works for me."
    )
    assert "wrote:" in original and "Head of Sales Operations" in original  # the original keeps everything


def test_outlook_underscore_line_and_from_sent_block_go() -> None:
    cleaned = clean_body(body_of("reply_outlook.eml"))

    assert cleaned.startswith("Hi Sam,\n\nI'm not the right person for this.")
    assert "jane.doe@contoso-industries.com), our VP Sales" in cleaned
    for gone in ("____", "From: Sam Seller", "Sent: Monday", "plant in Leeds", "Best regards", "+44 20"):
        assert gone not in cleaned


def test_apple_mail_quote_goes() -> None:
    cleaned = clean_body(body_of("reply_apple_mail.eml"))

    assert cleaned == "Not right now, we just signed a two-year contract. Try me again in March.\n\nLucy"


def test_german_am_schrieb_and_mit_freundlichen_gruessen_go() -> None:
    cleaned = clean_body(body_of("reply_gmail_de.eml"))

    assert cleaned == "Hallo Herr Seller,\n\ndanke für Ihre Nachricht. Wir haben leider kein Interesse."


def test_french_le_a_ecrit_and_cordialement_go() -> None:
    cleaned = clean_body(body_of("reply_thunderbird_fr.eml"))

    assert cleaned == "Bonjour Sam,\n\nPas pour le moment, merci. Recontactez-moi au 2e trimestre."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sounds good.\n\n-----Original Message-----\nFrom: Sam\nSent: Monday\n\nHi", "Sounds good."),
        ("Gerne.\n\n-----Ursprüngliche Nachricht-----\nVon: Sam\nGesendet: Montag\n\nHallo", "Gerne."),
        (
            "Sí, hablemos.\n\nEl lun, 30 nov 2026 a las 10:00, Sam <sam@x.com> escribió:\n> Hola",
            "Sí, hablemos.",
        ),
        ("Yes please.\n\nSent from my iPhone\n\n> On 30 Nov 2026, at 10:00, Sam wrote:\n> Hi", "Yes please."),
        ("Call me.\n\n> Hi Anna,\n> would a call help?", "Call me."),
    ],
)
def test_other_quote_shapes(text: str, expected: str) -> None:
    assert clean_body(text) == expected


def test_a_reply_that_is_all_quote_keeps_its_text() -> None:
    text = "> Hi Anna,\n> would a call help?"

    assert clean_body(text) == text


def test_empty() -> None:
    assert clean_body("") == "" and clean_body("  \n") == ""
