"""Template context of every page: the current organisation, membership and the org switcher's list."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.selectors import memberships_for_user


def org(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"current_org": None, "current_membership": None, "user_memberships": []}

    def memberships() -> list[Any]:
        return memberships_for_user(user=request.user)  # type: ignore[arg-type]

    return {
        "current_org": membership.org,
        "current_membership": membership,
        "is_org_admin": membership.is_admin,
        # Lazy: evaluated once, only by templates that render the switcher.
        "user_memberships": memberships,
    }
