"""Signed, short, URL-safe tracking tokens.

A token names an organisation, a message and, for clicks, the link's index at send time:
`<org>.<message>[.<link>].<mac>` with the numbers in base 36 and the MAC the first 96 bits of an HMAC-SHA256 in
URL-safe base64 (16 characters). The MAC covers the kind ("o" or "c") too, so an open token is no click token.
The key is derived from SECRET_KEY with its own salt (`salted_hmac`), so these tokens can be neither made from
nor turned into unsubscribe tokens. The check is constant-time (`hmac.compare_digest`). Tokens do not expire: a
mail is read months later.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Literal

from django.utils.crypto import salted_hmac

SALT = "outreach.tracking.token"
MAC_BYTES = 12
Kind = Literal["o", "c"]
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class TrackingTarget:
    kind: Kind
    org_id: int
    message_id: int
    link_index: int | None = None


def _b36(number: int) -> str:
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = _DIGITS[rest] + out
        if not number:
            return out


def _mac(kind: Kind, payload: str) -> str:
    digest = salted_hmac(SALT, f"{kind}:{payload}", algorithm="sha256").digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_make(*, kind: Kind, org_id: int, message_id: int, link_index: int | None = None) -> str:
    parts = [_b36(org_id), _b36(message_id)]
    if kind == "c":
        if link_index is None:
            raise ValueError("a click token needs the link's index")
        parts.append(_b36(link_index))
    payload = ".".join(parts)
    return f"{payload}.{_mac(kind, payload)}"


def token_read(token: str, *, kind: Kind) -> TrackingTarget | None:
    """What a token of this kind names, or None for anything forged, truncated, of the other kind or malformed."""
    if len(token) > 80:
        return None
    payload, _, mac = token.rpartition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(kind, payload).encode()):
        return None
    parts = payload.split(".")
    if len(parts) != (3 if kind == "c" else 2):
        return None
    try:
        numbers = [int(p, 36) for p in parts]
    except ValueError:
        return None
    link = numbers[2] if kind == "c" else None
    return TrackingTarget(kind=kind, org_id=numbers[0], message_id=numbers[1], link_index=link)
