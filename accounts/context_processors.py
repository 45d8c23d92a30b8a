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
        # OrgMiddleware has read them already to find the current one.
        loaded = getattr(request, "user_memberships", None)
        return loaded if loaded is not None else memberships_for_user(user=request.user)  # type: ignore[arg-type]

    return {
        "current_org": membership.org,
        "current_membership": membership,
        "is_org_admin": membership.is_admin,
        # Lazy: evaluated once, only by templates that render the switcher.
        "user_memberships": memberships,
    }
