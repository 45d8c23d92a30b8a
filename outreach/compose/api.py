"""`/api/v1/outreach/settings`: the organisation's email writing settings (value proposition, banned phrases,
default draft language, tracking domain). Mounted on the one NinjaAPI by leadgen/api.py."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from leadgen.tenancy import require_org_id

from .org_settings import outreach_settings_get, outreach_settings_update

router = Router(tags=["outreach settings"])

LocaleName = Literal["en", "fr", "de", "es"]


class OutreachSettingsOut(Schema):
    value_proposition: str
    banned_phrases: list[str]
    default_locale: str
    tracking_domain: str
    updated_at: dt.datetime | None = None


class OutreachSettingsPatch(Schema):
    value_proposition: str | None = None
    banned_phrases: list[str] | None = Field(default=None, max_length=100)
    default_locale: LocaleName | None = None
    tracking_domain: str | None = Field(default=None, max_length=255)


def _out(row: Any) -> dict[str, Any]:
    return {
        "value_proposition": row.value_proposition,
        "banned_phrases": list(row.banned_phrases or []),
        "default_locale": row.default_locale,
        "tracking_domain": row.tracking_domain,
        "updated_at": row.updated_at if row.pk else None,
    }


@router.get(
    "/outreach/settings", response=OutreachSettingsOut, summary="The organisation's email writing settings"
)
def outreach_settings_read(request: HttpRequest) -> Any:
    return _out(outreach_settings_get(org_id=require_org_id()))


@router.patch(
    "/outreach/settings",
    response=OutreachSettingsOut,
    summary="Change email writing settings; fields left out keep their value ('' clears the tracking domain)",
)
def outreach_settings_patch(request: HttpRequest, payload: OutreachSettingsPatch) -> Any:
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    return _out(outreach_settings_update(org_id=require_org_id(), **changes))
