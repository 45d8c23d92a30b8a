"""The organisation's email settings: its value proposition, banned phrases, default locale and tracking domain."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils import timezone

from outreach.models import OutreachSettings, default_banned_phrases

from .locales import LOCALES

VALUE_PROPOSITION_MAX = 2000
BANNED_PHRASES_MAX = 100
BANNED_PHRASE_MAX = 200
# A host name of at least two labels: letters, digits and hyphens, no scheme, port or path.
_HOST = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


def outreach_settings_get(*, org_id: int) -> OutreachSettings:
    """The org's row, or an unsaved one holding the defaults (nothing is written by reading)."""
    row = OutreachSettings.objects.filter(org_id=org_id).first()
    return row or OutreachSettings(org_id=org_id, banned_phrases=default_banned_phrases())


def tracking_domain_clean(value: str) -> str:
    """ "Click.Acme.com" → "click.acme.com"; a pasted URL ("https://click.acme.com/") is reduced to its host.
    Raises ValidationError for anything that is not a host name."""
    host = value.strip().lower()
    host = re.sub(r"^https?://", "", host).rstrip("/")
    if host and not _HOST.match(host):
        raise ValidationError(
            {"tracking_domain": "Enter a host name such as track.yourcompany.com (no http://, path or port)."}
        )
    return host


def _phrases_clean(phrases: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(" ".join(p.split()) for p in phrases if p.strip()))
    if len(cleaned) > BANNED_PHRASES_MAX or any(len(p) > BANNED_PHRASE_MAX for p in cleaned):
        raise ValidationError(
            {
                "banned_phrases": f"At most {BANNED_PHRASES_MAX} phrases of at most {BANNED_PHRASE_MAX} "
                "characters each."
            }
        )
    return cleaned


def outreach_settings_update(
    *,
    org_id: int,
    value_proposition: str | None = None,
    banned_phrases: Iterable[str] | None = None,
    default_locale: str | None = None,
    tracking_domain: str | None = None,
) -> OutreachSettings:
    """Change the given values (None keeps one); banned phrases are trimmed and kept once each.
    Raises ValidationError naming the field for a value that cannot be kept."""
    if default_locale is not None and default_locale not in LOCALES:
        raise ValidationError({"default_locale": f"Choose one of {', '.join(LOCALES)}."})
    if value_proposition is not None and len(value_proposition.strip()) > VALUE_PROPOSITION_MAX:
        raise ValidationError({"value_proposition": f"At most {VALUE_PROPOSITION_MAX} characters."})
    phrases = _phrases_clean(banned_phrases) if banned_phrases is not None else None
    domain = tracking_domain_clean(tracking_domain) if tracking_domain is not None else None
    row, _created = OutreachSettings.objects.get_or_create(
        org_id=org_id, defaults={"banned_phrases": default_banned_phrases()}
    )
    if value_proposition is not None:
        row.value_proposition = value_proposition.strip()
    if phrases is not None:
        row.banned_phrases = phrases
    if default_locale is not None:
        row.default_locale = default_locale
    if domain is not None:
        row.tracking_domain = domain
    row.updated_at = timezone.now()
    row.save()
    return row
