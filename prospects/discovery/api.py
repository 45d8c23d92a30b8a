"""`/api/v1/discovery-runs`: start a discovery run from an ICP and read its live counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from leadgen.api_errors import error
from leadgen.errors import error_items
from leadgen.tenancy import get_for_org
from prospects.discovery import services as discovery
from prospects.models import ICP, DiscoveryRun

router = Router(tags=["discovery"])


class DiscoveryRunIn(Schema):
    icp_id: int
    sources: list[str] = Field(default_factory=lambda: ["apollo"])
    max_prospects: int = Field(100, ge=1, le=discovery.MAX_PROSPECTS_LIMIT)
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


@router.post(
    "/discovery-runs",
    response={201: DiscoveryRunOut},
    summary="Start a discovery run: search the sources for the ICP, then enrich, embed and qualify what they find",
)
def discovery_run_create(request: HttpRequest, payload: DiscoveryRunIn) -> Any:
    icp = get_for_org(ICP, pk=payload.icp_id)
    try:
        run = discovery.discovery_run_create(
            org=request.auth.org,  # type: ignore[attr-defined]
            icp=icp,
            sources=payload.sources,
            max_prospects=payload.max_prospects,
            min_score=payload.min_score,
            actor=None,
        )
    except ValidationError as exc:
        errors = error_items(exc)
        return error(request, 422, errors[0]["message"], "validation_error", errors=errors)
    return Status(201, run)


@router.get("/discovery-runs", response=DiscoveryRunListOut, summary="The 50 most recent discovery runs")
def discovery_run_list(request: HttpRequest) -> Any:
    return {"items": list(discovery.discovery_runs_recent())}


@router.get("/discovery-runs/{discovery_run_id}", response=DiscoveryRunOut)
def discovery_run_get(request: HttpRequest, discovery_run_id: int) -> Any:
    return get_for_org(DiscoveryRun, pk=discovery_run_id)
