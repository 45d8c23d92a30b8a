"""The web request's organisation: resolved from the session and re-checked against membership every request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.models import Membership
from accounts.selectors import memberships_for_user
from leadgen.tenancy import org_scope


class OrgMiddleware:
    """Resolve the request's organisation from the session, re-checked against membership every request."""

    SESSION_KEY = "current_org_id"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = self._membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.org = membership.org if membership else None  # type: ignore[attr-defined]
        with org_scope(membership.org_id if membership else None):
            return self.get_response(request)

    def _membership(self, request: HttpRequest) -> Membership | None:
        """The wanted organisation's membership, else the oldest one. All of the user's memberships come in one
        query and stay on the request: the org switcher in every page's nav lists them again."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        memberships = memberships_for_user(user=user)
        request.user_memberships = memberships  # type: ignore[attr-defined]
        wanted = request.session.get(self.SESSION_KEY)
        membership = next((m for m in memberships if str(m.org_id) == str(wanted)), None) if wanted else None
        if membership is None:
            membership = min(memberships, key=lambda m: (m.created_at, m.pk), default=None)
            if membership is not None:
                request.session[self.SESSION_KEY] = membership.org_id
            elif wanted:
                del request.session[self.SESSION_KEY]
        return membership
