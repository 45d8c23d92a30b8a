"""Middleware every request passes: security headers, and the request-boundary guards (body size, storable text)
that run before any view, form or API handler reads the request."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, QueryDict

from leadgen.api_errors import error
from leadgen.text import data_clean, has_bad_text, text_clean

GetResponse = Callable[[HttpRequest], HttpResponse]
# Paths whose callers are programs: they get the API's JSON error shape instead of a page.
MACHINE_PREFIXES = ("/api/", "/hooks/")
# JSON escapes that decode to a NUL or a surrogate (a valid pair is cleaned to itself and the body kept as sent).
_BAD_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_URLENCODED_NUL = re.compile(rb"%00|\x00")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", getattr(settings, "CONTENT_SECURITY_POLICY", "default-src 'self'")
        )
        return response


def _refuse(request: HttpRequest, status: int, detail: str, code: str) -> HttpResponse:
    if request.path.startswith(MACHINE_PREFIXES):
        return error(request, status, detail, code)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:g} MB"


class BodySizeLimitMiddleware:
    """413 for a body over its limit, decided from Content-Length before anything reads it.

    Multipart bodies (CSV uploads) may be up to UPLOAD_MAX_BYTES: Django streams their files to disk and counts
    only the other fields against DATA_UPLOAD_MAX_MEMORY_SIZE, which limits every other body (JSON, forms), read
    into memory whole. Django itself raises RequestDataTooBig only when a view touches the body, and the API
    turned that into a 500.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(request, 400, "Content-Length is not a number.", "bad_request")
        limit = _body_limit(request)
        if limit is not None and length > limit:
            return _too_large(request, limit)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Multipart fields other than files over DATA_UPLOAD_MAX_MEMORY_SIZE, found while parsing.
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return None


def _body_limit(request: HttpRequest) -> int | None:
    if (request.content_type or "").startswith("multipart/"):
        return int(settings.UPLOAD_MAX_BYTES)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    return _refuse(
        request, 413, f"The request body is larger than the limit of {_megabytes(limit)}.", "too_large"
    )


class CleanTextMiddleware:
    """Strips NUL characters and replaces lone surrogates (leadgen.text) in the query string, JSON bodies, form
    bodies and multipart fields, so every view, form, API handler and webhook sees text PostgreSQL can store.

    Bodies are rewritten only when they hold such characters, so signatures over a clean raw body still verify.
    A path holding a NUL names nothing: 404.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_bad_text(request.path_info):
            return _refuse(request, 404, "Not found.", "not_found")
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            request.META["QUERY_STRING"] = query.replace("%00", "").replace("\x00", "")
            request.__dict__.pop("GET", None)  # WSGIRequest.GET is a cached_property
        if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
            content_type = request.content_type or ""
            if content_type == "application/json" or content_type.endswith("+json"):
                _clean_json_body(request)
            elif content_type == "application/x-www-form-urlencoded":
                body = request.body
                if b"%00" in body or b"\x00" in body:
                    _replace_body(request, _URLENCODED_NUL.sub(b"", body))
            elif content_type.startswith("multipart/"):
                _clean_multipart_when_parsed(request)
        return self.get_response(request)


def _replace_body(request: HttpRequest, body: bytes) -> None:
    # What HttpRequest.body leaves behind after reading: the bytes, and a stream over them for later reads.
    request._body = body  # type: ignore[attr-defined]
    request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
    request.META["CONTENT_LENGTH"] = str(len(body))


def _clean_json_body(request: HttpRequest) -> None:
    body = request.body
    if not _BAD_JSON_ESCAPE.search(body):
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # not JSON: the view answers that
    cleaned = data_clean(data)
    if cleaned != data:
        _replace_body(request, json.dumps(cleaned, ensure_ascii=False).encode())


def _querydict_clean(data: QueryDict) -> QueryDict:
    if not any(has_bad_text(k) or any(has_bad_text(v) for v in vs) for k, vs in data.lists()):
        return data
    cleaned = QueryDict(mutable=True, encoding=data.encoding)
    for key, values in data.lists():
        cleaned.setlist(text_clean(key), [text_clean(v) for v in values])
    cleaned._mutable = False  # type: ignore[attr-defined]  # as Django hands it out
    return cleaned


def _clean_multipart_when_parsed(request: HttpRequest) -> None:
    """Multipart bodies are parsed when a view first reads POST or FILES, and may be too big to read here; so the
    fields are cleaned right after Django parses them, whenever that is."""
    parse: Callable[[], None] = request._load_post_and_files  # type: ignore[attr-defined]

    def parse_and_clean() -> None:
        parse()
        request._post = _querydict_clean(request._post)  # type: ignore[attr-defined]
        for upload in request._files.values():  # type: ignore[attr-defined]
            if upload.name:
                upload.name = text_clean(upload.name)
        body: Any = getattr(request, "_body", None)
        if body is not None and b"\x00" in body:
            # Views that keep the raw body (web-form deliveries) store it as text; the files are parsed already.
            request._body = body.replace(b"\x00", b"")  # type: ignore[attr-defined]

    request._load_post_and_files = parse_and_clean  # type: ignore[method-assign]
