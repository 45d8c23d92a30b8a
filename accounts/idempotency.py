"""`Idempotency-Key` for every POST of the JSON API, implemented once for all routers.

Two halves, because only the API's auth knows the key and only a middleware sees every response:

* `claim()` runs inside `ApiKeyAuth` right after a key is authenticated and rate-limited. A first request inserts
  an in-flight record (unique per API key and idempotency key); a repeat raises `IdempotentReplay` (answered with
  the stored status and body plus `Idempotent-Replayed: true`), a repeat with a different method, path or body
  raises 422 `idempotency_key_reused`, and a repeat while the first is still running raises 409.
* `IdempotencyMiddleware` stores the first response (any status below 500) on the claimed record; a 500 or an
  exception releases the claim so the client may retry with the same key.

Records live 24 hours: `records_purge()` is run by the `accounts.tasks.idempotency_purge` beat task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import ApiKey, IdempotencyRecord

if TYPE_CHECKING:
    from ninja import NinjaAPI


HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
TTL = timedelta(hours=24)
_REQUEST_ATTR = "_idempotency_record_id"


class IdempotencyError(Exception):
    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code


class IdempotentReplay(Exception):
    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__("replay")
        self.status, self.body, self.content_type = status, body, content_type


def request_fingerprint(request: HttpRequest) -> str:
    """sha256 over method, path (with query) and body; uploads are hashed by streaming their chunks."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.get_full_path()}\n".encode())
    if (request.content_type or "").startswith("multipart/"):
        for name in sorted(request.POST):
            for value in request.POST.getlist(name):
                digest.update(f"{name}={value}\n".encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(f"{name}:{upload.name}:{upload.size}\n".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(request.body)
    return digest.hexdigest()


def claim(request: HttpRequest, api_key: ApiKey) -> None:
    """Called by the API auth for every authenticated request; only POSTs with the header are concerned."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyError(
            422, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.", "invalid_idempotency_key"
        )
    fingerprint = request_fingerprint(request)
    records = IdempotencyRecord.objects.unscoped().filter(api_key=api_key, key=key)
    existing = records.first()
    if existing is not None and existing.created_at < timezone.now() - TTL:
        records.filter(pk=existing.pk).delete()
        existing = None
    if existing is None:
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.unscoped().create(
                    org_id=api_key.org_id, api_key=api_key, key=key, request_hash=fingerprint
                )
        except IntegrityError:
            # A concurrent request with the same key inserted first.
            existing = records.first()
            if existing is None:
                raise IdempotencyError(
                    409, "A request with this Idempotency-Key is in progress.", "idempotency_in_progress"
                ) from None
        else:
            setattr(request, _REQUEST_ATTR, record.pk)
            return
    if existing.request_hash != fingerprint:
        raise IdempotencyError(
            422,
            "This Idempotency-Key was already used for a different request.",
            "idempotency_key_reused",
        )
    if existing.status_code is None:
        raise IdempotencyError(
            409, "A request with this Idempotency-Key is in progress.", "idempotency_in_progress"
        )
    raise IdempotentReplay(existing.status_code, bytes(existing.body), existing.content_type)


def complete(request: HttpRequest, response: HttpResponse | None) -> None:
    """Store the first response on the claimed record, or release the claim when the request failed."""
    record_id = getattr(request, _REQUEST_ATTR, None)
    if record_id is None:
        return
    records = IdempotencyRecord.objects.unscoped().filter(pk=record_id)
    if response is None or response.status_code >= 500 or response.streaming:
        records.delete()
        return
    records.update(
        status_code=response.status_code,
        content_type=response.get("Content-Type", "")[:100],
        body=response.content,
        completed_at=timezone.now(),
    )


class IdempotencyMiddleware:
    """Completes what `claim()` started; inert for every request that did not claim a key."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except BaseException:
            complete(request, None)
            raise
        complete(request, response)
        return response


def install(api: NinjaAPI) -> None:
    """Register the answers for replays and refusals on the API (keeps its one error shape)."""

    def on_replay(request: HttpRequest, exc: Any) -> HttpResponse:
        response = HttpResponse(exc.body, status=exc.status, content_type=exc.content_type or None)
        response[REPLAYED_HEADER] = "true"
        return response

    def on_refusal(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, {"detail": exc.detail, "code": exc.code}, status=exc.status)

    api.add_exception_handler(IdempotentReplay, on_replay)
    api.add_exception_handler(IdempotencyError, on_refusal)


def records_purge(*, now: Any = None) -> int:
    """Delete records older than 24 hours; returns how many went."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyRecord.objects.unscoped().filter(created_at__lt=cutoff).delete()
    return deleted
