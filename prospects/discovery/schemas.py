"""Schemas of `/api/v1/discovery-runs`."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema

from prospects.discovery.services import MAX_PROSPECTS_LIMIT


class DiscoveryRunIn(Schema):
    icp_id: int
    sources: list[str] = Field(default_factory=lambda: ["apollo"])
    max_prospects: int = Field(100, ge=1, le=MAX_PROSPECTS_LIMIT)
    min_score: int = Field(0, ge=0, le=100)


class DiscoveryRunOut(Schema):
    id: int
    icp_id: int
    sources: list[str]
    max_prospects: int
    min_score: int
    status: str
    error: str
    discovered: int
    enriched: int
    qualified: int
    disqualified: int
    failed: int
    created_at: dt.datetime
    finished_at: dt.datetime | None


class DiscoveryRunListOut(Schema):
    items: list[DiscoveryRunOut]
    next_cursor: str | None
