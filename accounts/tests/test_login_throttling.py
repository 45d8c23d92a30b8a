"""Login throttling keyed by client and account together: an attacker hammering an account from one address is
stopped there without locking the owner out elsewhere, and a password reset lets the owner back in everywhere."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from conftest import Tenant

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.20"
LOCKED = "Too many failed login attempts"


def _login(client: Client, email: str, password: str) -> tuple[bool, str]:
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    return response.status_code == 302, response.content.decode()


def _hammer(client: Client, email: str) -> None:
    for _ in range(6):
        _login(client, email, "wrong-password-123")
    ok, page = _login(client, email, PASSWORD)
    assert not ok and LOCKED in page  # even the right password is refused from this client now


def test_attacker_on_one_ip_does_not_lock_the_owner_out_elsewhere(tenant: Tenant) -> None:
    email = tenant.member.email
    _hammer(Client(REMOTE_ADDR=ATTACKER), email)
    ok, page = _login(Client(REMOTE_ADDR=OWNER), email, PASSWORD)
    assert ok, page


def test_password_reset_clears_the_lock(tenant: Tenant) -> None:
    email = tenant.member.email
    # The owner shares the attacker's address (an office, a mobile carrier's NAT): locked there.
    _hammer(Client(REMOTE_ADDR=ATTACKER), email)
    reset = Client(REMOTE_ADDR=OWNER)
    reset.post(reverse("account_reset_password"), {"email": email})
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+/", mail.outbox[-1].body)
    assert link
    form_url = reset.get("/" + link.group(0).split("/", 3)[3])["Location"]
    new_password = "brand-new-passphrase-9"
    reset.post(form_url, {"password1": new_password, "password2": new_password})
    ok, page = _login(Client(REMOTE_ADDR=ATTACKER), email, new_password)
    assert ok, page


def test_behind_a_proxy_clients_are_told_apart_by_x_forwarded_for(tenant: Tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.5"
    email = tenant.member.email
    _hammer(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER), email)
    ok, page = _login(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=OWNER), email, PASSWORD)
    assert ok, page
