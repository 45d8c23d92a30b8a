"""Text PostgreSQL can store: no NUL characters, no lone UTF-16 surrogates.

PostgreSQL refuses U+0000 in text (and `\\u0000` in jsonb), and a lone surrogate (JSON's `"\\ud800"` decodes to
one) cannot be encoded as UTF-8; either turned a request into a 500. Every entry point cleans rather than rejects:
NULs are dropped and lone surrogates become U+FFFD, so a stray byte in a CSV export or a third-party web form costs
the user nothing. Clean input is returned as the same object, so the check is cheap on the common path.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# A surrogate code point in a Python str is always a lone one: valid pairs are decoded into one character.
_BAD = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_bad_text(value: str) -> bool:
    return _BAD.search(value) is not None


def text_clean(value: str) -> str:
    """`value` without NUL characters and with each lone surrogate replaced by U+FFFD."""
    if not has_bad_text(value):
        return value
    return _SURROGATE.sub(REPLACEMENT, value.replace("\x00", ""))


def data_clean(value: Any) -> Any:
    """text_clean() applied to every string (keys included) inside JSON-like data: dicts, lists, strings."""
    if isinstance(value, str):
        return text_clean(value)
    if isinstance(value, dict):
        return {data_clean(k): data_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [data_clean(v) for v in value]
    return value
