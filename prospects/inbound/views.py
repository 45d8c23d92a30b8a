"""Public endpoints where leads arrive from outside: website forms, Meta Lead Ads, Google Ads lead forms.

All are `login_not_required` (the poster is a browser on a customer's website or Meta's/Google's servers) and
`csrf_exempt`: these third parties cannot hold our CSRF token. Each one authenticates the request its own way
instead: an unguessable form key (plus the form's allowed origins), Meta's HMAC signature over the raw body,
Google's shared key. URLs carry public keys, never an organisation's id.

Unauthenticated requests (bad signature or key) store nothing: anyone on the internet can send them, so keeping
their bodies would let strangers fill our database with untrusted personal data; they are logged (source, key,
IP, reason) instead. Authenticated but malformed deliveries are stored as `rejected` and answered 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from leadgen import ratelimit
from leadgen.clientip import client_ip
from leadgen.tenancy import org_scope
from prospects.inbound import services as ingestion
from prospects.models import DeliveryStatus, LeadForm, LeadSourceSettings

log = logging.getLogger(__name__)

PREFLIGHT_MAX_AGE = 86400


def _public_hook(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    # Third parties post here without our session or CSRF token; each view authenticates by key/signature.
    return login_not_required(csrf_exempt(view))


def _error(status: int, detail: str, code: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status)


def _client_ip(request: HttpRequest) -> str:
    return client_ip(request)


# --- website forms ---------------------------------------------------------------------------------------


def _cors(response: HttpResponse, form: LeadForm, origin: str | None) -> HttpResponse:
    if not form.allowed_origins:
        response["Access-Control-Allow-Origin"] = "*"
    elif origin and ingestion.origin_allowed(form=form, origin=origin):
        response["Access-Control-Allow-Origin"] = origin
        patch_vary_headers(response, ["Origin"])
    return response


@_public_hook
@require_http_methods(["POST", "OPTIONS"])
def form_submit(request: HttpRequest, form_key: str) -> HttpResponse:
    form = LeadForm.objects.unscoped().select_related("org").filter(key=form_key, is_active=True).first()
    if form is None or not form.org.is_active:
        return _error(404, "No such form.", "not_found")
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return _cors(response, form, origin)
    if not ingestion.origin_allowed(form=form, origin=origin):
        log.warning("lead form %s: post from origin %r refused", form.pk, origin)
        return _cors(
            _error(403, "This form does not accept posts from this website.", "origin"), form, origin
        )
    ip = _client_ip(request)
    retry_after = ratelimit.hit(
        f"leadform:{form.pk}:{ip}", limit=settings.LEAD_FORM_RATE_LIMIT_PER_MINUTE, window=60
    )
    if retry_after:
        response = _error(429, "Too many submissions; try again shortly.", "rate_limited")
        response["Retry-After"] = str(retry_after)
        return _cors(response, form, origin)
    try:
        pairs = ingestion.form_pairs_parse(
            content_type=request.content_type or "", body=request.body, post=request.POST
        )
    except ingestion.MalformedDelivery as exc:
        log.info("lead form %s: malformed submission from %s: %s", form.pk, ip, exc)
        return _cors(_error(400, str(exc), "malformed"), form, origin)
    requested_redirect = next((v for k, v in pairs if k == "_redirect"), "")
    with org_scope(form.org_id):
        result = ingestion.form_submission_receive(
            form=form, pairs=pairs, headers=request.headers, body=request.body, ip=ip
        )
    delivery = result.delivery
    if delivery is not None and delivery.status == DeliveryStatus.FAILED and not result.replayed:
        return _cors(
            _error(400, "Some fields are not valid.", "invalid", errors=delivery.error), form, origin
        )
    target = ingestion.form_redirect_target(form=form, requested=requested_redirect)
    if target:
        return _cors(HttpResponseRedirect(target, status=303), form, origin)
    # Suppressed, replayed and honeypot submissions get the same answer: the poster learns nothing.
    return _cors(JsonResponse({"ok": True}), form, origin)


# --- Meta Lead Ads and Google Ads ------------------------------------------------------------------------


def _source_settings(source_key: UUID) -> LeadSourceSettings:
    found = (
        LeadSourceSettings.objects.unscoped()
        .select_related("org")
        .filter(public_id=source_key, org__is_active=True)
        .first()
    )
    if found is None:
        raise Http404("No such lead source.")
    return found


@_public_hook
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest, source_key: UUID) -> HttpResponse:
    source_settings = _source_settings(source_key)
    if request.method == "GET":
        return _meta_challenge(request, source_settings)
    ip = _client_ip(request)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        log.warning("meta webhook %s: unsigned delivery from %s refused", source_key, ip)
        return _error(401, "X-Hub-Signature-256 is required.", "signature_missing")
    if not ingestion.meta_signature_valid(
        app_secret=source_settings.meta_app_secret, body=request.body, header=signature
    ):
        log.warning("meta webhook %s: bad signature from %s refused", source_key, ip)
        return _error(403, "The signature does not match.", "signature_invalid")
    with org_scope(source_settings.org_id):
        try:
            created = ingestion.meta_delivery_receive(
                source_settings=source_settings, body=request.body, headers=request.headers
            )
        except ingestion.MalformedDelivery as exc:
            log.warning("meta webhook %s: malformed delivery: %s", source_key, exc)
            return _error(400, str(exc), "malformed")
    return JsonResponse({"ok": True, "queued": len(created)})


def _meta_challenge(request: HttpRequest, source_settings: LeadSourceSettings) -> HttpResponse:
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
    token = request.GET.get("hub.verify_token", "")
    expected = source_settings.meta_verify_token
    valid = (
        request.GET.get("hub.mode") == "subscribe"
        and bool(expected)
        and ingestion.secrets_match(expected=expected, given=token)
    )
    if not valid:
        log.warning(
            "meta webhook %s: subscription check with a wrong token refused", source_settings.public_id
        )
        return HttpResponse("verify token mismatch", status=403, content_type="text/plain")
    # text/plain, so an echoed challenge can never be rendered as HTML.
    return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")


@_public_hook
@require_http_methods(["POST"])
def google_webhook(request: HttpRequest, source_key: UUID) -> HttpResponse:
    source_settings = _source_settings(source_key)
    ip = _client_ip(request)
    with org_scope(source_settings.org_id):
        try:
            delivery, _created = ingestion.google_delivery_receive(
                source_settings=source_settings, body=request.body, headers=request.headers
            )
        except ingestion.KeyMismatch:
            log.warning("google webhook %s: wrong google_key from %s refused", source_key, ip)
            return _error(403, "google_key does not match.", "key_invalid")
        except ingestion.MalformedDelivery as exc:
            log.warning("google webhook %s: malformed delivery from %s: %s", source_key, ip, exc)
            return _error(400, str(exc), "malformed")
    # 200 even when the lead could not be imported (recorded on the delivery): Google would only resend it.
    return JsonResponse({"ok": True, "status": delivery.status})
