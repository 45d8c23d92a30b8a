"""The one NinjaAPI at /api/v1/. Each app contributes a Router; errors share one JSON shape."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from accounts import idempotency
from leadgen import ratelimit
from leadgen.api_errors import error, invalid_cursor
from leadgen.errors import error_items, error_text
from leadgen.tenancy import set_org_for_request
from prospects.selectors import InvalidCursor

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`: sets request.auth to the ApiKey and scopes the request to its org."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header)
        if header is not None and not header.lower().startswith(f"{self.openapi_scheme} "):
            raise AuthenticationError(message="Malformed Authorization header: expected 'Bearer <api key>'.")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from accounts.services import apikey_authenticate

        key = apikey_authenticate(token.strip())
        if key is None:
            return None
        retry_after = ratelimit.hit(f"apikey:{key.pk}", limit=key.org.api_rate_limit)
        if retry_after:
            raise RateLimited(retry_after)
        set_org_for_request(key.org_id)
        request.org = key.org  # type: ignore[attr-defined]
        idempotency.claim(request, key)
        return key


api = NinjaAPI(
    title="Leadgen API",
    version="1",
    urls_namespace="api",
    auth=ApiKeyAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    description="Authenticate with `Authorization: Bearer <api key>` (Settings → API keys).",
)


idempotency.install(api)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            # A body that may take several shapes names each in `loc` ("list[dict[str,any]]"): left out.
            "field": ".".join(
                str(p)
                for p in e.get("loc", [])
                if p not in ("body", "payload", "query") and "[" not in str(p)
            ),
            "message": e.get("msg", "invalid"),
        }
        for e in exc.errors
    ]
    return error(request, 422, "The request is invalid.", "validation_error", errors=errors)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = exc.message if exc.message != "Unauthorized" else "A valid API key is required."
    return error(request, 401, message, "unauthorized")


@api.exception_handler(RateLimited)
def on_rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error(request, 429, "Rate limit exceeded for this API key.", "rate_limited")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(InvalidCursor)
def on_invalid_cursor(request: HttpRequest, exc: InvalidCursor) -> HttpResponse:
    return invalid_cursor(request)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "Not found.", "not_found")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        429: "rate_limited",
    }
    return error(request, exc.status_code, str(exc), codes.get(exc.status_code, "error"))


@api.exception_handler(DjangoValidationError)
def on_domain_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = error_items(exc)
        return error(request, 400, errors[0]["message"], "invalid", errors=errors)
    return error(request, 400, error_text(exc), "invalid")


@api.exception_handler(RequestDataTooBig)
def on_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Bodies over the limit are refused by BodySizeLimitMiddleware; this is a multipart body whose fields other
    # than files exceed it, found while parsing.
    return error(request, 413, "The request body is too large.", "too_large")


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path)
    return error(request, 500, "Internal server error.", "server_error")


def _mount() -> None:
    from accounts.api import router as accounts_router
    from analytics.api import router as analytics_router
    from campaigns.api import router as campaigns_router
    from campaigns.meetings.api import router as meetings_router
    from outreach.api import router as outreach_router
    from outreach.compose.api import router as outreach_settings_router
    from outreach.inbox.api import router as engagement_router
    from prospects.api import router as prospects_router
    from prospects.compliance.api import router as compliance_router
    from prospects.crm.api import router as crm_router
    from prospects.discovery.api import router as discovery_router
    from prospects.icps.api import router as icp_router

    for router in (
        accounts_router,
        prospects_router,
        icp_router,
        discovery_router,
        compliance_router,
        crm_router,
        outreach_router,
        outreach_settings_router,
        engagement_router,
        campaigns_router,
        meetings_router,
        analytics_router,
    ):
        api.add_router("", router)


_mount()


# --- unknown routes and methods ---------------------------------------------------------------------------------
# Ninja answers a known path with an unknown method by a bare HttpResponseNotAllowed, its root (/api/v1/) raises
# Http404 outside its exception handlers, and Django answers an unknown path with its HTML 404 page: the API's
# callers get the JSON error shape for all three instead.


def _json_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)  # keeps csrf_exempt, which ninja sets on its views
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return unknown_route(request)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = sorted(method.strip() for method in response["Allow"].split(","))
        answer = error(
            request,
            405,
            f"{request.method} is not allowed here; allowed: {', '.join(allowed)}.",
            "method_not_allowed",
            allowed=allowed,
        )
        answer["Allow"] = response["Allow"]
        return answer

    return wrapper


@csrf_exempt
def unknown_route(request: HttpRequest) -> HttpResponse:
    return error(request, 404, f"No API route {request.path}.", "not_found")


def api_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """The API's URL patterns for `include()`, answering 404 and 405 as JSON, then a JSON 404 for any other path."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_errors(pattern.callback)
    # A regex route: the cross-tenant sweep walks path() routes only.
    return [*patterns, re_path(r"^.*$", unknown_route, name="unknown")], app_name, namespace
