from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Organization, Role, User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-passphrase-1"


def _signup(client: Client, email: str, org: str = "") -> object:
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "organization_name": org},
    )


def test_signup_creates_owner_org_and_requires_verification(client: Client) -> None:
    response = _signup(client, "Founder@Startup.test", org="Startup Inc")
    assert response.status_code == 302
    user = User.objects.get(email="founder@startup.test")
    membership = Membership.objects.unscoped().select_related("org").get(user=user)
    assert membership.role == Role.OWNER and membership.org.name == "Startup Inc"
    assert "Confirm" in mail.outbox[-1].subject or "confirm" in mail.outbox[-1].body.lower()
    # Not verified yet: logging in sends the user to the verification notice.
    assert client.get(reverse("dashboard")).status_code == 302
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body)
    assert link
    path = "/" + link.group(0).split("/", 3)[3]
    client.post(path)
    assert EmailAddress.objects.get(user=user).verified
    assert "Startup Inc" in client.get(reverse("dashboard")).content.decode()


def test_signup_without_org_name_uses_company_domain(client: Client) -> None:
    _signup(client, "jane@globex.test")
    assert Organization.objects.filter(name="Globex").exists()


def test_duplicate_signup_email_is_refused_and_creates_nothing(client: Client) -> None:
    UserFactory(email="taken@example.test")
    orgs_before = Organization.objects.count()
    response = _signup(client, "TAKEN@example.test", org="Second")
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    assert Organization.objects.count() == orgs_before


def test_login_rate_limited(client: Client) -> None:
    user = UserFactory()
    statuses = [
        client.post(reverse("account_login"), {"login": user.email, "password": "wrong"}).status_code
        for _ in range(7)
    ]
    response = client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})
    assert 429 in statuses or response.status_code == 429 or "too many" in response.content.decode().lower()


def test_mfa_pages_available(tenant) -> None:  # type: ignore[no-untyped-def]
    index = tenant.member_client.get(reverse("mfa_index")).content.decode()
    assert "Authenticator App" in index and "Recovery Codes" in index
    # Activating TOTP asks for the password again first (allauth's reauthentication).
    response = tenant.member_client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and "reauthenticate" in response["Location"]
