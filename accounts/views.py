from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.errors import error_text
from leadgen.tenancy import get_for_org

from . import selectors, services
from .adapters import PENDING_INVITATION
from .forms import ApiKeyForm, InvitationForm, OrganizationForm, RoleForm
from .models import ApiKey, Invitation, Membership, Role


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


@member_required
def settings_index(request: OrgRequest) -> HttpResponse:
    if request.membership.is_admin:
        return redirect("settings_organization")
    return render(request, "accounts/settings_profile.html", {"section": "profile"})


@admin_required
def settings_organization(request: OrgRequest) -> HttpResponse:
    org = request.org
    form = OrganizationForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        # Read the submitted values, then let the service write them with an audit entry.
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        org.refresh_from_db()
        services.organization_update(org=org, actor=request.user, **fields)
        messages.success(request, "Organisation settings saved.")
        return redirect("settings_organization")
    return render(request, "accounts/settings_organization.html", {"form": form, "section": "organization"})


@admin_required
def member_list(request: OrgRequest) -> HttpResponse:
    context = {
        "memberships": selectors.membership_list(),
        "roles": Role.choices,
        "section": "members",
    }
    return render(request, "accounts/members.html", context)


@admin_required
@require_POST
def member_role(request: OrgRequest, membership_id: int) -> HttpResponse:
    membership = get_for_org(Membership, pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    else:
        try:
            services.membership_change_role(
                membership=membership, role=form.cleaned_data["role"], actor_membership=request.membership
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
    return redirect("member_list")


@admin_required
@require_POST
def member_remove(request: OrgRequest, membership_id: int) -> HttpResponse:
    membership = get_for_org(Membership.objects.select_related("user"), pk=membership_id)
    try:
        services.membership_remove(membership=membership, actor_membership=request.membership)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{membership.user.email} was removed from {request.org.name}.")
    return redirect("member_list")


@admin_required
def invitation_list(request: OrgRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(
                org=request.org,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("invitation_list")
    context = {"form": form, "invitations": selectors.invitation_list(), "section": "invitations"}
    return render(request, "accounts/invitations.html", context)


@admin_required
@require_POST
def invitation_resend(request: OrgRequest, invitation_id: int) -> HttpResponse:
    invitation = get_for_org(Invitation.objects.select_related("org"), pk=invitation_id)
    try:
        services.invitation_resend(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request, f"Invitation resent to {invitation.email}; the previous link no longer works."
        )
    return redirect("invitation_list")


@admin_required
@require_POST
def invitation_revoke(request: OrgRequest, invitation_id: int) -> HttpResponse:
    invitation = get_for_org(Invitation.objects.select_related("org"), pk=invitation_id)
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("invitation_list")


@login_not_required
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except services.InvitationError as exc:
        return render(request, "accounts/invitation_invalid.html", {"reason": str(exc)}, status=400)

    if not request.user.is_authenticated:
        # Following the emailed link proves the address, so sign-up through it skips email verification.
        request.session[PENDING_INVITATION] = token
        get_adapter(request).stash_verified_email(request, invitation.email)
        here = reverse("invitation_accept", kwargs={"token": token})
        context = {
            "invitation": invitation,
            "signup_url": reverse("account_signup") + "?" + urlencode({"email": invitation.email}),
            "login_url": reverse("account_login") + "?" + urlencode({"next": here}),
        }
        return render(request, "accounts/invitation_accept.html", context)

    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)  # type: ignore[arg-type]
        except services.InvitationError as exc:
            return render(request, "accounts/invitation_invalid.html", {"reason": str(exc)}, status=400)
        request.session["current_org_id"] = membership.org_id
        messages.success(request, f"Welcome to {membership.org.name}.")
        return redirect("dashboard")
    return render(request, "accounts/invitation_accept.html", {"invitation": invitation})


@admin_required
def apikey_list(request: OrgRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        key, new_key = services.apikey_create(
            org=request.org, name=form.cleaned_data["name"], created_by=request.user
        )
        messages.success(request, f"API key “{key.name}” created. Copy it now: it will not be shown again.")
        form = ApiKeyForm()
    context = {"form": form, "keys": selectors.apikey_list(), "new_key": new_key, "section": "api_keys"}
    return render(request, "accounts/api_keys.html", context)


@admin_required
@require_POST
def apikey_revoke(request: OrgRequest, apikey_id: int) -> HttpResponse:
    key = get_for_org(ApiKey.objects.select_related("org"), pk=apikey_id)
    services.apikey_revoke(key=key, actor=request.user)
    messages.success(request, f"API key “{key.name}” revoked.")
    return redirect("apikey_list")


@admin_required
def audit_list(request: OrgRequest) -> HttpResponse:
    page = Paginator(selectors.auditlog_list(), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/audit.html", {"page": page, "section": "audit"})


@require_POST
def org_switch(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("org_id", "")
    # Membership is re-checked here and again by OrgMiddleware on every request.
    memberships = {str(m.org_id): m for m in selectors.memberships_for_user(user=request.user)}  # type: ignore[arg-type]
    membership = memberships.get(wanted)
    if membership is None:
        messages.error(request, "You are not a member of that organisation.")
    else:
        request.session["current_org_id"] = membership.org_id
        messages.success(request, f"Switched to {membership.org.name}.")
    return redirect("dashboard")
