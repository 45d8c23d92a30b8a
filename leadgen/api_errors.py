"""The API's one error shape, `{"detail": ..., "code": ..., **extra}`, importable by every app's router without
importing the NinjaAPI that mounts them (`leadgen/api.py`, the composition root)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse


def error(request: HttpRequest, status: int, detail: str, code: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status)


def invalid_cursor(request: HttpRequest) -> JsonResponse:
    """A list's `cursor` is malformed or belongs to another sort order: the same answer from every list."""
    return error(request, 400, "The cursor is invalid or belongs to another sort order.", "invalid_cursor")
