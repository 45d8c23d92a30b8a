"""What apps above prospects hold on a person, for GDPR export and erasure, without prospects importing them.

prospects sits low in the layering (accounts ← prospects ← outreach ← campaigns), so it cannot import outreach to
find a person's emails, tracking events and replies. Instead each higher app registers, in its AppConfig.ready, a
function that returns its sections for one prospect as querysets of rows: `prospect_export` lists every row,
`prospect_erase` deletes them, in the order given, inside the same transaction and before the prospect row goes
(SET_NULL foreign keys would otherwise keep the rows and their bodies with the link cut).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

if TYPE_CHECKING:
    from prospects.models import Prospect

# One registered holder: given a prospect (in its org's scope), {section name: rows}, in deletion order.
Sections = Callable[["Prospect"], dict[str, QuerySet[Any]]]

_HOLDERS: dict[str, Sections] = {}


def person_data_register(name: str, sections: Sections) -> None:
    """Register (or replace: AppConfig.ready may run twice in tests) what app `name` holds on a person."""
    _HOLDERS[name] = sections


def person_sections(prospect: Prospect) -> dict[str, QuerySet[Any]]:
    """Every registered app's sections for this person, merged (the names are the export's keys)."""
    merged: dict[str, QuerySet[Any]] = {}
    for sections in _HOLDERS.values():
        merged.update(sections(prospect))
    return merged
