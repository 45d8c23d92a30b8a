"""Small filters the analytics templates need (Django's template language cannot index or divide)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item_label(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key).lower()


@register.filter
def index_of(sequence: Any, index: int) -> Any:
    try:
        return sequence[int(index)]
    except (IndexError, TypeError, ValueError):
        return ""


@register.filter
def divide(total: Any, count: Any) -> Decimal | str:
    try:
        return Decimal(total) / Decimal(count)
    except (InvalidOperation, ZeroDivisionError, TypeError):
        return ""


@register.filter
def percent2(value: float | None) -> str:
    """0.0031 → 0.31%: spam rates need two decimals to be read against 0.1% and 0.3%."""
    return "" if value is None else f"{value * 100:.2f}%"


@register.filter
def index_of_key(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key)
