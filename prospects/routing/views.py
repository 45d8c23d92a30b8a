"""Notifications (the bell and its page) and Settings → Webhooks (outbound endpoints, secret shown once)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.errors import error_text
from leadgen.tenancy import get_for_org
from prospects.models import WebhookEndpoint
from prospects.routing import notifications, webhooks


@member_required
def notification_list(request: OrgRequest) -> HttpResponse:
    items = notifications.notifications_for_user(user_id=request.user.pk)
    return render(
        request,
        "prospects/notifications.html",
        {"notifications": items, "unread": sum(1 for n in items if n.read_at is None), "nav": ""},
    )


@member_required
def notification_badge(request: OrgRequest) -> HttpResponse:
    """The bell's count, loaded by HTMX after the page so list pages pay no query for it (and it is cached)."""
    count = notifications.notifications_unread_count(user_id=request.user.pk)
    return render(request, "prospects/notifications.html#badge", {"unread_count": count})


@require_POST
@member_required
def notification_read_all(request: OrgRequest) -> HttpResponse:
    notifications.notifications_mark_read(user_id=request.user.pk)
    return redirect("notification_list")


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="Endpoint URL",
        assume_scheme="https",
        help_text="We POST JSON signed with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).",
    )
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in webhooks.EVENTS],
        initial=list(webhooks.EVENTS),
        widget=forms.CheckboxSelectMultiple,
    )


@admin_required
def webhook_endpoint_list(request: OrgRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None)
    secret = None
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = webhooks.webhook_endpoint_create(
                org=request.org,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error("url", error_text(exc))
        else:
            form = WebhookEndpointForm()
    return render(
        request,
        "prospects/settings_webhooks.html",
        {
            "form": form,
            "endpoints": webhooks.webhook_endpoints_with_stats(),
            "created": created,
            "secret": secret,
            "section": "webhooks",
            "nav": "settings",
        },
        status=400 if form.errors else 200,
    )


@admin_required
def webhook_endpoint_detail(request: OrgRequest, webhook_endpoint_id: int) -> HttpResponse:
    endpoint = get_for_org(WebhookEndpoint, pk=webhook_endpoint_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "delete":
            webhooks.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
            messages.success(request, "Webhook endpoint deleted.")
            return redirect("webhook_endpoint_list")
        if action in ("enable", "disable"):
            webhooks.webhook_endpoint_set_active(
                endpoint=endpoint, is_active=action == "enable", actor=request.user
            )
            messages.success(request, f"Webhook endpoint {action}d.")
        return redirect("webhook_endpoint_detail", webhook_endpoint_id=endpoint.pk)
    return render(
        request,
        "prospects/settings_webhook.html",
        {
            "endpoint": endpoint,
            "deliveries": webhooks.webhook_messages_recent(endpoint=endpoint),
            "section": "webhooks",
            "nav": "settings",
        },
    )
