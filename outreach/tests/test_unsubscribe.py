from __future__ import annotations

from django.test import Client

from outreach.models import Unsubscribe
from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.unsubscribe import token_make
from prospects.models import Suppression


def _message(tenant):
    return MessageFactory(mailbox=MailboxFactory(org=tenant.org), to_email="Ada@Example.test")


def _url(message) -> str:
    return f"/u/{token_make(message=message)}/"


def test_get_shows_a_button_and_never_unsubscribes(tenant) -> None:
    message = _message(tenant)
    response = Client().get(_url(message))
    assert response.status_code == 200
    assert b'id="unsubscribe-button"' in response.content and b"Ada@Example.test" in response.content
    message.refresh_from_db()
    assert message.unsubscribed_at is None
    assert not Suppression.objects.unscoped().filter(org=tenant.org).exists()


def test_one_click_post_unsubscribes_at_once(tenant) -> None:
    message = _message(tenant)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        _url(message), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    message.refresh_from_db()
    assert message.unsubscribed_at is not None
    assert Suppression.objects.unscoped().filter(org=tenant.org, value="ada@example.test").exists()
    [entry] = Unsubscribe.objects.unscoped().filter(org=tenant.org)
    assert (entry.email, entry.method, entry.message_id) == ("ada@example.test", "one-click", message.pk)
    # A repeat (mail providers retry) changes nothing.
    client.post(_url(message), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert Unsubscribe.objects.unscoped().filter(org=tenant.org).count() == 1


def test_page_button_unsubscribes(tenant) -> None:
    message = _message(tenant)
    Client().post(_url(message), {"via": "page"})
    assert Unsubscribe.objects.unscoped().get(org=tenant.org).method == "page"


def test_bad_token_shows_a_neutral_page(tenant) -> None:
    message = _message(tenant)
    token = token_make(message=message)
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (forged, "nonsense", f"{message.org_id}-{message.pk}"):
        response = Client().post(
            f"/u/{bad}/", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 404 and b"This link does not work" in response.content
        assert message.to_email.encode() not in response.content
    message.refresh_from_db()
    assert message.unsubscribed_at is None


def test_token_is_case_insensitive_and_fits_an_email_local_part(tenant) -> None:
    message = _message(tenant)
    token = token_make(message=message)
    assert len("unsubscribe+" + token) <= 64
    response = Client().get(f"/u/{token.upper()}/")
    assert response.status_code == 200
