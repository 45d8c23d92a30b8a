"""Filters that show stored codes in plain words: `{{ prospect.seniority|seniority_label }}`,
`{{ q.provider|scored_by }}`, `{{ entry.error|error_words:entry.provider }}`, and `{{ url|web_href }}` (the link
for a stored LinkedIn or website address, '' for anything but http/https)."""

from __future__ import annotations

from django import template

from prospects import normalize, plain_words

register = template.Library()


@register.filter
def seniority_label(value: str | None) -> str:
    return plain_words.seniority_label(value)


@register.filter
def scored_by(provider: str | None) -> str:
    return plain_words.scored_by(provider)


@register.filter
def error_words(error: str | None, provider: str = "") -> str:
    return plain_words.enrichment_error_words(error, provider)


@register.filter
def web_href(value: str | None) -> str:
    return normalize.web_href(value)
