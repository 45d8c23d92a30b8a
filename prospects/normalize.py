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


# Browsers drop these anywhere in a URL ("java\tscript:" runs as javascript:) and strip C0 controls and spaces
# around it, so the scheme is judged on what a browser would see.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):(?!\d)", re.I)
WEB_URL_ERROR = "must be a web address starting with http:// or https://"


def web_url(value: str | None) -> str:
    """A LinkedIn or website URL as stored: trimmed, '' when empty. Raises ValidationError for any scheme other
    than http/https (`javascript:`, `data:`, `file:` ...). A bare 'linkedin.com/in/ada' or 'acme.com' is kept as
    given: pages link it as https."""
    cleaned = (value or "").strip(
        " \x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
    )
    if not cleaned:
        return ""
    scheme = _URL_SCHEME.match(_URL_IGNORED.sub("", cleaned))
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise ValidationError(WEB_URL_ERROR, code="url_scheme")
    if scheme is None and cleaned.startswith(("//", "\\")):
        raise ValidationError(WEB_URL_ERROR, code="url_scheme")
    return cleaned


def web_href(value: str | None) -> str:
    """The link for a stored URL: https:// added to a bare address; '' for anything web_url refuses (so an old row
    holding `javascript:` is shown as text, never as a link)."""
    try:
        cleaned = web_url(value)
    except ValidationError:
        return ""
    if not cleaned or _URL_SCHEME.match(cleaned):
        return cleaned
    return f"https://{cleaned}"
