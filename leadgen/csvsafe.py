"""CSV cells that spreadsheets will not execute (CSV/formula injection)."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """Text starting with = + - @ tab or CR gets a leading apostrophe, so a spreadsheet shows it as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
