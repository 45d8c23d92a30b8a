from __future__ import annotations

import pytest

from outreach.tracking.tokens import token_make, token_read


def test_round_trip_names_message_and_link() -> None:
    token = token_make(kind="c", org_id=7, message_id=123456789, link_index=4)
    target = token_read(token, kind="c")
    assert target is not None
    assert (target.org_id, target.message_id, target.link_index) == (7, 123456789, 4)
    assert len(token) < 40 and all(c.isalnum() or c in "._-" for c in token)  # URL-safe as it is


def test_tampered_tokens_are_refused() -> None:
    token = token_make(kind="o", org_id=7, message_id=99)
    payload, _, mac = token.rpartition(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    other_message = token_make(kind="o", org_id=7, message_id=100).rpartition(".")[0] + "." + mac
    other_org = token_make(kind="o", org_id=8, message_id=99).rpartition(".")[0] + "." + mac
    for bad in (f"{payload}.{flipped}", other_message, other_org, payload, "", "x" * 200, token + "."):
        assert token_read(bad, kind="o") is None
    assert token_read(token, kind="o") is not None


def test_open_token_is_not_a_click_token() -> None:
    opened = token_make(kind="o", org_id=1, message_id=5)
    assert token_read(opened, kind="c") is None
    clicked = token_make(kind="c", org_id=1, message_id=5, link_index=0)
    assert token_read(clicked, kind="o") is None


def test_key_comes_from_secret_key(settings) -> None:
    token = token_make(kind="o", org_id=1, message_id=5)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert token_read(token, kind="o") is None


def test_click_token_needs_a_link() -> None:
    with pytest.raises(ValueError):
        token_make(kind="c", org_id=1, message_id=5)
