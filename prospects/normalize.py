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
    """Distinct trimmed tags from a list or 'a, b; c'. Never shortened: prospects.fields.tags_check refuses a tag
    over the limit with a clear error instead."""
    if values is None:
        return []
    items = values.replace(";", ",").split(",") if isinstance(values, str) else values
    seen: dict[str, None] = {}
    for item in items:
        tag = " ".join(str(item).split())
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


# --- company values and flags (the API, forms, CSV import and webhooks read them the same way) -----------------

_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*([kmb]|thousand|million|billion)?\+?", re.I)
_SCALE = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000, "b": 10**9, "billion": 10**9}
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "x", "on", "unsubscribed", "opted out"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "f", "off", "", "subscribed"})


def _amounts(value: str) -> list[float]:
    text = value.replace(",", "").replace("_", "").replace(" to ", "-")
    found = []
    for match in _NUMBER.finditer(text):
        number = float(match.group(1))
        scale = (match.group(2) or "").lower()
        found.append(number * _SCALE.get(scale, 1))
    return found


def employee_count(value: str | int | None) -> int | None:
    """'250', '1,200', '51-200' (the middle of a range: 126), '10,001+', '5K' → a head count; None when blank.
    Raises ValidationError for text that holds no number."""
    if value is None or isinstance(value, int):
        return value
    if not str(value).strip():
        return None
    numbers = _amounts(str(value))
    if not numbers or len(numbers) > 2:
        raise ValidationError(f"{str(value)[:80]!r} is not a number of employees")
    return round(sum(numbers) / len(numbers))


def money(value: str | int | None) -> int | None:
    """'25000000', '$25,000,000', '25M', '1.2B', '€3.5 million' → a whole amount; None when blank."""
    if value is None or isinstance(value, int):
        return value
    if not str(value).strip():
        return None
    numbers = _amounts(str(value))
    if len(numbers) != 1:
        raise ValidationError(f"{str(value)[:80]!r} is not an amount")
    return round(numbers[0])


def items(value: str | list[str] | None) -> list[str]:
    """'Salesforce, AWS; Slack' or a list → distinct trimmed items, in order (case-insensitively distinct)."""
    if value is None:
        return []
    parts = value.replace(";", ",").split(",") if isinstance(value, str) else [str(v) for v in value]
    seen: dict[str, str] = {}
    for part in parts:
        item = " ".join(part.split())
        if item:
            seen.setdefault(item.lower(), item)
    return list(seen.values())


_TIMEZONES: dict[str, str] = {}


def timezone_name(value: str | None) -> str:
    """An IANA time zone name ('Europe/Berlin'), matched case-insensitively; HubSpot's 'america_slash_new_york'
    form is understood. '' when blank; anything else raises ValidationError."""
    raw = (value or "").strip()
    if not raw:
        return ""
    if not _TIMEZONES:
        from zoneinfo import available_timezones

        _TIMEZONES.update({name.lower(): name for name in available_timezones()})
    key = raw.lower().replace("_slash_", "/").replace(" ", "_")
    found = _TIMEZONES.get(key)
    if found is None:
        raise ValidationError(
            f"{raw[:80]!r} is not a time zone name such as Europe/Berlin or America/New_York"
        )
    return found


def flag(value: str | bool | None) -> bool | None:
    """'yes', 'true', '1', 'x' → True; 'no', 'false', '0', '' → False; None stays None. Other text raises."""
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(f"{str(value)[:80]!r} is not yes or no")
