"""In-app notifications: create, list, count unread (cached per user), mark read."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from leadgen.tenancy import require_org_id
from prospects.models import (
    Notification,
)

UNREAD_CACHE_SECONDS = 300


def _unread_key(org_id: int, user_id: int) -> str:
    return f"notifications-unread:{org_id}:{user_id}"


def notifications_unread_count(*, user_id: int) -> int:
    """The bell's number; cached so the page that shows it costs no query (invalidated on every change)."""
    org_id = require_org_id()
    key = _unread_key(org_id, user_id)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
        cache.set(key, count, UNREAD_CACHE_SECONDS)
    return int(count)


def notifications_for_user(*, user_id: int, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:limit])


def _unread_forget(org_id: int, user_ids: Iterable[int]) -> None:
    cache.delete_many([_unread_key(org_id, pk) for pk in set(user_ids)])


def notifications_mark_read(*, user_id: int) -> int:
    org_id = require_org_id()
    updated = Notification.objects.filter(user_id=user_id, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    _unread_forget(org_id, [user_id])
    return updated


def notifications_create(
    *, org_id: int, user_ids: Iterable[int], kind: str, title: str, body: str = "", url: str = ""
) -> list[Notification]:
    """One notification per user (deduplicated); also what other parts call to tell admins something."""
    users = sorted({pk for pk in user_ids if pk})
    rows = Notification.objects.bulk_create(
        [
            Notification(org_id=org_id, user_id=pk, kind=kind, title=title[:200], body=body, url=url[:500])
            for pk in users
        ]
    )
    transaction.on_commit(partial(_unread_forget, org_id, users))
    return rows


def admin_user_ids() -> list[int]:
    from accounts.models import Membership, Role

    return list(
        Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN], user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
