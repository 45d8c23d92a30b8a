"""API schemas of CRM sync."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class CrmPushIn(Schema):
    prospect_ids: list[int] = Field(..., min_length=1, max_length=1000)


class CrmPushOut(Schema):
    queued: int = Field(description="Pushes queued (one per prospect per connected CRM)")
    crms: list[str]
    unknown_ids: list[int] = Field(description="Ids that are not prospects of this organisation")


class CrmSyncLogOut(Schema):
    id: int
    crm: str
    direction: str
    status: str
    detail: str
    error: str
    crm_id: str
    attempts: int
    at: datetime


class CrmSyncLogListOut(Schema):
    items: list[CrmSyncLogOut]
