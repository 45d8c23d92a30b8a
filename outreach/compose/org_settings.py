"""The organisation's drafting settings: its value proposition, banned phrases and default locale."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from outreach.models import OutreachSettings, default_banned_phrases

from .locales import LOCALES


def outreach_settings_get(*, org_id: int) -> OutreachSettings:
    """The org's row, or an unsaved one holding the defaults (nothing is written by reading)."""
    row = OutreachSettings.objects.filter(org_id=org_id).first()
    return row or OutreachSettings(org_id=org_id, banned_phrases=default_banned_phrases())


def outreach_settings_update(
    *,
    org_id: int,
    value_proposition: str | None = None,
    banned_phrases: Iterable[str] | None = None,
    default_locale: str | None = None,
) -> OutreachSettings:
    """Change the given values (None keeps one); banned phrases are trimmed and kept once each."""
    if default_locale is not None and default_locale not in LOCALES:
        raise ValueError(f"default_locale must be one of {', '.join(LOCALES)}")
    row, _created = OutreachSettings.objects.get_or_create(
        org_id=org_id, defaults={"banned_phrases": default_banned_phrases()}
    )
    if value_proposition is not None:
        row.value_proposition = value_proposition.strip()
    if banned_phrases is not None:
        row.banned_phrases = list(dict.fromkeys(" ".join(p.split()) for p in banned_phrases if p.strip()))
    if default_locale is not None:
        row.default_locale = default_locale
    row.updated_at = timezone.now()
    row.save()
    return row
