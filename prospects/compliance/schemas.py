"""API schemas of the suppression list and GDPR endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from prospects.models import SuppressionKind
from prospects.schemas import ListParams

SUPPRESSION_BULK_MAX = 1000


class SuppressionListParams(ListParams):
    kind: SuppressionKind | None = Field(
        None, description="`email`, `domain` or `email_hash` (erased people)"
    )
    q: str = Field("", description="Part of the value: `acme` finds `jan@acme.com` and `acme.com`")


class SuppressionOut(Schema):
    id: int
    kind: str
    value: str
    reason: str
    created_by_id: int | None
    created_at: dt.datetime


class SuppressionListOut(Schema):
    items: list[SuppressionOut]
    next_cursor: str | None


class SuppressionBulkIn(Schema):
    values: list[str] = Field(
        min_length=1,
        max_length=SUPPRESSION_BULK_MAX,
        description="Emails (`jan@acme.com`) and whole domains (`acme.com` or `@acme.com`), up to 1,000.",
    )
    reason: str = Field("", max_length=255)


class SuppressionResultOut(Schema):
    value: str = Field(description="As sent")
    status: Literal["added", "already", "invalid"]
    kind: str = Field("", description="`email` or `domain`; empty when invalid")
    normalized: str = Field("", description="What is stored: lower-cased, the domain without `www.`")
    id: int | None = Field(None, description="The entry's id, for DELETE /suppressions/{id}")


class SuppressionBulkOut(Schema):
    added: int
    already: int
    invalid: int
    results: list[SuppressionResultOut]


class EraseIn(Schema):
    # Optional only so that an id check (404) comes before the confirmation check (400 from the handler).
    confirm: str | None = Field(None, description='Must be "erase": erasure cannot be undone.')


class ErasureOut(Schema):
    prospect_id: int
    email_sha256: str | None = Field(
        description="What stays on the suppression list, or null without an email"
    )
    deleted: dict[str, int] = Field(description="Rows deleted, by kind")


# GET /prospects/{id}/export: the UI's GDPR document, whose sections follow the models (see docs/api.md).
ExportOut = dict[str, Any]
