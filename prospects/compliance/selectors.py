"""Reads of the suppression list, shared by the settings page and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from prospects.models import Suppression
from prospects.selectors import newest_first_page


def suppression_entries(*, kind: str = "", q: str = "") -> QuerySet[Suppression]:
    """The organisation's suppression list, narrowed to one kind and to values containing `q`."""
    entries = Suppression.objects.all()
    if kind:
        entries = entries.filter(kind=kind)
    query = q.strip().lower()
    if query:
        entries = entries.filter(value__contains=query)
    return entries


def suppression_page(
    *, kind: str = "", q: str = "", cursor: str | None, limit: int
) -> tuple[list[Suppression], str | None]:
    """One page of the list, newest first. Raises InvalidCursor for a bad cursor."""
    return newest_first_page(suppression_entries(kind=kind, q=q), cursor=cursor, limit=limit)
