"""Reads shared by views, API and tasks."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ApiKey, AuditLog, Invitation, Membership, User


def memberships_for_user(*, user: User) -> list[Membership]:
    """Every organisation the user belongs to, for the org switcher (crosses tenants by design)."""
    return list(
        Membership.objects.unscoped()
        .select_related("org")
        .filter(user=user, org__is_active=True)
        .order_by("org__name")
    )


def membership_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("user__email")


def invitation_list() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("invited_by").order_by("-created_at")


def apikey_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by").order_by("-created_at")


def auditlog_list() -> QuerySet[AuditLog]:
    return AuditLog.objects.order_by("-created_at", "-id")
