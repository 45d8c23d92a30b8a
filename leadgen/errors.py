"""A Django ValidationError in the forms the callers show it: one line of text for a flash message or a form error,
per-field messages for a form, `{"field", "message"}` items for the API's error shape (`leadgen/api_errors.py`).

Infrastructure: every app's views and API handlers import these downward."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def error_text(exc: ValidationError) -> str:
    """Every message of `exc` on one line."""
    return " ".join(exc.messages)


def error_fields(exc: ValidationError) -> dict[str, list[str]]:
    """Messages by field name; a ValidationError without fields lands under "__all__" (a form's non-field errors)."""
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


def error_items(exc: ValidationError) -> list[dict[str, str]]:
    """`[{"field": ..., "message": ...}]` for the API: one item per field message, or one field-less item."""
    if hasattr(exc, "error_dict"):
        return [{"field": f, "message": str(m)} for f, msgs in exc.message_dict.items() for m in msgs]
    return [{"field": "", "message": error_text(exc)}]
