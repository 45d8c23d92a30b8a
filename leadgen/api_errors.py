"""The API's one error shape, `{"detail": ..., "code": ..., **extra}`, importable by every app's router without
importing the NinjaAPI that mounts them (`leadgen/api.py`, the composition root)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse


def error(request: HttpRequest, status: int, detail: str, code: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status)
