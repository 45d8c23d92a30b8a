"""Writes for organisations, memberships, invitations, API keys and the audit log."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .models import ApiKey, AuditLog, Invitation, Membership, Organization, Role, User

INVITATION_SALT = "accounts.invitation"


class InvitationError(Exception):
    """An invitation link that cannot be used; the message is shown to the person who followed it."""


def audit_record(
    *,
    org: Organization,
    actor: User | None,
    action: str,
    target: Any = None,
    data: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditLog:
    return AuditLog.objects.unscoped().create(
        org=org,
        actor=actor,
        actor_label=actor.email if actor else "system",
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        data=data or {},
        ip_address=ip_address,
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def organization_create(*, name: str, owner: User) -> Organization:
    org = Organization.objects.create(name=name.strip()[:200] or "My organisation", slug=_unique_slug(name))
    Membership.objects.unscoped().create(org=org, user=owner, role=Role.OWNER)
    audit_record(org=org, actor=owner, action="org.created", target=org)
    return org


def organization_update(*, org: Organization, actor: User, **fields: Any) -> Organization:
    changed = {k: v for k, v in fields.items() if getattr(org, k) != v}
    for key, value in changed.items():
        setattr(org, key, value)
    if changed:
        org.save(update_fields=list(changed))
        audit_record(org=org, actor=actor, action="org.updated", target=org, data={"fields": sorted(changed)})
    return org


def default_org_name(email: str) -> str:
    domain = email.rsplit("@", 1)[-1]
    company = domain.split(".")[0]
    if company in {"gmail", "outlook", "hotmail", "yahoo", "icloud", "proton", "protonmail", "example"}:
        return f"{email.split('@')[0]}'s organisation"
    return company.capitalize()


# --- invitations -------------------------------------------------------------------------------------------


def _invitation_link(key: str) -> str:
    token = signing.TimestampSigner(salt=INVITATION_SALT).sign(key)
    return settings.SITE_URL + reverse("invitation_accept", kwargs={"token": token})


def _send_invitation(invitation: Invitation, key: str) -> None:
    context = {
        "invitation": invitation,
        "org": invitation.org,
        "link": _invitation_link(key),
        "inviter": invitation.invited_by,
        "days": settings.INVITATION_MAX_AGE_DAYS,
    }
    send_mail(
        subject=f"[Leadgen] You're invited to join {invitation.org.name}",
        message=render_to_string("emails/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def _new_key(invitation: Invitation) -> str:
    key = secrets.token_urlsafe(32)
    invitation.key_hash = Invitation.hash_key(key)
    invitation.sent_at = timezone.now()
    invitation.expires_at = invitation.sent_at + timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
    return key


def invitation_create(*, org: Organization, email: str, role: str, invited_by: User) -> Invitation:
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if (
        role == Role.OWNER
        and not Membership.objects.unscoped().filter(org=org, user=invited_by, role=Role.OWNER).exists()
    ):
        raise ValidationError({"role": "Only an owner can invite another owner."})
    if Membership.objects.unscoped().filter(org=org, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {org.name}."})
    invitation = Invitation(org=org, email=email, role=role, invited_by=invited_by)
    key = _new_key(invitation)
    try:
        with transaction.atomic():
            invitation.save()
            audit_record(
                org=org,
                actor=invited_by,
                action="invitation.created",
                target=invitation,
                data={"email": email, "role": role},
            )
    except IntegrityError:
        raise ValidationError(
            {"email": f"{email} already has a pending invitation; resend it instead."}
        ) from None
    transaction.on_commit(lambda: _send_invitation(invitation, key))
    return invitation


def invitation_resend(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.status in ("accepted", "revoked"):
        raise ValidationError(f"This invitation is {invitation.status} and cannot be resent.")
    key = _new_key(invitation)
    with transaction.atomic():
        invitation.save(update_fields=["key_hash", "sent_at", "expires_at"])
        audit_record(org=invitation.org, actor=actor, action="invitation.resent", target=invitation)
    transaction.on_commit(lambda: _send_invitation(invitation, key))
    return invitation


def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.status in ("accepted", "revoked"):
        raise ValidationError(f"This invitation is already {invitation.status}.")
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(org=invitation.org, actor=actor, action="invitation.revoked", target=invitation)
    return invitation


def invitation_from_token(token: str) -> Invitation:
    """Resolve an emailed link; every failure is an InvitationError with a message for the person."""
    max_age = timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
    try:
        key = signing.TimestampSigner(salt=INVITATION_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise InvitationError("This invitation link has expired. Ask an admin to send a new one.") from None
    except signing.BadSignature:
        raise InvitationError("This invitation link is not valid. Check that you copied all of it.") from None
    invitation = (
        Invitation.objects.unscoped()
        .select_related("org", "invited_by")
        .filter(key_hash=Invitation.hash_key(key))
    ).first()
    if invitation is None:
        raise InvitationError("This invitation link is no longer valid: a newer one may have been sent.")
    status = invitation.status
    if status == "accepted":
        raise InvitationError("This invitation has already been used.")
    if status == "revoked":
        raise InvitationError("This invitation was revoked by an admin.")
    if status == "expired":
        raise InvitationError("This invitation link has expired. Ask an admin to send a new one.")
    return invitation


def invitation_accept(*, token: str, user: User) -> Membership:
    with transaction.atomic():
        invitation = invitation_from_token(token)
        # Lock the row so two tabs accepting at once create one membership.
        invitation = (
            Invitation.objects.unscoped().select_for_update().select_related("org").get(pk=invitation.pk)
        )
        if invitation.accepted_at:
            raise InvitationError("This invitation has already been used.")
        if invitation.email.lower() != user.email.lower():
            raise InvitationError(
                f"This invitation was sent to {invitation.email}; you are signed in as {user.email}."
            )
        membership, created = Membership.objects.unscoped().get_or_create(
            org=invitation.org, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            org=invitation.org,
            actor=user,
            action="invitation.accepted",
            target=invitation,
            data={"role": membership.role, "new_member": created},
        )
    return membership


# --- memberships -------------------------------------------------------------------------------------------


def _owner_count(org: Organization) -> int:
    return Membership.objects.unscoped().filter(org=org, role=Role.OWNER).count()


def _check_can_manage(
    *, actor_membership: Membership, membership: Membership, new_role: str | None = None
) -> None:
    if not actor_membership.is_admin:
        raise ValidationError("Only owners and admins can manage members.")
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and not actor_membership.is_owner:
        raise ValidationError("Only an owner can change an owner or make someone an owner.")


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor_membership: Membership) -> Membership:
    if role not in Role.values:
        raise ValidationError("Unknown role.")
    membership = (
        Membership.objects.unscoped().select_for_update().select_related("org", "user").get(pk=membership.pk)
    )
    _check_can_manage(actor_membership=actor_membership, membership=membership, new_role=role)
    if membership.role == role:
        return membership
    # Lock the org's owners so two demotions at once cannot leave it with none.
    list(Membership.objects.unscoped().select_for_update().filter(org=membership.org, role=Role.OWNER))
    if membership.role == Role.OWNER and _owner_count(membership.org) <= 1:
        raise ValidationError("The last owner cannot be demoted. Make someone else an owner first.")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        org=membership.org,
        actor=actor_membership.user,
        action="member.role_changed",
        target=membership.user,
        data={"from": old, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor_membership: Membership) -> None:
    membership = (
        Membership.objects.unscoped().select_for_update().select_related("org", "user").get(pk=membership.pk)
    )
    is_self = membership.pk == actor_membership.pk
    if not is_self:
        _check_can_manage(actor_membership=actor_membership, membership=membership)
    list(Membership.objects.unscoped().select_for_update().filter(org=membership.org, role=Role.OWNER))
    if membership.role == Role.OWNER and _owner_count(membership.org) <= 1:
        raise ValidationError("The last owner cannot be removed. Make someone else an owner first.")
    revoked = (
        ApiKey.objects.unscoped()
        .filter(org=membership.org, created_by=membership.user, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )
    membership.delete()
    audit_record(
        org=membership.org,
        actor=actor_membership.user,
        action="member.left" if is_self else "member.removed",
        target=membership.user,
        data={"role": membership.role, "api_keys_revoked": revoked},
    )


# --- API keys ----------------------------------------------------------------------------------------------

API_KEY_PREFIX = "lg_"


def apikey_create(*, org: Organization, name: str, created_by: User | None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored and cannot be shown again."""
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.unscoped().create(
            org=org,
            name=name.strip()[:100] or "API key",
            prefix=f"{API_KEY_PREFIX}{prefix}",
            key_hash=ApiKey.hash_key(raw),
            created_by=created_by,
        )
        audit_record(org=org, actor=created_by, action="apikey.created", target=key)
    return key, raw


def apikey_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    with transaction.atomic():
        updated = (
            ApiKey.objects.unscoped()
            .filter(pk=key.pk, revoked_at__isnull=True)
            .update(revoked_at=timezone.now())
        )
        if updated:
            audit_record(org=key.org, actor=actor, action="apikey.revoked", target=key)
    key.refresh_from_db()
    return key


def apikey_authenticate(raw: str) -> ApiKey | None:
    """The active key for a presented secret, or None. Touches last_used_at at most once a minute."""
    if not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
        return None
    key = (
        ApiKey.objects.unscoped()
        .select_related("org")
        .filter(key_hash=ApiKey.hash_key(raw), revoked_at__isnull=True, org__is_active=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
