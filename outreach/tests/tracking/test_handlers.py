"""The pixel and the redirect as a mail client sees them, and what they put in the buffer."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tracking import buffer
from outreach.tracking.tokens import token_make

from . import fixtures as f

URL = "https://acme.test/pricing?plan=pro"


def _message(tenant, **kwargs):
    meta = {"track_opens": True, "track_clicks": True, "links": [URL, "https://acme.test/docs"]}
    return MessageFactory(mailbox=MailboxFactory(org=tenant.org), meta=meta, **kwargs)


def _buffered() -> list[dict]:
    client = buffer.redis_client()
    return [json.loads(item) for item in client.lrange(buffer.key(buffer.BUFFER_KEY), 0, -1)]


def _pixel(message) -> str:
    return f"/t/o/{token_make(kind='o', org_id=message.org_id, message_id=message.pk)}.gif"


def _click(message, index: int, org_id: int | None = None) -> str:
    org = org_id if org_id is not None else message.org_id
    return f"/t/c/{token_make(kind='c', org_id=org, message_id=message.pk, link_index=index)}"


def test_pixel_is_an_uncached_gif_and_buffers_the_hit(tenant, django_assert_max_num_queries) -> None:
    message = _message(tenant)
    with django_assert_max_num_queries(0):
        response = Client().get(_pixel(message), REMOTE_ADDR="203.0.113.57", HTTP_USER_AGENT=f.CHROME_MAC)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) == 42
    assert "no-store" in response["Cache-Control"] and response["Pragma"] == "no-cache"
    [hit] = _buffered()
    assert (hit["k"], hit["org"], hit["msg"], hit["ip"], hit["ua"], hit["m"]) == (
        "o",
        message.org_id,
        message.pk,
        "203.0.113.0/24",
        f.CHROME_MAC,
        "GET",
    )
    assert len(hit["id"]) == 32 and "203.0.113.57" not in json.dumps(hit)


def test_click_redirects_to_the_stored_url_only(tenant, django_assert_max_num_queries) -> None:
    message = _message(tenant)
    with django_assert_max_num_queries(1):
        response = Client().get(_click(message, 0), HTTP_SEC_PURPOSE="prefetch", REMOTE_ADDR="203.0.113.57")
    assert response.status_code == 302 and response["Location"] == URL
    assert "no-store" in response["Cache-Control"]
    assert Client().get(_click(message, 1))["Location"] == "https://acme.test/docs"
    hits = _buffered()
    assert [(h["k"], h["link"]) for h in hits] == [("c", 0), ("c", 1)]
    assert hits[0]["h"] == {"sec-purpose": "prefetch"}


@pytest.mark.parametrize(
    "path", ["/t/c/nonsense", "/t/c/1.2.3.AAAAAAAAAAAAAAAA", "/t/c/https:%2F%2Fevil.test"]
)
def test_bad_token_is_a_neutral_page_never_a_redirect(tenant, path) -> None:
    response = Client().get(path, {"url": "https://evil.test/"})
    assert response.status_code == 200 and b"This link is not available" in response.content
    assert "Location" not in response and b"evil.test" not in response.content
    assert _buffered() == []


def test_unknown_link_index_and_tampered_pixel(tenant) -> None:
    message = _message(tenant)
    assert Client().get(_click(message, 7)).status_code == 200  # no such link: neutral page
    forged = _pixel(message).replace(".gif", "x.gif")
    response = Client().get(forged)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert _buffered() == []


def test_token_of_tenant_a_never_reaches_tenant_b(tenant, other_tenant) -> None:
    """A click token signed for org A naming B's message id finds nothing (the lookup filters by both)."""
    theirs = _message(other_tenant)
    response = Client().get(_click(theirs, 0, org_id=tenant.org.pk))
    assert response.status_code == 200 and "Location" not in response
    assert _buffered() == []


def test_head_is_answered_and_marked(tenant) -> None:
    message = _message(tenant)
    response = Client().head(_click(message, 0))
    assert response.status_code == 302
    assert Client().head(_pixel(message)).status_code == 200
    assert [h["m"] for h in _buffered()] == ["HEAD", "HEAD"]


def test_post_is_refused(tenant) -> None:
    message = _message(tenant)
    assert Client().post(_pixel(message)).status_code == 405
    assert _buffered() == []
