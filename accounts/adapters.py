from __future__ import annotations

import hashlib
import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from leadgen.clientip import client_ip

from . import services

PENDING_INVITATION = "pending_invitation_token"
# Lifetime of an account's lock generation: longer than any login_failed window in ACCOUNT_RATE_LIMITS.
LOCK_GENERATION_TTL = 24 * 3600


def _lock_generation_key(login: str) -> str:
    return f"login-lock-gen:{hashlib.sha256(login.lower().encode()).hexdigest()}"


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up and invitations, plus login throttling that an attacker cannot turn against an account's owner.

    allauth counts failed logins per client IP and per account (`login_failed` in ACCOUNT_RATE_LIMITS); the
    per-account count locked the account for everyone, so anyone knowing an email could keep its owner out. Here
    the "key" of that count is the account *and* the client IP, so a lock holds only for the client that failed.
    A password reset clears every client's lock on the account: each key carries the account's lock generation,
    and the reset moves it on (allauth itself only clears the key of the client doing the reset).

    These override allauth's private helpers `_get_login_attempts_cache_key` and
    `_delete_login_attempts_cached_email` (django-allauth is pinned below 66; the tests cover both behaviours).
    """

    def get_client_ip(self, request: HttpRequest) -> str:
        # One reading of X-Forwarded-For (TRUSTED_PROXY_COUNT) for every per-IP limit, allauth's included.
        return client_ip(request)

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        account = super()._get_login_attempts_cache_key(request, **credentials)
        login = credentials.get("email", credentials.get("username", "")) or ""
        generation = cache.get(_lock_generation_key(login), 0)
        return f"{account}:{self.get_client_ip(request)}:{generation}"

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        super()._delete_login_attempts_cached_email(request, **credentials)
        cache.set(
            _lock_generation_key(credentials.get("email", "") or ""), time.time_ns(), LOCK_GENERATION_TTL
        )

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
