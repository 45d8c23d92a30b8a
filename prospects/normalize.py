"""Normalisation of the dedup keys: email, company domain, LinkedIn URL. Pure functions, no database."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_LINKEDIN = re.compile(
    r"(?:https?://)?(?:[\w-]+\.)?linkedin\.com/(in|company|pub|sales/lead)/([^/?#\s]+)", re.I
)
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "hey.com",
        "fastmail.com",
    }
)


def email(value: str | None) -> str | None:
    """Lower-cased, trimmed email, or None when empty. Raises ValidationError when present but invalid."""
    cleaned = (value or "").strip().strip("<>").strip().lower()
    if cleaned.startswith("mailto:"):
        cleaned = cleaned[7:]
    if not cleaned:
        return None
    validate_email(cleaned)
    return cleaned


def email_or_none(value: str | None) -> str | None:
    try:
        return email(value)
    except ValidationError:
        return None


def domain(value: str | None) -> str | None:
    """'https://www.Acme.com/about' → 'acme.com'; also accepts bare domains and emails."""
    raw = (value or "").strip().lower()
    if not raw:
        return None
    if "@" in raw and "/" not in raw:
        raw = raw.rsplit("@", 1)[1]
    if "://" not in raw:
        raw = "http://" + raw
    try:
        host = urlsplit(raw).hostname or ""
    except ValueError:
        return None
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    if "." not in host or not re.fullmatch(r"[a-z0-9.-]+", host):
        return None
    return host


def company_domain_from_email(email_normalized: str | None) -> str | None:
    if not email_normalized:
        return None
    host = email_normalized.rsplit("@", 1)[1]
    return None if host in FREE_MAIL_DOMAINS else host


def linkedin(value: str | None) -> str | None:
    """Any LinkedIn profile URL form → 'linkedin.com/in/<slug>' (lower-cased), or None."""
    match = _LINKEDIN.search((value or "").strip())
    if not match:
        return None
    kind, slug = match.group(1).lower(), match.group(2).lower().rstrip("/")
    return f"linkedin.com/{kind}/{slug}"


def tags(values: list[str] | str | None) -> list[str]:
    if values is None:
        return []
    items = values.replace(";", ",").split(",") if isinstance(values, str) else values
    seen: dict[str, None] = {}
    for item in items:
        tag = str(item).strip()[:60]
        if tag:
            seen.setdefault(tag, None)
    return list(seen)
