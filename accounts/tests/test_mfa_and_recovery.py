"""TOTP two-factor login with recovery codes, password reset and the local mail sink page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written here so the test does not trust allauth's own code."""
    counter = int((at or time.time()) // 30)
    digest = hmac.new(
        base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1
    ).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def _login(client: Client, email: str) -> str:
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    return response["Location"] if response.status_code == 302 else ""


def test_totp_login_and_recovery_code(tenant) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    _login(client, tenant.member.email)
    # Turning on 2FA asks for the password again (allauth's reauthentication).
    assert "reauthenticate" in client.get(reverse("mfa_activate_totp"))["Location"]
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp(secret)})
    assert response.status_code == 302
    codes_page = client.get(reverse("mfa_view_recovery_codes")).content.decode()
    codes = re.findall(r"\b[0-9a-f]{8}\b", codes_page)
    assert len(codes) >= 5
    client.post(reverse("account_logout"))

    # Password alone is no longer enough.
    fresh = Client()
    assert "2fa/authenticate" in _login(fresh, tenant.member.email)
    assert fresh.get(reverse("dashboard")).status_code == 302
    wrong = fresh.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
    fresh.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert tenant.org.name in fresh.get(reverse("dashboard")).content.decode()

    # A recovery code works once.
    again = Client()
    _login(again, tenant.member.email)
    reuse = again.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert reuse.status_code == 200


def test_password_reset_by_email(client: Client) -> None:
    user = UserFactory(email="forgetful@example.test")
    client.post(reverse("account_reset_password"), {"email": "forgetful@example.test"})
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+/", mail.outbox[-1].body)
    assert link
    path = "/" + link.group(0).split("/", 3)[3]
    form_url = client.get(path)["Location"]
    client.post(form_url, {"password1": "brand-new-passphrase-9", "password2": "brand-new-passphrase-9"})
    user.refresh_from_db()
    assert user.check_password("brand-new-passphrase-9")


def test_dev_mail_page_lists_sink_messages(tenant, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "1.eml").write_bytes(
        b"Subject: Confirm <b>you</b>\r\nTo: a@example.test\r\nContent-Type: text/plain\r\n\r\nhello link\r\n"
    )
    settings.MAIL_SINK_DIR = str(tmp_path)
    settings.DEBUG = False
    assert tenant.member_client.get(reverse("dev_mail")).status_code == 404
    settings.DEBUG = True
    body = tenant.member_client.get(reverse("dev_mail")).content.decode()
    assert "Confirm &lt;b&gt;you&lt;/b&gt;" in body and "hello link" in body


def test_dev_mail_page_needs_a_login(tenant, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "1.eml").write_bytes(
        b"Subject: Reset your password\r\nTo: a@example.test\r\n\r\nsecret link\r\n"
    )
    settings.MAIL_SINK_DIR = str(tmp_path)
    settings.DEBUG = True
    anonymous = Client().get(reverse("dev_mail"))
    assert anonymous.status_code == 302 and reverse("account_login") in anonymous["Location"]
    # Logged in but neither staff nor a member of any organisation: nothing.
    outsider = Client()
    outsider.force_login(UserFactory())
    response = outsider.get(reverse("dev_mail"))
    assert response.status_code == 404 and b"secret link" not in response.content
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    assert b"secret link" in staff.get(reverse("dev_mail")).content
