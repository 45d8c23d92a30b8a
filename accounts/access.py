"""View decorators: who may see a page. Refusals answer 404 so they reveal nothing (Zulip's rule)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render


def member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The user must belong to an organisation; the request is then scoped to it by OrgMiddleware."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "membership", None) is None:
            return render(request, "no_org.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Owners and admins only; anyone else gets 404."""

    @functools.wraps(view)
    @member_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.is_admin:  # type: ignore[attr-defined]
            raise Http404("Not found")
        return view(request, *args, **kwargs)

    return wrapper


if TYPE_CHECKING:
    from accounts.models import Membership, Organization, User

    class OrgRequest(HttpRequest):
        """What a view behind member_required/admin_required receives (for type checkers)."""

        user: User
        org: Organization
        membership: Membership

else:
    OrgRequest = HttpRequest
