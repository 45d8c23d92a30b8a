"""The pieces of matching that need no server: Message-IDs in every References style, subjects across clients."""

from __future__ import annotations

import email

import pytest

from outreach.inbound.matching import looks_like_bounce, message_ids, subject_normalise


def test_message_ids_in_every_references_style() -> None:
    assert message_ids("<a@x> <b@y>") == ["<a@x>", "<b@y>"]
    assert message_ids("<a@x>,<b@y>") == ["<a@x>", "<b@y>"]  # Exchange
    assert message_ids("<a@x>\r\n\t<b@y>") == ["<a@x>", "<b@y>"]  # folded
    assert message_ids("<a@x><b@y>") == ["<a@x>", "<b@y>"]
    assert message_ids("") == [] and message_ids(None) == []


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Quick question",
        "RE : Quick question",  # French Outlook
        "AW: Quick question",
        "SV: Re: Quick question",
        "Re[2]: quick   QUESTION",
        "Antw: Quick question",
        "Automatic reply: Quick question",
        "Abwesenheitsnotiz: Quick question",
        "Réponse automatique : Quick question",
        "Fwd: Quick question",
    ],
)
def test_reply_and_auto_reply_prefixes_are_stripped(subject: str) -> None:
    assert subject_normalise(subject) == "quick question"


def test_a_subject_that_only_mentions_a_prefix_word_keeps_it() -> None:
    assert subject_normalise("Re: Regarding your offer") == "regarding your offer"
    assert subject_normalise("Are we on for Friday?") == "are we on for friday?"


def test_bounce_shapes_by_headers() -> None:
    def headers(text: str) -> email.message.Message:
        return email.message_from_string(text)

    assert looks_like_bounce(headers("From: MAILER-DAEMON@mx.test\n\n"))
    assert looks_like_bounce(
        headers("From: x@y.test\nContent-Type: multipart/report; report-type=delivery-status\n\n")
    )
    assert looks_like_bounce(headers("From: x@y.test\nX-Failed-Recipients: a@b.test\n\n"))
    assert not looks_like_bounce(headers("From: ada@prospect.test\nSubject: Re: hi\n\n"))
