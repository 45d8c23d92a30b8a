"""The client's address behind TRUSTED_PROXY_COUNT proxies, and the per-IP limits that use it."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from leadgen.clientip import client_ip
from prospects.tests.factories import LeadFormFactory


def _ip(settings, trusted: int, forwarded: str | None, remote: str = "10.0.0.1") -> str:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = trusted
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_spoofed_header_is_ignored_without_trusted_proxies(settings) -> None:  # type: ignore[no-untyped-def]
    assert _ip(settings, 0, "1.2.3.4") == "10.0.0.1"
    assert _ip(settings, 0, None) == "10.0.0.1"


def test_header_is_read_right_to_left(settings) -> None:  # type: ignore[no-untyped-def]
    # The client sent "6.6.6.6" itself; our one proxy appended the address it saw.
    assert _ip(settings, 1, "6.6.6.6, 203.0.113.7") == "203.0.113.7"
    assert _ip(settings, 1, "203.0.113.7") == "203.0.113.7"
    assert _ip(settings, 2, "6.6.6.6, 203.0.113.7, 10.0.0.9") == "203.0.113.7"
    # Fewer entries than proxies, or garbage where the address should be: the connection's own address.
    assert _ip(settings, 2, "203.0.113.7") == "10.0.0.1"
    assert _ip(settings, 1, "6.6.6.6, not-an-ip") == "10.0.0.1"
    assert _ip(settings, 1, " 2001:db8::1 ") == "2001:db8::1"


@pytest.mark.django_db
def test_web_form_rate_limit_counts_the_forwarded_client(tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEAD_FORM_RATE_LIMIT_PER_MINUTE = 2
    lead_form = LeadFormFactory(org=tenant.org)
    url = reverse("lead_form_submit", kwargs={"form_key": lead_form.key})

    def post(remote: str, forwarded: str) -> int:
        client = Client(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
        return client.post(
            url, {"email": f"x{forwarded.replace(',', '').replace(' ', '')}@example.test"}
        ).status_code

    # No trusted proxy: the header is the client's to forge, so changing it does not reset the count.
    assert [post("10.9.8.7", f"1.1.1.{i}") for i in range(3)] == [200, 200, 429]
    # One trusted proxy: every client behind it has its own count.
    settings.TRUSTED_PROXY_COUNT = 1
    assert [post("10.0.0.5", "6.6.6.6, 198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert post("10.0.0.5", "198.51.100.2") == 200
