from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, Invitation, Membership, Role
from accounts.tests.factories import MembershipFactory, UserFactory
from conftest import Tenant

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["settings_organization", "member_list", "invitation_list", "apikey_list", "audit_list"]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_member_gets_404_on_admin_pages(tenant: Tenant, name: str) -> None:
    assert tenant.member_client.get(reverse(name)).status_code == 404
    assert tenant.admin_client.get(reverse(name)).status_code == 200


def test_member_sees_no_admin_links(tenant: Tenant) -> None:
    body = tenant.member_client.get(reverse("settings")).content.decode()
    assert reverse("member_list") not in body
    assert reverse("apikey_list") not in body
    admin_body = tenant.admin_client.get(reverse("member_list")).content.decode()
    assert reverse("apikey_list") in admin_body


def test_member_cannot_post_admin_actions(tenant: Tenant) -> None:
    target = tenant.membership(tenant.admin)
    response = tenant.member_client.post(reverse("member_role", args=[target.pk]), {"role": "member"})
    assert response.status_code == 404
    target.refresh_from_db()
    assert target.role == Role.ADMIN


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(reverse("member_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def _invite(tenant: Tenant, email: str, role: str = "member") -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = tenant.admin_client.post(reverse("invitation_list"), {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()[:2000]
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    return (
        link.group(0).split("testserver", 1)[-1]
        if "testserver" in link.group(0)
        else "/" + link.group(0).split("/", 3)[3]
    )


def test_invite_sends_mail_and_is_listed(tenant: Tenant) -> None:
    path = _invite(tenant, "New.Person@Example.test")
    assert mail.outbox[-1].to == ["new.person@example.test"]
    assert tenant.org.name in mail.outbox[-1].subject
    assert path.startswith("/invitations/")
    page = tenant.admin_client.get(reverse("invitation_list")).content.decode()
    assert "new.person@example.test" in page and "pending" in page
    with tenant.scope():
        assert AuditLog.objects.filter(action="invitation.created").exists()


def test_duplicate_pending_invitation_is_refused(tenant: Tenant) -> None:
    _invite(tenant, "twice@example.test")
    response = tenant.admin_client.post(
        reverse("invitation_list"), {"email": "twice@example.test", "role": "member"}
    )
    assert response.status_code == 200
    assert "already has a pending invitation" in response.content.decode()
    with tenant.scope():
        assert Invitation.objects.filter(email="twice@example.test").count() == 1


def test_existing_member_cannot_be_invited(tenant: Tenant) -> None:
    response = tenant.admin_client.post(
        reverse("invitation_list"), {"email": tenant.member.email, "role": "member"}
    )
    assert "already a member" in response.content.decode()


def test_admin_cannot_invite_owner(tenant: Tenant) -> None:
    response = tenant.admin_client.post(
        reverse("invitation_list"), {"email": "boss@example.test", "role": "owner"}
    )
    assert "Only an owner" in response.content.decode()
    assert not mail.outbox


def test_existing_user_accepts_invitation(tenant: Tenant) -> None:
    outsider = UserFactory(email="outsider@example.test")
    path = _invite(tenant, outsider.email)
    client = Client()
    client.force_login(outsider)
    page = client.get(path)
    assert tenant.org.name in page.content.decode()
    response = client.post(path)
    assert response.status_code == 302
    assert Membership.objects.unscoped().filter(org=tenant.org, user=outsider, role=Role.MEMBER).exists()
    assert tenant.org.name in client.get(reverse("dashboard")).content.decode()
    # Single use: the same link again is refused with a clear reason.
    again = client.post(path)
    assert again.status_code == 400
    assert "already been used" in again.content.decode()


def test_invitation_for_someone_else_is_refused(tenant: Tenant) -> None:
    path = _invite(tenant, "right@example.test")
    wrong = UserFactory(email="wrong@example.test")
    client = Client()
    client.force_login(wrong)
    response = client.post(path)
    assert response.status_code == 400
    assert "was sent to right@example.test" in response.content.decode()
    assert not Membership.objects.unscoped().filter(org=tenant.org, user=wrong).exists()


def test_new_user_signs_up_through_invitation(tenant: Tenant, client: Client) -> None:
    path = _invite(tenant, "fresh@example.test", role="admin")
    page = client.get(path).content.decode()
    assert "Create an account" in page
    response = client.post(
        reverse("account_signup"),
        {
            "email": "fresh@example.test",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.unscoped().select_related("org").get(user__email="fresh@example.test")
    assert membership.org == tenant.org and membership.role == Role.ADMIN
    # The invitation proved the address: no own organisation was created and the user is logged in.
    assert Membership.objects.unscoped().filter(user__email="fresh@example.test").count() == 1
    assert tenant.org.name in client.get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda p: p[:-6] + "XXXXX/", "not valid"),
        (lambda p: "/invitations/garbage/", "not valid"),
    ],
)
def test_tampered_invitation_tokens(tenant: Tenant, client: Client, mangle, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = _invite(tenant, "tamper@example.test")
    response = client.get(mangle(path))
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_expired_invitation(tenant: Tenant, client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    path = _invite(tenant, "late@example.test")
    settings.INVITATION_MAX_AGE_DAYS = 0
    response = client.get(path)
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_resend_rotates_link_and_revoke_kills_it(tenant: Tenant, client: Client) -> None:
    old = _invite(tenant, "rotate@example.test")
    with tenant.scope():
        invitation = Invitation.objects.get(email="rotate@example.test")
    with TestCase.captureOnCommitCallbacks(execute=True):
        tenant.admin_client.post(reverse("invitation_resend", args=[invitation.pk]))
    new = mail.outbox[-1].body
    assert "no longer valid" in client.get(old).content.decode()
    new_path = "/invitations/" + new.split("/invitations/", 1)[1].split("/", 1)[0] + "/"
    assert client.get(new_path).status_code == 200
    tenant.admin_client.post(reverse("invitation_revoke", args=[invitation.pk]))
    assert "revoked" in client.get(new_path).content.decode()


def test_change_role_and_last_owner_guard(tenant: Tenant) -> None:
    member = tenant.membership(tenant.member)
    tenant.owner_client.post(reverse("member_role", args=[member.pk]), {"role": "admin"})
    member.refresh_from_db()
    assert member.role == Role.ADMIN
    owner = tenant.membership(tenant.owner)
    response = tenant.owner_client.post(
        reverse("member_role", args=[owner.pk]), {"role": "member"}, follow=True
    )
    assert "last owner cannot be demoted" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    response = tenant.owner_client.post(reverse("member_remove", args=[owner.pk]), follow=True)
    assert "last owner cannot be removed" in response.content.decode()
    assert Membership.objects.unscoped().filter(pk=owner.pk).exists()


def test_admin_cannot_touch_owner(tenant: Tenant) -> None:
    owner = tenant.membership(tenant.owner)
    response = tenant.admin_client.post(reverse("member_remove", args=[owner.pk]), follow=True)
    assert "Only an owner" in response.content.decode()
    assert Membership.objects.unscoped().filter(pk=owner.pk).exists()


def test_removed_member_loses_access_and_api_keys(tenant: Tenant) -> None:
    admin_membership = tenant.membership(tenant.admin)
    from accounts.services import apikey_create

    _, secret = apikey_create(org=tenant.org, name="admin's key", created_by=tenant.admin)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me").status_code == 200
    tenant.owner_client.post(reverse("member_remove", args=[admin_membership.pk]))
    # Next request: no org, no admin pages, no API.
    assert tenant.admin_client.get(reverse("member_list")).status_code == 403
    assert (
        "not a member of any organisation" in tenant.admin_client.get(reverse("dashboard")).content.decode()
    )
    assert api.get("/api/v1/me").status_code == 401
    page = tenant.owner_client.get(reverse("audit_list")).content.decode()
    assert "member.removed" in page and tenant.admin.email in page
    with tenant.scope():
        assert ApiKey.objects.get(name="admin's key").revoked_at is not None


def test_org_switcher(tenant: Tenant, other_tenant: Tenant) -> None:
    MembershipFactory(org=other_tenant.org, user=tenant.member, role=Role.ADMIN)
    client = tenant.member_client
    assert (
        other_tenant.org.name in client.get(reverse("dashboard")).content.decode()
    )  # listed in the switcher
    client.post(reverse("org_switch"), {"org_id": other_tenant.org.pk})
    assert client.get(reverse("member_list")).status_code == 200  # admin there
    client.post(reverse("org_switch"), {"org_id": tenant.org.pk})
    assert client.get(reverse("member_list")).status_code == 404  # member here
    # Switching to an org one does not belong to is refused and changes nothing.
    third = Membership.objects.unscoped().exclude(org__in=[tenant.org, other_tenant.org]).first()
    stranger_org_id = third.org_id if third else 999999
    response = client.post(reverse("org_switch"), {"org_id": stranger_org_id}, follow=True)
    assert "not a member of that organisation" in response.content.decode()


def test_switch_is_rechecked_every_request(tenant: Tenant, other_tenant: Tenant) -> None:
    membership = MembershipFactory(org=other_tenant.org, user=tenant.member, role=Role.MEMBER)
    client = tenant.member_client
    client.post(reverse("org_switch"), {"org_id": other_tenant.org.pk})
    assert other_tenant.org.name in client.get(reverse("dashboard")).content.decode()
    Membership.objects.unscoped().filter(pk=membership.pk).delete()
    page = client.get(reverse("dashboard")).content.decode()
    assert f"<h1>{tenant.org.name}</h1>" in page


def test_organization_settings_saved_and_audited(tenant: Tenant) -> None:
    response = tenant.admin_client.post(
        reverse("settings_organization"),
        {
            "name": "Acme Renamed",
            "timezone": "Europe/Paris",
            "postal_address": "1 Rue X, Paris",
            "api_rate_limit_per_minute": "100",
        },
    )
    assert response.status_code == 302
    tenant.org.refresh_from_db()
    assert (tenant.org.name, tenant.org.timezone, tenant.org.api_rate_limit) == (
        "Acme Renamed",
        "Europe/Paris",
        100,
    )
    assert "org.updated" in tenant.admin_client.get(reverse("audit_list")).content.decode()


def test_apikey_shown_once_and_revocable(tenant: Tenant) -> None:
    response = tenant.admin_client.post(reverse("apikey_list"), {"name": "Zapier"})
    body = response.content.decode()
    secret = re.search(r"lg_[0-9a-f]{8}_[\w-]+", body)
    assert secret
    assert secret.group(0) not in tenant.admin_client.get(reverse("apikey_list")).content.decode()
    with tenant.scope():
        key = ApiKey.objects.get(name="Zapier")
    assert key.key_hash != secret.group(0) and secret.group(0).startswith(key.prefix)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret.group(0)}")
    assert api.get("/api/v1/me").json()["key_name"] == "Zapier"
    tenant.admin_client.post(reverse("apikey_revoke", args=[key.pk]))
    assert api.get("/api/v1/me").status_code == 401
