from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.http import HttpRequest

from . import services

PENDING_INVITATION = "pending_invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        """A new user either joins the organisation that invited them or gets their own, never half of either."""
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            token = request.session.get(PENDING_INVITATION)
            joined = False
            if token:
                try:
                    membership = services.invitation_accept(token=token, user=user)
                except services.InvitationError:
                    pass
                else:
                    joined = True
                    request.session["current_org_id"] = membership.org_id
                request.session.pop(PENDING_INVITATION, None)
            if not joined:
                name = (form.cleaned_data.get("organization_name") or "").strip()
                org = services.organization_create(
                    name=name or services.default_org_name(user.email), owner=user
                )
                request.session["current_org_id"] = org.pk
        return user
