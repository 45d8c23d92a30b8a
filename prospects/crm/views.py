"""Settings → Integrations, the prospect page's CRM block, the list's "Send to CRM", and the public hooks.

The hooks (`/hooks/hubspot/<key>`, `/hooks/outcomes/<key>`) are called by the CRM, not a logged-in user: no
session, no CSRF token. Each authenticates by signature over the raw body (HubSpot v3; Standard Webhooks) within a
five-minute window. Refused or malformed deliveries are logged (key, IP, reason) and store nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.clientip import client_ip
from leadgen.tenancy import get_for_org, org_scope
from prospects.crm import connections, outcomes, selectors, services
from prospects.crm.adapters.base import CrmError
from prospects.crm.forms import FORMS
from prospects.crm.models import CrmConnection, CrmKind, OutcomeHook
from prospects.models import Prospect

log = logging.getLogger(__name__)

PAGE = "prospects/crm/settings_integrations.html"
BULK_MAX = 1000


# --- Settings → Integrations ----------------------------------------------------------------------------------


def _forms(request: OrgRequest, posted: str = "") -> dict[str, Any]:
    built = {}
    for kind, form_class in FORMS.items():
        connection = connections.connection_for(kind)
        stored = connections.secrets_set(connection) if connection else set()
        initial: dict[str, Any] = {}
        if connection:
            initial = connections.connection_values(connection)
            initial |= {f"map_{k}": v for k, v in connections.mapping_of(connection).items()}
        data = request.POST if posted == kind else None
        built[kind] = form_class(data, initial=initial or None, stored=stored, prefix=kind)
    return built


def _page(request: OrgRequest, *, forms: dict[str, Any] | None = None, **extra: Any) -> HttpResponse:
    forms = forms or _forms(request)
    overview = selectors.connections_overview()
    for item in overview:
        item.form = forms[item.kind]  # type: ignore[attr-defined]
        if item.connection:
            item.webhook_url = settings.SITE_URL + reverse(  # type: ignore[attr-defined]
                "crm_hubspot_webhook", args=[item.connection.webhook_key]
            )
    hook = selectors.outcome_hook()
    context = {
        "nav": "settings",
        "section": "integrations",
        "crms": overview,
        "problems": selectors.sync_problems_recent(),
        "hook": hook,
        "hook_url": settings.SITE_URL + reverse("crm_outcome_hook", args=[hook.key]) if hook else "",
        **extra,
    }
    status = 400 if any(form.errors for form in forms.values()) else 200
    return render(request, PAGE, context, status=status)


def _save(request: OrgRequest, kind: str) -> HttpResponse:
    forms = _forms(request, posted=kind)
    form = forms[kind]
    if not form.is_valid():
        return _page(request, forms=forms, open_kind=kind)
    data = form.cleaned_data
    secrets = {name: data.get(name, "") for name in connections.SECRET_FIELDS[kind]}
    options = {name: data.get(name, "") for name in connections.OPTION_FIELDS[kind]}
    try:
        connections.connection_save(
            org=request.org,
            kind=kind,
            secrets=secrets,
            options=options,
            mapping=form.mapping(),
            push_trigger=data["push_trigger"],
            actor=request.user,
        )
    except ValidationError as exc:
        for field, errors in getattr(exc, "message_dict", {"push_trigger": exc.messages}).items():
            form.add_error(field if field in form.fields else None, errors)
        return _page(request, forms=forms, open_kind=kind)
    messages.success(request, f"{CrmKind(kind).label} settings saved.")
    return redirect("crm_settings")


def _connection_action(request: OrgRequest, action: str, kind: str) -> HttpResponse:
    connection = connections.connection_for(kind)
    if connection is None:
        messages.error(request, f"{CrmKind(kind).label} is not connected yet.")
        return redirect("crm_settings")
    if action == "test":
        worked, said = connections.connection_test(connection=connection)
        (messages.success if worked else messages.error)(
            request, f"{'Connected' if worked else 'Failed'}: {said}"
        )
    elif action == "pull":
        try:
            found = outcomes.crm_pull(connection_id=connection.pk)
        except CrmError as exc:  # shown to the admin; the periodic poll tries again
            messages.error(request, f"Could not check {connection.get_kind_display()}: {exc}")
        else:
            messages.success(request, f"Checked {connection.get_kind_display()}: {found} new outcome(s).")
    elif action == "disconnect":
        connections.connection_delete(connection=connection, actor=request.user)
        messages.success(request, f"{CrmKind(kind).label} disconnected; its stored secrets are deleted.")
    return redirect("crm_settings")


def _hook_action(request: OrgRequest, action: str) -> HttpResponse:
    hook, secret = outcomes.outcome_hook_get_or_create()
    if action == "hook_rotate" and secret is None:
        secret = outcomes.outcome_hook_rotate(hook=hook)
    return _page(request, new_secret=secret)


@admin_required
@require_http_methods(["GET", "POST"])
def crm_settings(request: OrgRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    action = request.POST.get("action", "")
    kind = request.POST.get("crm", "")
    if action in ("hook_create", "hook_rotate"):
        return _hook_action(request, action)
    if kind not in CrmKind.values:
        messages.error(request, "Choose HubSpot or Salesforce.")
        return redirect("crm_settings")
    if action == "save":
        return _save(request, kind)
    if action in ("test", "pull", "disconnect"):
        return _connection_action(request, action, kind)
    return redirect("crm_settings")


# --- the prospect page and the list ---------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def prospect_crm(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """The prospect page's CRM block (loaded by HTMX): its sync log and "Send to CRM"."""
    prospect = get_for_org(Prospect, pk=prospect_id)
    notice = ""
    if request.method == "POST":
        try:
            queued = services.crm_push_request(prospect_ids=[prospect.pk], reason="sent by hand")
        except services.NoCrmConnected as exc:
            notice = str(exc)
        else:
            notice = (
                "Queued: it appears below when the CRM has answered."
                if queued
                else "Already waiting to be sent."
            )
        if not request.htmx:  # type: ignore[attr-defined]
            messages.info(request, notice)
            return redirect("prospect_detail", prospect_id=prospect.pk)
    context = {
        "prospect": prospect,
        "crm_logs": selectors.prospect_sync_logs(prospect_id=prospect.pk),
        "crm_connections": selectors.active_connections(),
        "crm_notice": notice,
    }
    return render(request, "prospects/crm/prospect_sync.html", context)


@member_required
@require_POST
def crm_bulk_push(request: OrgRequest) -> HttpResponse:
    """The list's "Send to CRM" for the selected prospects."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()][:BULK_MAX]
    context: dict[str, Any] = {"nav": "prospects", "selected": len(ids)}
    if not ids:
        context["error"] = "Select prospects first."
    else:
        try:
            context["queued"] = services.crm_push_request(prospect_ids=ids, reason="sent in bulk")
        except services.NoCrmConnected as exc:
            context["error"] = str(exc)
    context["crm_connections"] = selectors.active_connections()
    return render(request, "prospects/crm/bulk_push.html", context, status=400 if "error" in context else 200)


# --- public hooks -------------------------------------------------------------------------------------------------


def _hook_error(refused: outcomes.HookRefused) -> JsonResponse:
    return JsonResponse({"detail": str(refused), "code": refused.code}, status=refused.status)


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise outcomes.HookRefused(400, "The body is not JSON.", "malformed") from None


@login_not_required
@csrf_exempt
@require_POST
def hubspot_webhook(request: HttpRequest, crm_hook_key: Any) -> HttpResponse:
    connection = (
        CrmConnection.objects.unscoped()
        .filter(webhook_key=crm_hook_key, kind=CrmKind.HUBSPOT, is_active=True)
        .first()
    )
    if connection is None:
        return JsonResponse({"detail": "No such hook.", "code": "not_found"}, status=404)
    ip = client_ip(request)
    uri = settings.SITE_URL + request.get_full_path()
    try:
        outcomes.hubspot_signature_check(
            connection=connection,
            method=request.method or "POST",
            uri=uri,
            body=request.body,
            headers=request.headers,
        )
        events = _json_body(request)
        if not isinstance(events, list):
            raise outcomes.HookRefused(400, "HubSpot sends a JSON array of events.", "malformed")
        with org_scope(connection.org_id):
            result = outcomes.hubspot_events_receive(connection=connection, events=events)
    except outcomes.HookRefused as refused:
        log.warning("hubspot webhook %s from %s refused: %s", crm_hook_key, ip, refused)
        return _hook_error(refused)
    return JsonResponse({"ok": True, **result})


@login_not_required
@csrf_exempt
@require_POST
def outcome_hook(request: HttpRequest, outcome_hook_key: str) -> HttpResponse:
    hook = OutcomeHook.objects.unscoped().filter(key=outcome_hook_key, is_active=True).first()
    if hook is None:
        return JsonResponse({"detail": "No such hook.", "code": "not_found"}, status=404)
    ip = client_ip(request)
    try:
        message_id = outcomes.standard_signature_check(
            secret=hook.secret, body=request.body, headers=request.headers
        )
        payload = _json_body(request)
        with org_scope(hook.org_id):
            result = outcomes.outcome_hook_receive(message_id=message_id, payload=payload)
    except outcomes.HookRefused as refused:
        log.warning("outcome hook %s from %s refused: %s", hook.pk, ip, refused)
        return _hook_error(refused)
    return JsonResponse(result, status=200 if result["duplicate"] else 201)
